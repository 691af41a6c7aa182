// idem: parsing an http URL into the origin a client talks to and a request target.
#ifndef IDEM_URL_HPP
#define IDEM_URL_HPP

#include "detail/syntax.hpp"
#include "result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace idem {

/// An absolute http or https URL, split into what a request needs.
struct url {
    std::string host;        ///< name or address, IPv6 without brackets
    std::uint16_t port = 80;
    std::string target = "/"; ///< origin-form path and query (RFC 9112 §3.2.1), never empty
    std::string authority;   ///< the Host header value (RFC 9110 §7.2): host, [v6], ":port" if
                             ///< not the scheme's default (80, or 443 for https)
    bool tls = false;        ///< https: the connection is TLS (which needs a TLS transport)

    /// The scheme and authority: the base URL of a client for this URL's origin, without its
    /// path (a client's base path is a prefix of every target, so pass `target` to the call).
    std::string origin() const { return (tls ? "https://" : "http://") + authority; }
};

namespace detail {

/// Parses a decimal port 1..65535; false on anything else.
inline bool parse_port(std::string_view s, std::uint16_t& out) noexcept {
    if (s.empty() || s.size() > 5) return false;
    unsigned v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        v = v * 10 + unsigned(c - '0');
    }
    if (v == 0 || v > 65535) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

} // namespace detail

/// Parses "http://host[:port][/path][?query][#fragment]" (or https://, port 443 by default);
/// the fragment is dropped. Every other scheme gives errc::unsupported_scheme; anything
/// malformed, userinfo included, gives errc::invalid_url. Whether https can be reached is the
/// client's to say: it needs a TLS transport (idem/tls/openssl.hpp).
inline result<url> parse_url(std::string_view s) {
    using namespace detail;
    const auto bad = [](const char* why) { return error(errc::invalid_url, why); };
    const auto colon = s.find(':');
    if (colon == std::string_view::npos || colon == 0 || s.substr(colon, 3) != "://")
        return bad("the URL has no scheme: write http://HOST[:PORT][/PATH]");
    const auto scheme = s.substr(0, colon);
    for (char c : scheme)
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return bad("the scheme has a character RFC 3986 §3.1 does not allow");
    if (!is_alpha(scheme[0])) return bad("the scheme must start with a letter");
    const bool tls = iequals(scheme, "https");
    if (!tls && !iequals(scheme, "http")) return error(errc::unsupported_scheme, "only http:// and https:// URLs are supported");

    auto rest = s.substr(colon + 3);
    const auto end = rest.find_first_of("/?#");
    auto auth = rest.substr(0, end);
    auto tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);

    url u;
    u.tls = tls;
    u.port = tls ? 443 : 80;
    if (auth.empty()) return bad("the URL has no host");
    if (auth.find('@') != std::string_view::npos)
        return bad("the URL has userinfo (user@host): credentials go in an Authorization header");
    std::string_view port_text;
    if (auth.front() == '[') {
        const auto close = auth.find(']');
        if (close == std::string_view::npos || close < 3) return bad("an IPv6 host needs its closing ']'");
        const auto v6 = auth.substr(1, close - 1);
        for (char c : v6)
            if (!is_v6_char(c)) return bad("the IPv6 host has a character that is not hex, ':' or '.'");
        u.host.assign(v6);
        const auto after = auth.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("only \":PORT\" may follow an IPv6 host");
            port_text = after.substr(1);
            if (port_text.empty()) return bad("the port after ':' is empty");
        }
    } else {
        const auto pc = auth.rfind(':');
        auto h = auth.substr(0, pc);
        if (pc != std::string_view::npos) {
            port_text = auth.substr(pc + 1);
            if (port_text.empty()) return bad("the port after ':' is empty");
        }
        if (h.empty()) return bad("the URL has no host");
        for (char c : h)
            if (!is_host_char(c)) return bad("the host has a character RFC 3986 §3.2.2 does not allow");
        u.host.assign(h);
    }
    if (!port_text.empty() && !parse_port(port_text, u.port))
        return bad("the port is not a number from 1 to 65535");

    const auto hash = tail.find('#');
    if (hash != std::string_view::npos) tail = tail.substr(0, hash);
    for (char c : tail)
        if (!is_target_char(c))
            return bad(c == ' ' ? "the URL's path contains a space; percent-encode it as %20"
                                : "the URL's path contains a control or non-ASCII byte; percent-encode it");
    if (tail.empty()) u.target = "/";
    else if (tail.front() == '?') u.target = "/" + std::string(tail);
    else u.target.assign(tail);

    const bool v6 = u.host.find(':') != std::string::npos;
    u.authority = v6 ? "[" + u.host + "]" : u.host;
    if (u.port != (tls ? 443 : 80)) u.authority += ":" + std::to_string(u.port);
    return u;
}

} // namespace idem

#endif
