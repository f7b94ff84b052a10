#pragma once
/// Wire types written once: one field list per struct drives both its JSON encoding and its
/// strict decoding, so the two directions cannot drift apart. A struct opts in with
///   template <class V> void fields(T& x, V&& v) { v("name", x.name); v("bind", x.bind, wire::required); }
/// found by ADL; an enum with `std::span<const wire::enum_name<E>> wire_names(E)` (one name table);
/// a type with a shape of its own (histogram) with wire_encode(const T&) and
/// wire_decode(const json&, const std::string& path, T&).
///
/// This header holds the shared parts and the encoder; engine/wire/decode.hpp the strict decoder.
/// Durations are integer ns; an empty optional is left out.
#include <chrono>
#include <cstdint>
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

#include "engine/core/error.hpp"

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
concept described = requires(T& x, detail::probe& p) {
    fields(x, p);
};
template <class E>
concept named_enum = std::is_enum_v<E> && requires(E e) {
    wire_names(e);
};
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

} // namespace kp::engine::wire

namespace kp {
/// "usage" "infrastructure" "timeout" (engine/core/error.cpp).
std::span<const engine::wire::enum_name<error_kind>> wire_names(error_kind);
} // namespace kp
