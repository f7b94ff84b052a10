#pragma once
/// The strict decoder of the wire types (engine/wire/encode.hpp): unknown keys, wrong types and integers
/// out of the field's range are errors naming the field path ("job.tls.mode: unknown value
/// 'tls9'", "args.bind.port: 70000 is too large"); missing keys keep their defaults unless the
/// field list marks them required. decode() returns errors as values.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "engine/wire/encode.hpp"

namespace kp::engine::wire {

template <class T> void read(const json& v, const std::string& path, T& out);

/// An object being decoded: reads the keys its field list names and rejects the rest in done().
class reader {
  public:
    reader(const json& j, const std::string& path) : j_(j), path_(path) {
        if (!j.is_object()) bad(path, fmt::format("expected an object, got {}", j.type_name()));
    }
    template <class T> void operator()(std::string_view key, T& out) { get(key, out, false); }
    template <class T> void operator()(std::string_view key, T& out, required_t) { get(key, out, true); }
    void done() const {
        for (const auto& [key, _] : j_.items())
            if (std::ranges::find(known_, std::string_view(key)) == known_.end())
                bad(path_, fmt::format("unknown key '{}'", key));
    }

  private:
    template <class T> void get(std::string_view key, T& out, bool must) {
        known_.push_back(key);
        const auto it = j_.find(key);
        std::string path = path_ + "." + std::string(key);
        if (it == j_.end()) {
            if (must) bad(path, "missing");
            return;
        }
        if constexpr (detail::is_optional<T>::value) {
            typename T::value_type v{};
            read(*it, path, v);
            out = std::move(v);
        } else {
            read(*it, path, out);
        }
    }

    const json& j_;
    const std::string& path_;
    std::vector<std::string_view> known_;
};

/// Decodes a described struct from its field list, ignoring any custom hook.
template <described T> void read_fields(const json& v, const std::string& path, T& out) {
    reader r(v, path);
    fields(out, r);
    r.done();
}

template <class T> void read_integer(const json& v, const std::string& path, T& out) {
    if (v.is_number_unsigned()) {
        const auto n = v.get<std::uint64_t>();
        if (n > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            bad(path, fmt::format("{} is too large", n));
        out = static_cast<T>(n);
    } else if (v.is_number_integer()) {
        // Positive numbers built in C++ (json(int)) are signed even though the parser makes them unsigned.
        const auto n = v.get<std::int64_t>();
        if (std::is_unsigned_v<T> && n < 0) bad(path, fmt::format("expected an unsigned integer, got {}", n));
        if (std::is_signed_v<T> && (n < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                                    n > static_cast<std::int64_t>(std::numeric_limits<T>::max())))
            bad(path, fmt::format("{} is out of range", n));
        if (std::is_unsigned_v<T> &&
            static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            bad(path, fmt::format("{} is too large", n));
        out = static_cast<T>(n);
    } else {
        bad(path, fmt::format("expected {}integer, got {}", std::is_unsigned_v<T> ? "an unsigned " : "an ",
                              v.type_name()));
    }
}

template <class T> void read(const json& v, const std::string& path, T& out) {
    if constexpr (std::is_same_v<T, json>) {
        out = v;
    } else if constexpr (custom<T>) {
        wire_decode(v, path, out);
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) bad(path, fmt::format("expected a boolean, got {}", v.type_name()));
        out = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
        read_integer(v, path, out);
    } else if constexpr (std::is_floating_point_v<T>) {
        if (!v.is_number()) bad(path, fmt::format("expected a number, got {}", v.type_name()));
        out = v.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) bad(path, fmt::format("expected a string, got {}", v.type_name()));
        out = v.get<std::string>();
    } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds> ||
                         std::is_same_v<T, std::chrono::milliseconds>) {
        std::int64_t n = 0;
        read_integer(v, path, n);
        if (n < 0) bad(path, "a duration cannot be negative");
        out = T(n);
    } else if constexpr (named_enum<T>) {
        if (!v.is_string()) bad(path, fmt::format("expected a string, got {}", v.type_name()));
        const auto& s = v.get_ref<const std::string&>();
        const auto e = value_of<T>(s);
        if (!e) {
            std::string names;
            for (const auto& n : wire_names(T{}))
                names += fmt::format("{}'{}'", names.empty() ? "" : ", ", n.name);
            bad(path, fmt::format("unknown value '{}' (expected one of {})", s, names));
        }
        out = *e;
    } else if constexpr (detail::is_vector<T>::value) {
        if (!v.is_array()) bad(path, fmt::format("expected an array, got {}", v.type_name()));
        out.clear();
        out.resize(v.size());
        for (std::size_t i = 0; i < v.size(); ++i)
            read(v[i], fmt::format("{}[{}]", path, i), out[i]);
    } else if constexpr (detail::is_pair<T>::value) {
        if (!v.is_array() || v.size() != 2) bad(path, "expected a pair [first, second]");
        read(v[0], path + "[0]", out.first);
        read(v[1], path + "[1]", out.second);
    } else if constexpr (detail::is_string_map<T>::value) {
        if (!v.is_object()) bad(path, fmt::format("expected an object, got {}", v.type_name()));
        out.clear();
        for (const auto& [k, e] : v.items())
            read(e, path + "." + k, out[k]);
    } else {
        static_assert(described<T>, "a wire type needs fields(), wire_names() or wire_decode()");
        read_fields(v, path, out);
    }
}

/// Decodes `j` as a T; errors name the field path from `root`.
template <class T> result<T> decode(const json& j, const std::string& root) {
    try {
        T out{};
        read(j, root, out);
        return out;
    } catch (const failure& f) {
        return fail(f.message);
    }
}

/// nlohmann's from_json contract is to throw its own exception types.
template <class T> void decode_or_throw(const json& j, T& out) {
    try {
        T tmp{};
        read(j, "$", tmp);
        out = std::move(tmp);
    } catch (const failure& f) {
        throw json::other_error::create(501, f.message, &j);
    }
}

} // namespace kp::engine::wire
