// idem: a request as the caller describes it, its validation, and its wire form.
#ifndef IDEM_REQUEST_HPP
#define IDEM_REQUEST_HPP

#include "body.hpp"
#include "url.hpp"

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace idem {

/// One header field as views, for lists handed to a call.
struct header {
    std::string_view name;
    std::string_view value;
};

/// A non-owning list of header fields — a braced list, a std::vector<header>, an array — for
/// the duration of one call. Do not keep one: a braced list dies at the end of its expression.
class header_list {
public:
    constexpr header_list() noexcept = default;
    constexpr header_list(const header* p IDEM_LIFETIMEBOUND, std::size_t n) noexcept : p_(p), n_(n) {}
    header_list(std::initializer_list<header> l IDEM_LIFETIMEBOUND) noexcept {
        p_ = l.begin(); // the array lives to the end of the caller's full expression
        n_ = l.size();
    }
    header_list(const std::vector<header>& v IDEM_LIFETIMEBOUND) noexcept : p_(v.data()), n_(v.size()) {}
    constexpr const header* begin() const noexcept { return p_; }
    constexpr const header* end() const noexcept { return p_ + n_; }
    constexpr std::size_t size() const noexcept { return n_; }

private:
    const header* p_ = nullptr;
    std::size_t n_ = 0;
};

/// Header fields that own their text. A reused container keeps its capacity: clear() and add()
/// again allocate nothing once each field has been as long before.
class header_fields {
public:
    header_fields() = default;
    header_fields(std::initializer_list<header> l) { assign(header_list(l)); }
    header_fields(header_list l) { assign(l); }
    header_fields(const std::vector<header>& v) { assign(header_list(v)); }
    header_fields(const header_fields& o) : store_(o.store_), n_(o.n_) { relink(); }
    header_fields(header_fields&& o) noexcept : store_(std::move(o.store_)), n_(o.n_) {
        o.n_ = 0;
        relink();
    }
    header_fields& operator=(const header_fields& o) {
        if (this != &o) assign(o.list());
        return *this;
    }
    header_fields& operator=(header_fields&& o) noexcept {
        store_.swap(o.store_);
        std::swap(n_, o.n_);
        relink();
        o.relink();
        return *this;
    }

    /// Appends a field (copied).
    void add(std::string_view name, std::string_view value) {
        if (store_.size() < 2 * n_ + 2) {
            const std::string* before = store_.data();
            store_.emplace_back();
            store_.emplace_back();
            // A vector that grew has moved its strings, and a short string's text moved with
            // it: the views of the fields before this one are made anew.
            if (store_.data() != before) relink();
        }
        std::string& nm = store_[2 * n_];
        std::string& v = store_[2 * n_ + 1];
        nm.assign(name.data(), name.size());
        v.assign(value.data(), value.size());
        if (views_.size() == n_) views_.emplace_back();
        views_[n_++] = {nm, v};
    }
    /// Replaces the list with `l` (copied).
    void assign(header_list l) {
        clear();
        for (const auto& h : l) add(h.name, h.value);
    }
    /// Empties the list, keeping every buffer for the next fields.
    void clear() noexcept { n_ = 0; }

    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    const header* begin() const noexcept IDEM_LIFETIMEBOUND { return views_.data(); }
    const header* end() const noexcept IDEM_LIFETIMEBOUND { return views_.data() + n_; }
    /// The fields as views, valid while this container lives and is not changed.
    header_list list() const noexcept IDEM_LIFETIMEBOUND { return {views_.data(), n_}; }

private:
    void relink() {
        views_.resize(n_);
        for (std::size_t i = 0; i < n_; ++i) views_[i] = {store_[2 * i], store_[2 * i + 1]};
    }

    std::vector<std::string> store_; // name, value, name, value, ...
    std::vector<header> views_;
    std::size_t n_ = 0;
};

/// Whether a call follows redirects: as its client's options say, or always, or never.
enum class follow : unsigned char { as_client, yes, no };

/// What to send. It owns its fields, so it may be kept and sent again, and a reused request
/// that is refilled keeps its buffers (no allocation once warmed up).
struct request {
    std::string method = "GET";
    std::string target = "/"; ///< origin-form ("/path?q") or "*"
    header_fields headers;
    std::string body;
    /// A body read while the request goes out (a file, a pipe, a callback) instead of `body`,
    /// which must then be empty. Not owned: its descriptor or context must outlive the call.
    body_source source;
    /// Follow 301, 302, 303, 307 and 308 for this call (client_options::follow_redirects).
    follow redirects = follow::as_client;

    request() = default;
    request(std::string_view m, std::string_view t, header_fields h = {}, std::string_view b = {})
        : method(m), target(t), headers(std::move(h)), body(b) {}
};

namespace detail {

/// A request as views, for the length of one call: what the client works on, whether the
/// caller gave it an idem::request or the arguments of get(), post(), ...
struct request_view {
    std::string_view method;
    std::string_view target;
    header_list headers;
    std::string_view body;
    const body_source* source = nullptr; ///< the body, when it is not in memory
    follow redirects = follow::as_client;

    request_view(std::string_view m, std::string_view t, header_list h, std::string_view b,
                 const body_source* src = nullptr, follow f = follow::as_client) noexcept
        : method(m), target(t), headers(h), body(b), source(src && src->present() ? src : nullptr),
          redirects(f) {}
    request_view(const request& r IDEM_LIFETIMEBOUND) noexcept
        : request_view(r.method, r.target, r.headers.list(), r.body, &r.source, r.redirects) {}

    /// The body's length; body_source::unknown_length for a source that does not know it.
    std::uint64_t body_size() const noexcept { return source ? source->length() : body.size(); }
    /// The body goes out chunked: a source of unknown length.
    bool chunked() const noexcept { return source && !source->known_length(); }
    bool has_body() const noexcept { return source ? body_size() != 0 : !body.empty(); }
};

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
inline bool is_idempotent(detail::request_view r) noexcept {
    return is_idempotent_method(r.method) || detail::has_header(r.headers, "Idempotency-Key");
}

namespace detail {

/// Why a header value may not go on the wire, or nullptr when it may. CR, LF and NUL are how
/// header injection and request smuggling start.
constexpr const char* field_value_problem(std::string_view v) noexcept {
    for (char c : v) {
        if (is_field_value_char(c)) continue;
        return c == '\r'   ? "a header value contains CR"
               : c == '\n' ? "a header value contains LF"
               : c == '\0' ? "a header value contains NUL"
                           : "a header value contains a control character";
    }
    return nullptr;
}

} // namespace detail

/// Checks everything that would otherwise corrupt the wire: the method token, the target, every
/// field name and value, and the framing headers the caller may not set (Transfer-Encoding) or
/// must set consistently (Content-Length equal to the body size). The error's reason names the
/// rule and the part.
inline result<void> validate(detail::request_view r) noexcept {
    using namespace detail;
    const auto bad = [](const char* why) { return error(errc::invalid_request, why); };
    if (r.method.empty()) return bad("the method is empty");
    if (!is_token(r.method)) return bad("the method is not a token (RFC 9110 §9.1): no spaces or controls");
    if (r.target.empty()) return bad("the target is empty; use \"/\"");
    if (r.target != "*" && r.target.front() != '/')
        return bad("the target must start with '/' (origin-form, RFC 9112 §3.2.1) or be \"*\"");
    for (char c : r.target) {
        if (c == ' ') return bad("the target contains a space; percent-encode it as %20");
        if (c == '#') return bad("the target contains '#': a fragment is never sent");
        if (!is_target_char(c)) return bad("the target contains a control or non-ASCII byte; percent-encode it");
    }
    if (r.source && !r.source->valid())
        return bad("the body source is not usable: a descriptor fstat refuses, or no read function");
    if (r.source && !r.body.empty()) return bad("the request has both a body and a body source; give one");
    for (const auto& h : r.headers) {
        if (h.name.empty()) return bad("a header name is empty");
        if (!is_token(h.name))
            return bad(h.name.find_first_of("\r\n") != std::string_view::npos
                           ? "a header name contains CR or LF"
                           : "a header name is not a token (RFC 9110 §5.1): no spaces, colons or controls");
        if (const char* why = field_value_problem(h.value)) return bad(why);
        // idem writes a framed body itself; a caller's Transfer-Encoding would desync the
        // server (RFC 9112 §6.1, §11.2).
        if (iequals(h.name, "Transfer-Encoding"))
            return bad("Transfer-Encoding is idem's to set: give the body, idem frames it");
        if (iequals(h.name, "Content-Length")) {
            std::uint64_t n = 0;
            if (!parse_decimal(h.value, n)) return bad("Content-Length is not a decimal number");
            if (r.chunked()) return bad("Content-Length given for a body source of unknown length; give the length to the source");
            if (n != r.body_size()) return bad("Content-Length differs from the body's size");
        }
        // RFC 9110 §10.1.1: 100-continue is the only expectation there is.
        if (iequals(h.name, "Expect") && !iequals(trim_ows(h.value), "100-continue"))
            return bad("Expect can only be 100-continue (RFC 9110 §10.1.1)");
    }
    return {};
}

namespace detail {

// RFC 9110 §8.6: send Content-Length when there is content, or when the method gives the
// content a meaning (so an empty POST says "0" rather than leaving the server to guess).
inline bool wants_content_length(const request_view& r) noexcept {
    if (r.has_body()) return true;
    return !(r.method == "GET" || r.method == "HEAD" || r.method == "DELETE" ||
             r.method == "OPTIONS" || r.method == "TRACE" || r.method == "CONNECT");
}

inline void append_size(std::string& out, std::uint64_t n) {
    char buf[24];
    std::size_t i = sizeof buf;
    do {
        buf[--i] = char('0' + n % 10);
        n /= 10;
    } while (n != 0);
    out.append(buf + i, sizeof buf - i);
}

/// Appends the request head (request line and fields, then CRLF) of a validated request.
/// `connection` is the Connection value idem adds unless the caller set one; `prefix` goes
/// before an origin-form target (a base URL's path); `absolute` ("http://host:port") before
/// that makes it absolute-form, for a proxy, with `proxy_authorization` as the proxy's
/// credentials. `expect` adds "Expect: 100-continue";
/// a caller's own Expect field is the client's to honour, so it is never copied.
inline void write_head(std::string& out, const request_view& r, std::string_view authority,
                       std::string_view connection, std::string_view user_agent,
                       std::string_view prefix = {}, bool expect = false, std::string_view absolute = {},
                       std::string_view proxy_authorization = {}) {
    out.append(r.method).append(" ", 1);
    // Through a proxy the target is in absolute-form (RFC 9112 §3.2.2), "*" as the bare
    // authority (§3.2.4).
    out.append(absolute);
    if (r.target != "*") out.append(prefix).append(r.target);
    else if (absolute.empty()) out.append("*", 1);
    out.append(" HTTP/1.1\r\n", 11);
    // pa: the caller gave the proxy's credentials, looked for only when there is a proxy's to give
    const bool proxied = !proxy_authorization.empty();
    bool host = false, ua = false, conn = false, len = false, pa = false;
    for (const auto& h : r.headers) {
        host = host || iequals(h.name, "Host");
        pa = pa || (proxied && iequals(h.name, "Proxy-Authorization"));
        ua = ua || iequals(h.name, "User-Agent");
        conn = conn || iequals(h.name, "Connection");
        len = len || iequals(h.name, "Content-Length");
    }
    if (!host) out.append("Host: ", 6).append(authority).append("\r\n", 2);
    if (!ua && !user_agent.empty()) out.append("User-Agent: ", 12).append(user_agent).append("\r\n", 2);
    if (!conn) out.append("Connection: ", 12).append(connection).append("\r\n", 2);
    if (proxied && !pa)
        out.append("Proxy-Authorization: ", 21).append(proxy_authorization).append("\r\n", 2);
    for (const auto& h : r.headers)
        if (!iequals(h.name, "Expect")) out.append(h.name).append(": ", 2).append(h.value).append("\r\n", 2);
    if (r.chunked()) {
        out.append("Transfer-Encoding: chunked\r\n", 28);
    } else if (!len && wants_content_length(r)) {
        out.append("Content-Length: ", 16);
        append_size(out, r.body_size());
        out.append("\r\n", 2);
    }
    if (expect) out.append("Expect: 100-continue\r\n", 22);
    out.append("\r\n", 2);
}

} // namespace detail
} // namespace idem

#endif
