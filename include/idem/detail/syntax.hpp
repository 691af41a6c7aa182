// idem: the HTTP and URI grammar in one place — character classes (RFC 9110 §5.6.2, §5.5;
// RFC 3986), optional whitespace, comma-separated lists (RFC 9110 §5.6.1), decimals.
// No dependencies: every layer above may use it.
#ifndef IDEM_DETAIL_SYNTAX_HPP
#define IDEM_DETAIL_SYNTAX_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

// Marks a parameter (or, after a member function's qualifiers, `*this`) whose lifetime the
// result borrows, so clang warns about a view that outlives what it points into.
#if defined(__has_cpp_attribute)
#if __has_cpp_attribute(clang::lifetimebound)
#define IDEM_LIFETIMEBOUND [[clang::lifetimebound]]
#endif
#endif
#ifndef IDEM_LIFETIMEBOUND
#define IDEM_LIFETIMEBOUND
#endif

namespace idem {
namespace detail {

constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

/// ASCII case-insensitive equality (field names, tokens).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// A 256-entry answer per byte, so hot loops test a character with one load.
struct char_class {
    bool yes[256] = {};
    constexpr bool operator()(char c) const noexcept { return yes[static_cast<unsigned char>(c)]; }
};

// tchar (RFC 9110 §5.6.2): the characters of a method or field name.
constexpr bool tchar_slow(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '!' || c == '#' || c == '$' || c == '%' ||
           c == '&' || c == '\'' || c == '*' || c == '+' || c == '-' || c == '.' || c == '^' ||
           c == '_' || c == '`' || c == '|' || c == '~';
}

constexpr char_class make_tchar_class() noexcept {
    char_class t{};
    for (int i = 0; i < 256; ++i) t.yes[i] = tchar_slow(static_cast<char>(i));
    return t;
}

// field-vchar, SP and HTAB (RFC 9110 §5.5): everything but the controls NUL..US (HTAB aside)
// and DEL; obs-text (0x80..0xff) is allowed.
constexpr char_class make_field_value_class() noexcept {
    char_class t{};
    for (int i = 0; i < 256; ++i) t.yes[i] = (i >= 0x20 && i != 0x7f) || i == '\t';
    return t;
}

inline constexpr char_class is_tchar = make_tchar_class();
inline constexpr char_class is_field_value_char = make_field_value_class();

constexpr bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// A request-target byte: visible US-ASCII (RFC 9112 §3.2); anything else could split the
// request line (CR, LF, SP) or is not allowed unencoded.
constexpr bool is_target_char(char c) noexcept { return c > 0x20 && c < 0x7f && c != '#'; }

// reg-name and IPv4 characters (RFC 3986 §3.2.2): unreserved, sub-delims, pct-encoded.
constexpr bool is_host_char(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
           c == '%' || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
           c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

constexpr bool is_v6_char(char c) noexcept {
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.';
}

/// Strips optional whitespace (OWS, RFC 9110 §5.6.3) from both ends.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Calls `f(item)` for each element of a comma-separated list (RFC 9110 §5.6.1), trimmed of
/// OWS, in order; stops early when `f` returns false, and then returns false.
template <class F> constexpr bool each_list_item(std::string_view list, F&& f) {
    for (;;) {
        const auto comma = list.find(',');
        if (!f(trim_ows(list.substr(0, comma)))) return false;
        if (comma == std::string_view::npos) return true;
        list.remove_prefix(comma + 1);
    }
}

/// Does a comma-separated token list (e.g. Connection, RFC 9110 §7.6.1) contain `token`?
constexpr bool list_has_token(std::string_view list, std::string_view token) noexcept {
    return !each_list_item(list, [token](std::string_view item) { return !iequals(item, token); });
}

/// 1*DIGIT of at most `max_digits` digits (so the value cannot overflow 64 bits, whatever the
/// word size: a length a server sends may pass 2^32 on a 32-bit target); false on anything else.
constexpr bool parse_decimal(std::string_view s, std::uint64_t& out, std::size_t max_digits = 18) noexcept {
    if (s.empty() || s.size() > max_digits) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        v = v * 10 + std::uint64_t(c - '0');
    }
    out = v;
    return true;
}

} // namespace detail
} // namespace idem

#endif
