#include "remote/protocol.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "engine/wire/encode.hpp"

namespace kp::remote::protocol {

namespace {

constexpr std::array<std::string_view, 17> request_names = {
    "hello", "environment", "listen",      "connect",       "establish", "start",
    "wait",  "stop",        "collect",     "release",       "shutdown",  "forward",
    "clock", "samples",     "setup_apply", "setup_restore", "ping"};

constexpr std::array<std::string_view, 14> error_names = {
    "bad_frame", "bad_json",         "bad_request",     "unknown_type", "version_mismatch",
    "no_hello",  "no_such_instance", "instance_exists", "busy",         "bad_state",
    "timeout",   "engine",           "internal",        "setup_failed"};

std::string_view json_type(const nlohmann::json& j) {
    return j.type_name();
}

// A non-negative integer field; nlohmann keeps non-negative JSON integers as unsigned.
std::optional<std::uint64_t> unsigned_field(const nlohmann::json& j, std::string_view key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
}

// Parses JSON without exceptions leaking out; the message names the position of the fault.
/// No message of the protocol nests deeper than this; a hostile or broken peer's 1e6-deep
/// array is refused while it is read, before it is built (or destroyed, recursively).
constexpr int max_depth = 64;
struct too_deep {};

std::expected<nlohmann::json, std::string> parse_json(std::string_view payload) {
    // nlohmann reports the position only through its exception, so catch it right here. Every
    // json::exception: a number out of range (1e400) is out_of_range, not parse_error.
    auto bounded = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
        if (depth > max_depth && (event == nlohmann::json::parse_event_t::object_start ||
                                  event == nlohmann::json::parse_event_t::array_start))
            throw too_deep{};
        return true;
    };
    try {
        return nlohmann::json::parse(payload.begin(), payload.end(), bounded);
    } catch (const too_deep&) {
        return std::unexpected(fmt::format("nested deeper than {} levels", max_depth));
    } catch (const nlohmann::json::exception& e) {
        std::string what = e.what();
        // Drop the "[json.exception.parse_error.101] " tag: it means nothing to a user.
        if (auto pos = what.find("] "); pos != std::string::npos) what.erase(0, pos + 2);
        return std::unexpected(what);
    }
}

} // namespace

std::string_view to_string(request_type t) {
    return request_names.at(static_cast<std::size_t>(t));
}

std::optional<request_type> parse_request_type(std::string_view s) {
    auto it = std::find(request_names.begin(), request_names.end(), s);
    if (it == request_names.end()) return std::nullopt;
    return static_cast<request_type>(it - request_names.begin());
}

std::string_view to_string(error_code c) {
    return error_names.at(static_cast<std::size_t>(c));
}

std::optional<error_code> parse_error_code(std::string_view s) {
    auto it = std::find(error_names.begin(), error_names.end(), s);
    if (it == error_names.end()) return std::nullopt;
    return static_cast<error_code>(it - error_names.begin());
}

std::string encode_frame(const nlohmann::json& message) {
    // Replace invalid UTF-8 (e.g. an errno string in an odd locale) rather than throw.
    std::string body = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(header_size + body.size());
    auto n = static_cast<std::uint32_t>(body.size());
    out.push_back(static_cast<char>((n >> 24) & 0xff));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
    out += body;
    return out;
}

nlohmann::json to_json(const request& r) {
    return {{"id", r.id}, {"type", to_string(r.type)}, {"timeout_ms", r.timeout.count()}, {"args", r.args}};
}

error_kind kind_of(error_code c) {
    return c == error_code::timeout ? error_kind::timeout : error_kind::infrastructure;
}

nlohmann::json to_json(const reply& r) {
    nlohmann::json j;
    j["id"] = r.id ? nlohmann::json(*r.id) : nlohmann::json(nullptr);
    j["ok"] = r.ok;
    if (r.ok) {
        j["result"] = r.result;
    } else {
        j["error"] = {{"code", to_string(r.error.code)},
                      {"kind", engine::wire::name_of(r.error.kind)},
                      {"message", r.error.message},
                      {"context", r.error.context}};
        if (r.error.consequence) j["error"]["consequence"] = true;
    }
    return j;
}

std::expected<request, request_error> parse_request(std::string_view payload) {
    auto bad = [](std::optional<std::uint64_t> id, error_code code, std::string message) {
        return std::unexpected(request_error{id, wire_error{code, std::move(message), "request"}});
    };
    auto parsed = parse_json(payload);
    if (!parsed)
        return bad(std::nullopt, error_code::bad_json, fmt::format("malformed JSON: {}", parsed.error()));
    const nlohmann::json& j = *parsed;
    if (!j.is_object())
        return bad(std::nullopt, error_code::bad_request,
                   fmt::format("a request is a JSON object, not {}", json_type(j)));

    request r;
    auto id = unsigned_field(j, "id");
    if (!id) return bad(std::nullopt, error_code::bad_request, "field 'id': expected a non-negative integer");
    r.id = *id;

    auto type = j.find("type");
    if (type == j.end() || !type->is_string())
        return bad(r.id, error_code::bad_request, "field 'type': expected a string");
    auto t = parse_request_type(type->get_ref<const std::string&>());
    if (!t)
        return bad(r.id, error_code::unknown_type,
                   fmt::format("unknown request type '{}'", type->get_ref<const std::string&>()));
    r.type = *t;

    auto timeout = unsigned_field(j, "timeout_ms");
    if (!timeout)
        return bad(r.id, error_code::bad_request, "field 'timeout_ms': expected a non-negative integer");
    // Cap at a day so deadline arithmetic cannot overflow.
    r.timeout = std::chrono::milliseconds(std::min<std::uint64_t>(*timeout, 86'400'000));

    if (auto args = j.find("args"); args != j.end()) {
        if (!args->is_object()) return bad(r.id, error_code::bad_request, "field 'args': expected an object");
        r.args = *args;
    }
    return r;
}

result<reply> parse_reply(std::string_view payload) {
    auto parsed = parse_json(payload);
    if (!parsed) return fail(fmt::format("malformed reply: {}", parsed.error()));
    const nlohmann::json& j = *parsed;
    if (!j.is_object()) return fail(fmt::format("malformed reply: a JSON {}, not an object", json_type(j)));
    reply r;
    auto id = j.find("id");
    if (id == j.end()) return fail("malformed reply: no field 'id'");
    if (!id->is_null()) {
        if (!id->is_number_unsigned())
            return fail("malformed reply: field 'id' is not a non-negative integer");
        r.id = id->get<std::uint64_t>();
    }
    auto ok = j.find("ok");
    if (ok == j.end() || !ok->is_boolean()) return fail("malformed reply: field 'ok' is not a boolean");
    r.ok = ok->get<bool>();
    if (r.ok) {
        if (auto res = j.find("result"); res != j.end()) r.result = *res;
        return r;
    }
    auto err = j.find("error");
    if (err == j.end() || !err->is_object()) return fail("malformed reply: field 'error' is not an object");
    auto text = [&](const char* key) -> std::string {
        auto f = err->find(key);
        return f != err->end() && f->is_string() ? f->get<std::string>() : std::string();
    };
    auto code = parse_error_code(text("code"));
    r.error.code = code.value_or(error_code::internal); // a newer agent's code: still an error
    // A newer agent's kind, or none: the kind its code implies.
    r.error.kind = engine::wire::value_of<error_kind>(text("kind")).value_or(kind_of(r.error.code));
    r.error.message = text("message");
    r.error.context = text("context");
    auto consequence = err->find("consequence");
    r.error.consequence = consequence != err->end() && consequence->is_boolean() && consequence->get<bool>();
    return r;
}

void frame_decoder::feed(std::span<const std::byte> bytes) {
    feed(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void frame_decoder::feed(std::string_view bytes) {
    if (failed_) return;
    // Compact the consumed prefix once it dominates, so the buffer does not grow without bound.
    if (start_ > 0 && start_ >= buffer_.size() / 2) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    buffer_.append(bytes);
}

result<std::optional<std::string>> frame_decoder::next() {
    if (failed_) return fail("control stream out of sync");
    if (pending() < header_size) return std::optional<std::string>();
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(buffer_[start_ + i]));
    };
    std::uint32_t n = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
    if (n > max_frame) {
        failed_ = true;
        buffer_.clear();
        start_ = 0;
        return fail(fmt::format("frame of {} bytes exceeds the limit of {} bytes", n, max_frame));
    }
    if (pending() < header_size + n) return std::optional<std::string>();
    std::string payload = buffer_.substr(start_ + header_size, n);
    start_ += header_size + n;
    if (start_ == buffer_.size()) {
        buffer_.clear();
        start_ = 0;
    }
    return std::optional<std::string>(std::move(payload));
}

std::string frame_decoder::truncation() const {
    std::size_t have = pending();
    if (have == 0) return {};
    if (have < header_size) return fmt::format("stream ended after {} of {} header bytes", have, header_size);
    auto byte = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(buffer_[start_ + i]));
    };
    std::uint32_t n = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
    return fmt::format("stream ended after {} of {} frame bytes", have - header_size, n);
}

} // namespace kp::remote::protocol
