// idem: HTTP proxies (for https targets, a CONNECT tunnel made by a TLS transport) — the proxy URL, which hosts bypass it (no_proxy, as
// curl reads it), and the conventional environment, read only when asked.
#ifndef IDEM_PROXY_HPP
#define IDEM_PROXY_HPP

#include "url.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace idem {

/// Where a client's connections go when it uses a proxy.
struct proxy_url {
    std::string host;          ///< name or address, IPv6 without brackets
    std::uint16_t port = 1080; ///< curl's default when the URL gives none
    std::string authorization; ///< the Proxy-Authorization value from user:password, or empty
};

namespace detail {

inline void append_base64(std::string& out, std::string_view in) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16 |
                           unsigned(static_cast<unsigned char>(in[i + 1])) << 8 |
                           unsigned(static_cast<unsigned char>(in[i + 2]));
        const char q[4] = {digits[v >> 18], digits[(v >> 12) & 63], digits[(v >> 6) & 63], digits[v & 63]};
        out.append(q, 4);
    }
    if (i < in.size()) {
        unsigned v = unsigned(static_cast<unsigned char>(in[i])) << 16;
        if (i + 1 < in.size()) v |= unsigned(static_cast<unsigned char>(in[i + 1])) << 8;
        out.push_back(digits[v >> 18]);
        out.push_back(digits[(v >> 12) & 63]);
        out.push_back(i + 1 < in.size() ? digits[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
}

inline int hex_value(char c) noexcept {
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

// RFC 3986 §2.1; false on a broken escape or a decoded control byte (it would reach a header).
inline bool percent_decode(std::string_view in, std::string& out) {
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = char(hi * 16 + lo);
            i += 2;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return false;
        out.push_back(c);
    }
    return true;
}

} // namespace detail

/// Parses a proxy as curl takes one: "[http://][user[:password]@]host[:port]", port 1080 when
/// none is given. https:// and SOCKS proxies are errc::unsupported_scheme.
inline result<proxy_url> parse_proxy(std::string_view s) {
    using namespace detail;
    const auto bad = [](const char* why) { return error(errc::invalid_url, why); };
    s = trim_ows(s);
    const auto sep = s.find("://");
    if (sep != std::string_view::npos) {
        const auto scheme = s.substr(0, sep);
        if (iequals(scheme, "https"))
            return error(errc::unsupported_scheme, "an https:// proxy needs a TLS transport, which the core does not include");
        if (!iequals(scheme, "http"))
            return error(errc::unsupported_scheme, "only http:// proxies are supported (no SOCKS)");
        s = s.substr(sep + 3);
    }
    const auto end = s.find_first_of("/?#");
    const auto rest = end == std::string_view::npos ? std::string_view{} : s.substr(end);
    if (!rest.empty() && rest != "/") return bad("a proxy URL has no path, query or fragment");
    auto auth = s.substr(0, end);
    proxy_url p;
    const auto at = auth.rfind('@');
    if (at != std::string_view::npos) {
        const auto info = auth.substr(0, at);
        const auto colon = info.find(':');
        std::string user, password;
        if (!percent_decode(info.substr(0, colon), user) ||
            (colon != std::string_view::npos && !percent_decode(info.substr(colon + 1), password)))
            return bad("the proxy's user or password has a broken %-escape or a control character");
        std::string plain = user + ':' + password;
        p.authorization = "Basic ";
        append_base64(p.authorization, plain);
        auth = auth.substr(at + 1);
    }
    if (auth.empty()) return bad("the proxy URL has no host");
    auto u = parse_url("http://" + std::string(auth));
    if (!u) return u.error();
    p.host = std::move(u->host);
    const bool has_port = auth.front() == '[' ? auth.find("]:") != std::string_view::npos
                                              : auth.find(':') != std::string_view::npos;
    p.port = has_port ? u->port : 1080;
    return p;
}

/// Whether `host` (IPv6 without brackets) on `port` bypasses the proxy under a no_proxy list,
/// read as curl reads it: entries separated by commas or spaces; "*" matches every host; an
/// entry matches the host itself or any name under it ("example.com" and ".example.com" both
/// match example.com and www.example.com, never notexample.com), case-insensitively. An entry
/// with ":port" matches that port only; IPv6 entries may be bare or in brackets.
inline bool no_proxy_matches(std::string_view list, std::string_view host, std::uint16_t port) noexcept {
    using namespace detail;
    std::size_t i = 0;
    while (i < list.size()) {
        while (i < list.size() && (list[i] == ',' || list[i] == ' ' || list[i] == '\t')) ++i;
        std::size_t j = i;
        while (j < list.size() && list[j] != ',' && list[j] != ' ' && list[j] != '\t') ++j;
        std::string_view entry = list.substr(i, j - i);
        i = j;
        if (entry.empty()) continue;
        if (entry == "*") return true;
        std::string_view port_text;
        if (entry.front() == '[') {
            const auto close = entry.find(']');
            if (close == std::string_view::npos) continue;
            if (entry.size() > close + 1) {
                if (entry[close + 1] != ':') continue;
                port_text = entry.substr(close + 2);
            }
            entry = entry.substr(1, close - 1);
        } else if (entry.find(':') != std::string_view::npos && entry.find(':') == entry.rfind(':')) {
            port_text = entry.substr(entry.find(':') + 1);
            entry = entry.substr(0, entry.find(':'));
        }
        if (!port_text.empty()) {
            std::uint16_t p = 0;
            if (!parse_port(port_text, p) || p != port) continue;
        }
        if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
        if (entry.empty() || entry.size() > host.size()) continue;
        const auto tail = host.substr(host.size() - entry.size());
        if (iequals(tail, entry) && (tail.size() == host.size() || host[host.size() - entry.size() - 1] == '.'))
            return true;
    }
    return false;
}

/// A proxy and its exceptions as the environment gives them.
struct proxy_environment {
    std::string proxy;    ///< http_proxy (https: https_proxy, HTTPS_PROXY), else all_proxy, else ALL_PROXY; empty: none
    std::string no_proxy; ///< no_proxy, else NO_PROXY
};

/// Reads the conventional variables as curl does: for http:// URLs http_proxy, for https://
/// ones (`https`) https_proxy or HTTPS_PROXY, never the other scheme's. The uppercase
/// HTTP_PROXY is ignored: a CGI server sets it from a request's "Proxy:" field (the "httpoxy"
/// hole), which cannot make an HTTPS_PROXY. `get` is getenv unless a test or a caller's own
/// configuration gives another.
inline proxy_environment proxy_from_environment(const char* (*get)(const char*) = nullptr, bool https = false) {
    const auto read = [&](const char* name) -> std::string {
        const char* v = get ? get(name) : std::getenv(name);
        return v ? std::string(v) : std::string();
    };
    proxy_environment e;
    e.proxy = read(https ? "https_proxy" : "http_proxy");
    if (https && e.proxy.empty()) e.proxy = read("HTTPS_PROXY");
    if (e.proxy.empty()) e.proxy = read("all_proxy");
    if (e.proxy.empty()) e.proxy = read("ALL_PROXY");
    e.no_proxy = read("no_proxy");
    if (e.no_proxy.empty()) e.no_proxy = read("NO_PROXY");
    return e;
}

} // namespace idem

#endif
