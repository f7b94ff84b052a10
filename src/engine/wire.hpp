#pragma once
/// Wire types written once: one field list per struct drives both its JSON encoding and its
/// strict decoding, so the two directions cannot drift apart. A struct opts in with
///   template <class V> void fields(T& x, V&& v) { v("name", x.name); v("bind", x.bind, wire::required); }
/// found by ADL; an enum with `std::span<const wire::enum_name<E>> wire_names(E)` (one name table);
/// a type with a shape of its own (histogram) with wire_encode(const T&) and
/// wire_decode(const json&, const std::string& path, T&).
///
/// Decoding is strict: unknown keys, wrong types and integers out of the field's range are errors
/// naming the field path ("job.tls.mode: unknown value 'tls9'"); missing keys keep their defaults
/// unless marked required. Durations are integer ns; an empty optional is left out.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "engine/error.hpp"

namespace kp::engine::wire {

using json = nlohmann::json;

/// One row of an enum's name table.
template <class E> struct enum_name {
    E value;
    std::string_view name;
};

/// Marks a field that must be present when decoding.
struct required_t {};
inline constexpr required_t required{};

/// A decoding failure deep inside a value; decode() turns it into an error value.
struct failure {
    std::string message;
};
[[noreturn]] inline void bad(const std::string& path, std::string_view what) {
    throw failure{fmt::format("{}: {}", path, what)};
}

namespace detail {
template <class T> struct is_vector : std::false_type {};
template <class T> struct is_vector<std::vector<T>> : std::true_type {};
template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> struct is_pair : std::false_type {};
template <class A, class B> struct is_pair<std::pair<A, B>> : std::true_type {};
template <class T> struct is_string_map : std::false_type {};
template <class T> struct is_string_map<std::map<std::string, T>> : std::true_type {};
struct probe {
    template <class T> void operator()(std::string_view, T&) {}
    template <class T> void operator()(std::string_view, T&, required_t) {}
};
} // namespace detail

template <class T>
concept described = requires(T& x, detail::probe& p) { fields(x, p); };
template <class E>
concept named_enum = std::is_enum_v<E> && requires(E e) { wire_names(e); };
template <class T>
concept custom = requires(const T& x, const json& j, const std::string& p, T& o) {
    { wire_encode(x) } -> std::same_as<json>;
    wire_decode(j, p, o);
};

/// The wire name of an enum value ("?" for a value outside the table: a bug).
template <named_enum E> std::string_view name_of(E v) {
    for (const auto& n : wire_names(v))
        if (n.value == v) return n.name;
    return "?";
}
/// The enum value a wire name stands for.
template <named_enum E> std::optional<E> value_of(std::string_view s) {
    for (const auto& n : wire_names(E{}))
        if (n.name == s) return n.value;
    return std::nullopt;
}

template <class T> json encode(const T& x);

/// Encodes a described struct from its field list, ignoring any custom hook (for the hooks themselves).
template <described T> json encode_fields(const T& x) {
    json out = json::object();
    auto put = [&out]<class F>(std::string_view key, const F& v, auto&&...) {
        if constexpr (detail::is_optional<F>::value) {
            if (v) out[std::string(key)] = encode(*v);
        } else {
            out[std::string(key)] = encode(v);
        }
    };
    // The visitor only reads; fields() takes a mutable reference so that one list serves both ways.
    fields(const_cast<T&>(x), put);
    return out;
}

template <class T> json encode(const T& x) {
    if constexpr (std::is_same_v<T, json>) { // first: json converts to anything
        return x;
    } else if constexpr (custom<T>) {
        return wire_encode(x);
    } else if constexpr (named_enum<T>) {
        return json(std::string(name_of(x)));
    } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds> ||
                         std::is_same_v<T, std::chrono::milliseconds>) {
        return json(static_cast<std::int64_t>(x.count()));
    } else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
        return json(x);
    } else if constexpr (detail::is_vector<T>::value) {
        json a = json::array();
        for (const auto& e : x)
            a.push_back(encode(e));
        return a;
    } else if constexpr (detail::is_pair<T>::value) {
        return json::array({encode(x.first), encode(x.second)});
    } else if constexpr (detail::is_string_map<T>::value) {
        json o = json::object();
        for (const auto& [k, e] : x)
            o[k] = encode(e);
        return o;
    } else {
        static_assert(described<T>, "a wire type needs fields(), wire_names() or wire_encode()");
        return encode_fields(x);
    }
}

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

namespace kp {
/// "usage" "infrastructure" "timeout" (engine/error.cpp).
std::span<const engine::wire::enum_name<error_kind>> wire_names(error_kind);
} // namespace kp
