// idem: a request as the caller describes it, its validation, and its wire form.
#ifndef IDEM_REQUEST_HPP
#define IDEM_REQUEST_HPP

#include "url.hpp"

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace idem {

/// One header field; views, so the caller's strings must outlive the call.
struct header {
    std::string_view name;
    std::string_view value;
};

/// A non-owning list of header fields: from a braced list, a std::vector<header>, or an array.
class header_list {
public:
    constexpr header_list() noexcept = default;
    constexpr header_list(const header* p, std::size_t n) noexcept : p_(p), n_(n) {}
    /// The list lives until the end of the full expression, so pass it straight to a call.
    header_list(std::initializer_list<header> l) noexcept {
        p_ = l.begin();
        n_ = l.size();
    }
    header_list(const std::vector<header>& v) noexcept : p_(v.data()), n_(v.size()) {}
    constexpr const header* begin() const noexcept { return p_; }
    constexpr const header* end() const noexcept { return p_ + n_; }
    constexpr std::size_t size() const noexcept { return n_; }

private:
    const header* p_ = nullptr;
    std::size_t n_ = 0;
};

/// What to send. All members are views: nothing is copied until the request is written.
struct request {
    std::string_view method = "GET";
    std::string_view target = "/"; ///< origin-form ("/path?q") or "*"
    header_list headers;
    std::string_view body;
};

namespace detail {

// field-value (RFC 9110 §5.5): no CTL but HTAB. CR, LF and NUL are how header injection
// and request smuggling start, so they never reach the wire.
constexpr bool is_field_value(std::string_view s) noexcept {
    for (char c : s)
        if (!is_field_value_char(c)) return false;
    return true;
}

inline bool has_header(const header_list& h, std::string_view name) noexcept {
    for (const auto& f : h)
        if (iequals(f.name, name)) return true;
    return false;
}

} // namespace detail

/// RFC 9110 §9.2.2: the idempotent methods. Methods are case-sensitive (§9.1).
constexpr bool is_idempotent_method(std::string_view m) noexcept {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" ||
           m == "DELETE";
}

/// True when re-sending cannot change the outcome: an idempotent method, or an
/// Idempotency-Key header (the server deduplicates; draft-ietf-httpapi-idempotency-key-header).
inline bool is_idempotent(const request& r) noexcept {
    return is_idempotent_method(r.method) || detail::has_header(r.headers, "Idempotency-Key");
}

/// Checks everything that would otherwise corrupt the wire: the method token, the target, every
/// field name and value, and the framing headers the caller may not set (Transfer-Encoding) or
/// must set consistently (Content-Length equal to the body size).
inline result<void> validate(const request& r) noexcept {
    using namespace detail;
    if (!is_token(r.method)) return errc::invalid_request;
    if (r.target.empty()) return errc::invalid_request;
    if (r.target != "*" && r.target.front() != '/') return errc::invalid_request;
    for (char c : r.target)
        if (!is_target_char(c)) return errc::invalid_request;
    for (const auto& h : r.headers) {
        if (!is_token(h.name) || !is_field_value(h.value)) return errc::invalid_request;
        // idem writes a framed body itself; a caller's Transfer-Encoding would desync the
        // server (RFC 9112 §6.1, §11.2).
        if (iequals(h.name, "Transfer-Encoding")) return errc::invalid_request;
        if (iequals(h.name, "Content-Length")) {
            std::size_t n = 0;
            if (!parse_decimal(h.value, n) || n != r.body.size()) return errc::invalid_request;
        }
    }
    return {};
}

namespace detail {

// RFC 9110 §8.6: send Content-Length when there is content, or when the method gives the
// content a meaning (so an empty POST says "0" rather than leaving the server to guess).
inline bool wants_content_length(const request& r) noexcept {
    if (!r.body.empty()) return true;
    return !(r.method == "GET" || r.method == "HEAD" || r.method == "DELETE" ||
             r.method == "OPTIONS" || r.method == "TRACE" || r.method == "CONNECT");
}

inline void append_size(std::string& out, std::size_t n) {
    char buf[24];
    std::size_t i = sizeof buf;
    do {
        buf[--i] = char('0' + n % 10);
        n /= 10;
    } while (n != 0);
    out.append(buf + i, sizeof buf - i);
}

/// Appends the request head (request line and fields, then CRLF) of a validated request.
/// `connection` is the Connection value idem adds unless the caller set one.
inline void write_head(std::string& out, const request& r, std::string_view authority,
                       std::string_view connection, std::string_view user_agent) {
    out.append(r.method).append(" ", 1).append(r.target).append(" HTTP/1.1\r\n", 11);
    bool host = false, ua = false, conn = false, len = false;
    for (const auto& h : r.headers) {
        host = host || iequals(h.name, "Host");
        ua = ua || iequals(h.name, "User-Agent");
        conn = conn || iequals(h.name, "Connection");
        len = len || iequals(h.name, "Content-Length");
    }
    if (!host) out.append("Host: ", 6).append(authority).append("\r\n", 2);
    if (!ua && !user_agent.empty()) out.append("User-Agent: ", 12).append(user_agent).append("\r\n", 2);
    if (!conn) out.append("Connection: ", 12).append(connection).append("\r\n", 2);
    for (const auto& h : r.headers)
        out.append(h.name).append(": ", 2).append(h.value).append("\r\n", 2);
    if (!len && wants_content_length(r)) {
        out.append("Content-Length: ", 16);
        append_size(out, r.body.size());
        out.append("\r\n", 2);
    }
    out.append("\r\n", 2);
}

} // namespace detail
} // namespace idem

#endif
