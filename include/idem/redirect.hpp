// idem: following redirects (RFC 9110 §15.4) — which answers are followed, what the next
// request is, where a Location points (RFC 3986 §5), and what never travels to another origin.
#ifndef IDEM_REDIRECT_HPP
#define IDEM_REDIRECT_HPP

#include "body.hpp"
#include "request.hpp"
#include "response.hpp"
#include "url.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace idem {
namespace detail {

/// The redirections a client follows: 301, 302, 303, 307 and 308 with a Location. 300 (a
/// choice for the user), 304 (a cache answer) and 305/306 (obsolete) are answers.
constexpr bool is_redirect_status(int s) noexcept {
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

/// The next request's method, and whether the body goes with it.
struct redirect_method {
    std::string_view method;
    bool keeps_body;
};

/// 303 asks for a GET of another resource (HEAD stays HEAD, §15.4.4). A POST redirected by 301
/// or 302 becomes a GET, as browsers and curl do (§15.4.2, §15.4.3 allow it). Everything else,
/// 307 and 308 always, keeps its method and body.
constexpr redirect_method next_method(int status, std::string_view method) noexcept {
    if (status == 303) return {method == "HEAD" ? std::string_view("HEAD") : std::string_view("GET"), false};
    if ((status == 301 || status == 302) && method == "POST") return {"GET", false};
    return {method, true};
}

/// Whether `out`, the answer to `method`, is followed. A redirect that would have to send the
/// body again is followed only when the body can be produced again (`spent` false): otherwise
/// the 3xx is the answer.
inline bool follows(const response& out, std::string_view method, bool has_body, bool spent) noexcept {
    if (!is_redirect_status(out.status) || !out.has_header("Location")) return false;
    return !(next_method(out.status, method).keeps_body && has_body && spent);
}

inline bool same_origin(const url& a, const url& b) noexcept {
    return a.tls == b.tls && a.port == b.port && iequals(a.host, b.host);
}

/// Fields that carry the caller's credentials: never sent to an origin other than the one they
/// were given for, and never restored later in the chain.
inline bool is_credential_field(std::string_view name) noexcept {
    return iequals(name, "Authorization") || iequals(name, "Cookie") || iequals(name, "Proxy-Authorization");
}

/// Fields that describe the body, dropped with it (§15.4: "remove content-specific fields").
inline bool is_content_field(std::string_view name) noexcept {
    return (name.size() > 8 && iequals(name.substr(0, 8), "Content-")) || iequals(name, "Expect");
}

/// Removes the fields `drop` names, in place.
template <class Pred> void drop_fields(header_fields& h, Pred drop) {
    header_fields kept;
    for (const auto& f : h)
        if (!drop(f.name)) kept.add(f.name, f.value);
    h = std::move(kept);
}

/// RFC 3986 §5.2.4: removes "." and ".." segments from an absolute path.
inline std::string remove_dot_segments(std::string_view in) {
    std::string out;
    while (!in.empty()) {
        if (in.substr(0, 3) == "../") in.remove_prefix(3);
        else if (in.substr(0, 2) == "./") in.remove_prefix(2);
        else if (in.substr(0, 3) == "/./") in.remove_prefix(2);
        else if (in == "/.") in = "/";
        else if (in.substr(0, 4) == "/../" || in == "/..") {
            in = in.size() == 3 ? std::string_view("/") : in.substr(3);
            const auto slash = out.rfind('/');
            out.erase(slash == std::string::npos ? 0 : slash);
        } else if (in == "." || in == "..") in = {};
        else {
            const auto next = in.find('/', 1);
            const auto seg = in.substr(0, next);
            out.append(seg.data(), seg.size());
            in.remove_prefix(seg.size());
        }
    }
    return out.empty() ? std::string("/") : out;
}

/// Where a Location field points, resolved against the URL that answered (RFC 9110 §10.2.2,
/// RFC 3986 §5.2): an absolute http or https URL, "//host/path" (the base's scheme), "/path",
/// "?query" or a relative path. Spaces and non-ASCII bytes, which servers do send, are
/// percent-encoded; controls are an error. A fragment is dropped. Every other scheme is
/// errc::unsupported_scheme; whether https can be reached is the client's to say.
inline error resolve_location(const url& base, std::string_view location, url& next) {
    location = trim_ows(location);
    const auto hash = location.find('#');
    if (hash != std::string_view::npos) location = location.substr(0, hash);
    std::string loc;
    loc.reserve(location.size());
    for (char ch : location) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return error(errc::invalid_redirect, "the Location contains a control character");
        if (is_target_char(ch)) {
            loc.push_back(ch);
        } else {
            loc.push_back('%');
            loc.push_back("0123456789ABCDEF"[c >> 4]);
            loc.push_back("0123456789ABCDEF"[c & 15]);
        }
    }
    const auto end = loc.find_first_of(":/?");
    const bool has_scheme = end != std::string::npos && loc[end] == ':' && end > 0 && is_alpha(loc[0]);
    if (has_scheme && !iequals(std::string_view(loc).substr(0, end), "http") &&
        !iequals(std::string_view(loc).substr(0, end), "https"))
        return error(errc::unsupported_scheme, "the redirect goes to a scheme other than http:// or https://");
    if (has_scheme || loc.compare(0, 2, "//") == 0) {
        auto parsed = parse_url(has_scheme ? loc : (base.tls ? "https:" : "http:") + loc);
        if (!parsed) {
            const error e = parsed.error();
            return error(errc::invalid_redirect, e.reason().empty() ? "the Location is not a valid URL" : e.reason().data());
        }
        next = std::move(*parsed);
        const auto q = next.target.find('?');
        next.target = remove_dot_segments(std::string_view(next.target).substr(0, q)) +
                      (q == std::string::npos ? std::string() : next.target.substr(q));
        return error(errc{});
    }
    next = base;
    if (loc.empty()) return error(errc{}); // the same resource again (RFC 3986 §5.2.2)
    std::string_view base_path = base.target;
    base_path = base_path.substr(0, base_path.find('?'));
    if (base_path.empty() || base_path.front() != '/') base_path = "/"; // "*"
    const auto q = loc.find('?');
    const std::string_view path = std::string_view(loc).substr(0, q);
    const std::string query = q == std::string::npos ? std::string() : loc.substr(q);
    std::string merged;
    if (path.empty()) merged.assign(base_path.data(), base_path.size());
    else if (path.front() == '/') merged.assign(path.data(), path.size());
    else merged.append(base_path.substr(0, base_path.rfind('/') + 1)).append(path);
    next.target = remove_dot_segments(merged) + query;
    return error(errc{});
}

/// A chain of redirects in one call: where the last answer came from, what the next request
/// is, and what was asked before. Not a template, so every kind of client shares it.
class redirect_chain {
public:
    redirect_chain(const request_view& r, const url& origin, const std::string& prefix)
        : method_(r.method), at_(origin), fields_(r.headers), has_body_(r.has_body()) {
        at_.target = r.target == "*" ? std::string("/") : prefix + std::string(r.target);
        seen_.push_back(method_ + ' ' + at_.origin() + at_.target);
    }

    /// Moves to where `out` (a redirect that follows() said to follow) points, as hop number
    /// `hops`: the method and fields of the next request, the credential rule, the limit and
    /// the loop check. `source_read`: an earlier hop read the body's source.
    /// `tls_capable`: the client's transport can reach https.
    error advance(const response& out, unsigned hops, unsigned max_redirects, const body_source* source,
                  bool source_read, bool tls_capable) {
        url next;
        if (error le = resolve_location(at_, out.header("Location"), next); le.code() != errc{}) return le;
        if (next.tls && !tls_capable)
            return error(errc::unsupported_scheme, "the redirect goes to https://, which needs a TLS transport (idem/tls/openssl.hpp)");
        if (hops > max_redirects)
            return error(errc::too_many_redirects, "the chain is longer than client_options::max_redirects");
        const redirect_method m = next_method(out.status, method_);
        if (!m.keeps_body) {
            method_.assign(m.method.data(), m.method.size());
            body_ = false;
            drop_fields(fields_, is_content_field);
        }
        if (!same_origin(next, at_)) {
            // Credentials were given for the origin that was asked; once dropped they stay
            // dropped, even if the chain comes back (RFC 9110 §15.4).
            drop_fields(fields_, [](std::string_view n) { return is_credential_field(n) || iequals(n, "Host"); });
        }
        std::string key = method_ + ' ' + next.origin() + next.target;
        for (const auto& k : seen_)
            if (k == key) return error(errc::redirect_loop, "a redirect asks again for a URL already asked in this call");
        // With no practical limit (max_redirects at its maximum) the deadline ends an endless
        // chain; the loop check looks back over the last 64 hops, so memory stays bounded.
        if (seen_.size() == 64) seen_.erase(seen_.begin());
        seen_.push_back(std::move(key));
        at_ = std::move(next);
        // A source an earlier hop read starts again from its first byte (follows() said it can).
        if (with_body() && source && source_read && !body_access::rewind(*source))
            return error(errc::body_source_failed, "the body's source could not be rewound for the redirect");
        return error(errc{});
    }

    /// The next request, over the original's body when it goes along.
    request_view hop(const request_view& r) const noexcept {
        return request_view(method_, at_.target, fields_.list(), with_body() ? r.body : std::string_view{},
                            with_body() ? r.source : nullptr, follow::no);
    }
    bool with_body() const noexcept { return body_ && has_body_; }
    const std::string& method() const noexcept { return method_; }
    const url& at() const noexcept { return at_; }

private:
    std::string method_;
    url at_;
    header_fields fields_;
    bool body_ = true;
    bool has_body_;
    std::vector<std::string> seen_;
};

} // namespace detail
} // namespace idem

#endif
