// idem: the incremental response-head parser and the framing rules of RFC 9112 §6.3.
// Works on bytes the caller owns; knows nothing of sockets or policies.
#ifndef IDEM_PARSER_HPP
#define IDEM_PARSER_HPP

#include "response.hpp"

#include <cstddef>
#include <cstring>
#include <string_view>

namespace idem {

/// Bounds on what a server may make idem hold in memory.
struct limits {
    std::size_t max_head_bytes = 64 * 1024;        ///< status line + fields, per response
    std::size_t max_headers = 100;                 ///< field lines per response
    std::size_t max_line_bytes = 8 * 1024;         ///< status line, field line, chunk-size line
    std::size_t max_body_bytes = 64 * 1024 * 1024; ///< a buffered body
};

namespace detail {

/// Outcome of feeding bytes to a parser: `consumed` bytes used; `done` when the part being
/// parsed is complete; `err` when the input is invalid (then the connection is unusable).
struct parse_step {
    std::size_t consumed = 0;
    bool done = false;
    bool failed = false;
    errc err = errc::malformed_response;
};

/// Finds and parses one response head. Resumable: call again with the same (grown) buffer
/// until done; it does not rescan bytes it has already searched.
class head_parser {
public:
    void reset() noexcept { scanned_ = line_start_ = 0; }

    /// Parses the head at the start of [p, p+n) into `out`.
    parse_step parse(const char* p, std::size_t n, response& out, const limits& lim) {
        parse_step st;
        const std::size_t end = find_end(p, n);
        if (end == 0) {
            scanned_ = n;
            if (n > lim.max_head_bytes) return fail(errc::header_too_large);
            // A line still without its end is already too long: stop now, not at the head limit.
            if (n - line_start_ > lim.max_line_bytes) return fail(errc::line_too_long);
            return st;
        }
        if (end > lim.max_head_bytes) return fail(errc::header_too_large);
        out.clear();
        out.head_.assign(p, end);
        const errc e = parse_head(out, lim);
        if (e != errc{}) return fail(e);
        scanned_ = 0;
        st.consumed = end;
        st.done = true;
        return st;
    }

private:
    static parse_step fail(errc e) noexcept {
        parse_step st;
        st.failed = true;
        st.err = e;
        return st;
    }

    // Length of the head including its blank line, or 0 if it has not all arrived.
    // Lines may end in CRLF or a bare LF (RFC 9112 §2.2).
    std::size_t find_end(const char* p, std::size_t n) noexcept {
        std::size_t i = scanned_ > 2 ? scanned_ - 2 : 0;
        while (i < n) {
            const void* hit = std::memchr(p + i, '\n', n - i);
            if (!hit) return 0;
            i = std::size_t(static_cast<const char*>(hit) - p) + 1;
            line_start_ = i;
            if (i < n && p[i] == '\n') return i + 1;
            if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') return i + 2;
        }
        return 0;
    }

    static bool is_ctl_in_value(char c) noexcept {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    }

    static errc parse_head(response& r, const limits& lim) {
        std::string& h = r.head_;
        const std::size_t n = h.size();
        std::size_t pos = 0;
        for (std::size_t from = 0, nl; (nl = h.find('\n', from)) != std::string::npos; from = nl + 1)
            if (nl - from > lim.max_line_bytes) return errc::line_too_long;
        auto line_end = [&](std::size_t from) { return h.find('\n', from); };

        // status-line = HTTP-version SP status-code SP [ reason-phrase ]  (RFC 9112 §4)
        std::size_t le = line_end(0);
        std::size_t ll = (le > 0 && h[le - 1] == '\r') ? le - 1 : le;
        std::string_view line(h.data(), ll);
        if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || !is_digit(line[5]) ||
            line[6] != '.' || !is_digit(line[7]) || line[8] != ' ')
            return errc::malformed_response;
        // Only major version 1 is HTTP/1.x; a higher minor is read as 1.1 (RFC 9110 §2.5).
        if (line[5] != '1') return errc::malformed_response;
        r.version_minor = line[7] - '0';
        if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]))
            return errc::malformed_response;
        // RFC 9110 §15: any three digits. Codes outside 100..599 are invalid, and a client
        // SHOULD process them as 5xx: they keep their value, have a body, and are final.
        r.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (line.size() > 12) {
            if (line[12] != ' ') return errc::malformed_response;
            for (std::size_t i = 13; i < line.size(); ++i)
                if (is_ctl_in_value(line[i])) return errc::malformed_response;
            r.reason_ = {13, std::uint32_t(line.size() - 13)};
        } else {
            r.reason_ = {12, 0};
        }
        pos = le + 1;

        // field-line = field-name ":" OWS field-value OWS  (RFC 9112 §5)
        while (pos < n) {
            le = line_end(pos);
            ll = (le > pos && h[le - 1] == '\r') ? le - 1 : le;
            if (ll == pos) break; // the blank line
            if (h[pos] == ' ' || h[pos] == '\t') {
                // obs-fold (RFC 9112 §5.2): replace the line break with spaces and extend the
                // previous value. A fold before any field has nothing to continue.
                if (r.fields_.empty()) return errc::malformed_response;
                auto& v = r.fields_.back().value;
                for (std::size_t i = v.off + v.len; i < pos; ++i) h[i] = ' ';
                std::size_t e = ll;
                while (e > pos && (h[e - 1] == ' ' || h[e - 1] == '\t')) --e;
                for (std::size_t i = pos; i < e; ++i)
                    if (is_ctl_in_value(h[i])) return errc::malformed_response;
                if (v.len == 0) {
                    std::size_t s = pos;
                    while (s < e && (h[s] == ' ' || h[s] == '\t')) ++s;
                    v.off = std::uint32_t(s);
                }
                if (e > v.off) v.len = std::uint32_t(e - v.off);
                pos = le + 1;
                continue;
            }
            const std::size_t colon = h.find(':', pos);
            if (colon == std::string::npos || colon >= ll) return errc::malformed_response;
            // No whitespace between name and colon (RFC 9112 §5.1): it is a smuggling vector.
            for (std::size_t i = pos; i < colon; ++i)
                if (!is_tchar(h[i])) return errc::malformed_response;
            if (colon == pos) return errc::malformed_response;
            std::size_t vs = colon + 1, ve = ll;
            while (vs < ve && (h[vs] == ' ' || h[vs] == '\t')) ++vs;
            while (ve > vs && (h[ve - 1] == ' ' || h[ve - 1] == '\t')) --ve;
            for (std::size_t i = vs; i < ve; ++i)
                if (is_ctl_in_value(h[i])) return errc::malformed_response;
            if (r.fields_.size() == lim.max_headers) return errc::too_many_headers;
            r.fields_.push_back({{std::uint32_t(pos), std::uint32_t(colon - pos)},
                                 {std::uint32_t(vs), std::uint32_t(ve - vs)}});
            pos = le + 1;
        }
        return errc{};
    }

    std::size_t scanned_ = 0;
    std::size_t line_start_ = 0; // where the last unterminated line begins
};

/// 1xx: an interim response that precedes the final one (RFC 9110 §15.2).
constexpr bool is_interim(int status) noexcept { return status >= 100 && status < 200; }

/// How the body of a response is delimited (RFC 9112 §6.3).
enum class body_kind : unsigned char { none, length, chunked, until_close };

struct framing {
    body_kind kind = body_kind::none;
    std::size_t length = 0;  ///< for body_kind::length
    bool must_close = false; ///< the connection cannot carry another exchange afterwards
};

/// Parses a Content-Length value: 1*DIGIT, or a list of identical values (RFC 9110 §8.6).
inline bool parse_content_length(std::string_view v, std::size_t& out) noexcept {
    bool seen = false;
    std::size_t first = 0;
    while (true) {
        const auto comma = v.find(',');
        auto item = v.substr(0, comma);
        item = trim_ows(item);
        std::size_t n = 0;
        if (!parse_decimal(item, n)) return false; // signs, hex, junk, > 18 digits
        if (seen && n != first) return false;
        seen = true;
        first = n;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    out = first;
    return true;
}

/// Decides the body framing of a parsed final response to a request with `method`.
/// Returns errc{} on success, else the reason the response cannot be read safely.
inline errc decide_framing(const response& r, std::string_view method, framing& f) noexcept {
    f = framing{};
    // RFC 9112 §6.3 rule 1: no content after HEAD, 1xx, 204 and 304, whatever the fields say.
    if (method == "HEAD" || is_interim(r.status) || r.status == 204 || r.status == 304) return errc{};

    bool has_te = false, chunked_last = false, has_cl = false;
    std::size_t cl = 0;
    for (std::size_t i = 0; i < r.header_count(); ++i) {
        const auto h = r.header_at(i);
        if (iequals(h.name, "Transfer-Encoding")) {
            has_te = true;
            // Only the last coding matters; "chunked" must be a whole token (§7, §6.3 rule 4).
            auto v = h.value;
            const auto comma = v.rfind(',');
            auto last = comma == std::string_view::npos ? v : v.substr(comma + 1);
            last = trim_ows(last);
            if (!last.empty()) chunked_last = iequals(last, "chunked");
        } else if (iequals(h.name, "Content-Length")) {
            std::size_t n = 0;
            // §6.3 rule 5: an invalid or conflicting Content-Length is unrecoverable.
            if (!parse_content_length(h.value, n)) return errc::malformed_response;
            if (has_cl && n != cl) return errc::malformed_response;
            has_cl = true;
            cl = n;
        }
    }
    if (has_te) {
        // A 1.0 recipient cannot know chunked; §6.1 calls TE in a 1.0 message faulty framing.
        if (r.version_minor == 0) return errc::malformed_response;
        // §6.3 rule 3: TE overrides CL; such a message may be smuggling, so never reuse.
        f.must_close = has_cl;
        if (chunked_last) {
            f.kind = body_kind::chunked;
        } else {
            // §6.3 rule 4: a response whose final coding is not chunked is read until close.
            f.kind = body_kind::until_close;
            f.must_close = true;
        }
        return errc{};
    }
    if (has_cl) {
        f.kind = cl == 0 ? body_kind::none : body_kind::length;
        f.length = cl;
        return errc{};
    }
    // §6.3 rule 8: no framing at all means the body runs until the server closes.
    f.kind = body_kind::until_close;
    f.must_close = true;
    return errc{};
}

/// Whether the connection may carry another request after this response (RFC 9112 §9.3).
inline bool response_allows_reuse(const response& r, const framing& f) noexcept {
    if (f.must_close) return false;
    const auto conn = r.header("Connection");
    if (list_has_token(conn, "close")) return false;
    // HTTP/1.0 persists only when the server says keep-alive (RFC 9112 §9.3, Appendix C.2.2).
    if (r.version_minor == 0) return list_has_token(conn, "keep-alive");
    return true;
}

/// The server's Keep-Alive hint ("timeout=N, max=M"); -1 for a parameter it did not give.
struct keep_alive_hint {
    long timeout_s = -1;
    long max = -1;
};

inline keep_alive_hint parse_keep_alive(std::string_view v) noexcept {
    keep_alive_hint k;
    while (!v.empty()) {
        const auto comma = v.find(',');
        auto item = trim_ows(v.substr(0, comma));
        const auto eq = item.find('=');
        if (eq != std::string_view::npos) {
            const auto name = trim_ows(item.substr(0, eq));
            const auto val = trim_ows(item.substr(eq + 1));
            std::size_t n = 0;
            if (val.size() <= 9 && parse_decimal(val, n)) {
                if (iequals(name, "timeout")) k.timeout_s = long(n);
                else if (iequals(name, "max")) k.max = long(n);
            }
        }
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
    return k;
}

} // namespace detail
} // namespace idem

#endif
