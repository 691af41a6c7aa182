// idem: the incremental response-head parser and the framing rules of RFC 9112 §6.3.
// Works on bytes the caller owns; knows nothing of sockets or policies.
#ifndef IDEM_PARSER_HPP
#define IDEM_PARSER_HPP

#include "response.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace idem {

/// Bounds on what a server may make idem hold in memory. The defaults accept what mainstream
/// clients accept (curl takes a 100 KiB field line, Chrome 256 KiB of response head), so a
/// large cookie or policy field is not refused, while memory stays bounded.
struct limits {
    std::size_t max_head_bytes = 256 * 1024;       ///< status line + fields, per response
    std::size_t max_headers = 500;                 ///< field lines per response
    std::size_t max_line_bytes = 128 * 1024;       ///< status line, field line, chunk-size line
    std::size_t max_body_bytes = 64 * 1024 * 1024; ///< a buffered body
    std::size_t max_interim_responses = 16;        ///< 1xx heads skipped before the final one
};

namespace detail {

/// Outcome of feeding bytes to a parser: `consumed` bytes used; `done` when the part being
/// parsed is complete; `err` when the input is invalid (then the connection is unusable).
struct parse_step {
    std::size_t consumed = 0;
    bool done = false;
    bool failed = false;
    errc err = errc::malformed_response;
    const char* why = nullptr; ///< which rule the input broke (a static string), if known
};

/// A parse_step that failed with `e`, for the reason `why`.
inline parse_step parse_failure(errc e, const char* why = nullptr) noexcept {
    parse_step st;
    st.failed = true;
    st.err = e;
    st.why = why;
    return st;
}

/// Finds and parses one response head. Resumable: call again with the same (grown) buffer
/// until done; it does not rescan bytes it has already searched.
class head_parser {
public:
    void reset() noexcept {
        scanned_ = line_start_ = 0;
        long_line_ = npos;
    }

    /// Parses the head at the start of [p, p+n) into `out`.
    parse_step parse(const char* p, std::size_t n, response& out, const limits& lim) {
        parse_step st;
        const std::size_t end = find_end(p, n, lim.max_line_bytes);
        if (end == 0) scanned_ = n;
        // The size limits are checked before the syntax, at the byte that first breaks one, so
        // the same bytes fail the same way however the network splits them: a line still
        // without its end that is already too long stops the read now, not at the head limit.
        std::size_t line_cross = long_line_;
        if (end == 0 && n - line_start_ > lim.max_line_bytes) {
            const std::size_t cap = line_start_ + lim.max_line_bytes + 1;
            if (cap < line_cross) line_cross = cap;
        }
        const std::size_t have = end != 0 ? end : n;
        if (lim.max_head_bytes < have && lim.max_head_bytes < line_cross)
            return parse_failure(errc::header_too_large, "the head exceeds max_head_bytes");
        if (line_cross <= have) return parse_failure(errc::line_too_long, "a head line exceeds max_line_bytes");
        if (end == 0) return st;
        out.clear();
        out.head_.assign(p, end);
        const parse_step e = parse_head(out, lim);
        if (e.failed) return e;
        scanned_ = 0;
        st.consumed = end;
        st.done = true;
        return st;
    }

private:

    // Length of the head including its blank line, or 0 if it has not all arrived.
    // Lines may end in CRLF or a bare LF (RFC 9112 §2.2).
    // Notes the first line longer than `max_line` (where it became too long) in long_line_.
    std::size_t find_end(const char* p, std::size_t n, std::size_t max_line) noexcept {
        std::size_t i = scanned_ > 2 ? scanned_ - 2 : 0;
        while (i < n) {
            const void* hit = std::memchr(p + i, '\n', n - i);
            if (!hit) return 0;
            const std::size_t lf = std::size_t(static_cast<const char*>(hit) - p);
            // A line's length counts its CR, as the field-line checks below do; a line seen in
            // an earlier call (the scan resumes 2 bytes back) is not counted again.
            if (lf >= line_start_ && lf - line_start_ > max_line && long_line_ == npos)
                long_line_ = line_start_ + max_line + 1; // no overflow: max_line < lf
            i = lf + 1;
            line_start_ = i;
            if (i < n && p[i] == '\n') return i + 1;
            if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') return i + 2;
        }
        return 0;
    }

    static bool is_ctl_in_value(char c) noexcept { return !is_field_value_char(c); }

    // Recognises the fields idem reads itself, so later lookups need no string compares.
    static field_kind classify(const char* name, std::size_t len) noexcept {
        switch (len) {
        case 10:
            if (iequals({name, len}, "connection")) return field_kind::connection;
            if (iequals({name, len}, "keep-alive")) return field_kind::keep_alive;
            return field_kind::other;
        case 14: return iequals({name, len}, "content-length") ? field_kind::content_length : field_kind::other;
        case 17:
            return iequals({name, len}, "transfer-encoding") ? field_kind::transfer_encoding
                                                              : field_kind::other;
        default: return field_kind::other;
        }
    }

    // One pass over the head: each byte is looked at once.
    static parse_step parse_head(response& r, const limits& lim) {
        std::string& h = r.head_;
        char* const base = &h[0];
        const char* const end = base + h.size();

        // status-line = HTTP-version SP status-code SP [ reason-phrase ]  (RFC 9112 §4)
        const char* le = static_cast<const char*>(std::memchr(base, '\n', h.size()));
        const char* ll = (le > base && le[-1] == '\r') ? le - 1 : le;
        const std::size_t len = std::size_t(ll - base);
        const char* line = base;
        if (len < 12 || std::memcmp(line, "HTTP/", 5) != 0 || !is_digit(line[5]) ||
            line[6] != '.' || !is_digit(line[7]) || line[8] != ' ')
            return parse_failure(errc::malformed_response, "the status line is not \"HTTP/x.y NNN\"");
        // Only major version 1 is HTTP/1.x; a higher minor is read as 1.1 (RFC 9110 §2.5).
        if (line[5] != '1') return parse_failure(errc::malformed_response, "HTTP major version is not 1");
        r.version_minor = line[7] - '0';
        if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]))
            return parse_failure(errc::malformed_response, "the status code is not three digits");
        // RFC 9110 §15: any three digits. Codes outside 100..599 are invalid, and a client
        // SHOULD process them as 5xx: they keep their value, have a body, and are final.
        r.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (len > 12) {
            if (line[12] != ' ') return parse_failure(errc::malformed_response, "no space after the status code");
            for (std::size_t i = 13; i < len; ++i)
                if (is_ctl_in_value(line[i])) return parse_failure(errc::malformed_response, "the reason phrase contains a control character");
            r.reason_ = {13, std::uint32_t(len - 13)};
        } else {
            r.reason_ = {12, 0};
        }

        // field-line = field-name ":" OWS field-value OWS  (RFC 9112 §5)
        const char* p = le + 1;
        while (p < end) {
            const char* const start = p;
            // The blank line ends the head: CRLF or LF, and nothing after it. A bare CR is
            // invalid wherever it appears (RFC 9112 §2.2); taking it for the end of the head
            // would drop every field behind it, the framing ones included.
            // (A bare CR at the start of a line then fails as a field name.)
            if (*p == '\n' || (*p == '\r' && p[1] == '\n')) break;
            if (*p == ' ' || *p == '\t') {
                // obs-fold (RFC 9112 §5.2): replace the line break with spaces and extend the
                // previous value. A fold before any field has nothing to continue.
                if (r.fields_.empty()) return parse_failure(errc::malformed_response, "a folded line (obs-fold) before any field");
                while (p < end && is_field_value_char(*p)) ++p;
                if (*p == '\r') ++p;
                if (*p != '\n') return parse_failure(errc::malformed_response, "a folded line contains a bare CR, NUL or another control"); // NUL, bare CR, controls
                const char* e = (p[-1] == '\r') ? p - 1 : p;
                while (e > start && (e[-1] == ' ' || e[-1] == '\t')) --e;
                auto& v = r.fields_.back().value;
                const std::size_t from = v.off + v.len;
                for (std::size_t i = from; i < std::size_t(start - base); ++i) base[i] = ' ';
                if (v.len == 0) {
                    const char* s = start;
                    while (s < e && (*s == ' ' || *s == '\t')) ++s;
                    v.off = std::uint32_t(s - base);
                }
                if (std::size_t(e - base) > v.off) v.len = std::uint32_t(std::size_t(e - base) - v.off);
                ++p;
                continue;
            }
            // No whitespace between name and colon (RFC 9112 §5.1): it is a smuggling vector.
            while (is_tchar(*p)) ++p;
            if (*p != ':' || p == start) return parse_failure(errc::malformed_response, "a field line has no colon, an empty name, or space before the colon (RFC 9112 §5.1)");
            const char* const colon = p++;
            while (*p == ' ' || *p == '\t') ++p;
            const char* const vs = p;
            while (is_field_value_char(*p)) ++p;
            const char* ve = p;
            if (*p == '\r') ++p;
            if (*p != '\n') return parse_failure(errc::malformed_response, "a field value contains a bare CR, NUL or another control"); // NUL, bare CR, controls
            while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t')) --ve;
            if (r.fields_.size() == lim.max_headers) return parse_failure(errc::too_many_headers, "more fields than max_headers");
            r.fields_.push_back({{std::uint32_t(start - base), std::uint32_t(colon - start)},
                                 {std::uint32_t(vs - base), std::uint32_t(ve - vs)},
                                 classify(start, std::size_t(colon - start))});
            ++p;
        }
        return {};
    }

    static constexpr std::size_t npos = ~std::size_t{0};
    std::size_t scanned_ = 0;
    std::size_t line_start_ = 0; // where the last unterminated line begins
    std::size_t long_line_ = npos; // bytes that prove a line too long, if one is
};

/// 1xx: an interim response that precedes the final one (RFC 9110 §15.2).
constexpr bool is_interim(int status) noexcept { return status >= 100 && status < 200; }

/// How the body of a response is delimited (RFC 9112 §6.3).
enum class body_kind : unsigned char { none, length, chunked, until_close };

struct framing {
    body_kind kind = body_kind::none;
    std::uint64_t length = 0; ///< for body_kind::length (64 bits on every target)
    bool must_close = false; ///< the connection cannot carry another exchange afterwards
};

/// Parses a Content-Length value: 1*DIGIT, or a list of identical values (RFC 9110 §8.6).
inline bool parse_content_length(std::string_view v, std::uint64_t& out) noexcept {
    bool seen = false;
    std::uint64_t first = 0;
    const bool ok = each_list_item(v, [&](std::string_view item) {
        std::uint64_t n = 0;
        if (!parse_decimal(item, n)) return false; // signs, hex, junk, > 18 digits
        if (seen && n != first) return false;
        seen = true;
        first = n;
        return true;
    });
    out = first;
    return ok;
}

/// Decides the body framing of a parsed final response to a request with `method`.
/// Fails when the response cannot be read safely, saying why.
inline parse_step decide_framing(const response& r, std::string_view method, framing& f) noexcept {
    f = framing{};
    // RFC 9112 §6.3 rule 1: no content after HEAD, 1xx, 204 and 304, whatever the fields say.
    if (method == "HEAD" || is_interim(r.status) || r.status == 204 || r.status == 304) return {};

    bool has_te = false, chunked_last = false, has_cl = false;
    std::uint64_t cl = 0;
    for (std::size_t i = 0, n = fields_of::count(r); i < n; ++i) {
        const field_kind k = fields_of::kind(r, i);
        if (k == field_kind::transfer_encoding) {
            has_te = true;
            // Only the last coding matters; "chunked" must be a whole token (§7, §6.3 rule 4).
            // Empty list elements are ignored (RFC 9110 §5.6.1).
            each_list_item(fields_of::value(r, i), [&chunked_last](std::string_view coding) {
                if (!coding.empty()) chunked_last = iequals(coding, "chunked");
                return true;
            });
        } else if (k == field_kind::content_length) {
            std::uint64_t n = 0;
            // §6.3 rule 5: an invalid or conflicting Content-Length is unrecoverable.
            if (!parse_content_length(fields_of::value(r, i), n)) return parse_failure(errc::malformed_response, "Content-Length is not a decimal number, or lists differing values");
            if (has_cl && n != cl) return parse_failure(errc::malformed_response, "two Content-Length fields differ");
            has_cl = true;
            cl = n;
        }
    }
    if (has_te) {
        // A 1.0 recipient cannot know chunked; §6.1 calls TE in a 1.0 message faulty framing.
        if (r.version_minor == 0) return parse_failure(errc::malformed_response, "Transfer-Encoding in an HTTP/1.0 response");
        // §6.3 rule 3: TE overrides CL; such a message may be smuggling, so never reuse.
        f.must_close = has_cl;
        if (chunked_last) {
            f.kind = body_kind::chunked;
        } else {
            // §6.3 rule 4: a response whose final coding is not chunked is read until close.
            f.kind = body_kind::until_close;
            f.must_close = true;
        }
        return {};
    }
    if (has_cl) {
        f.kind = cl == 0 ? body_kind::none : body_kind::length;
        f.length = cl;
        return {};
    }
    // §6.3 rule 8: no framing at all means the body runs until the server closes.
    f.kind = body_kind::until_close;
    f.must_close = true;
    return {};
}

/// Whether the connection may carry another request after this response (RFC 9112 §9.3).
inline bool response_allows_reuse(const response& r, const framing& f) noexcept {
    if (f.must_close) return false;
    bool keep_alive = false;
    for (std::size_t i = 0, n = fields_of::count(r); i < n; ++i) {
        if (fields_of::kind(r, i) != field_kind::connection) continue;
        const auto v = fields_of::value(r, i);
        if (list_has_token(v, "close")) return false;
        keep_alive = keep_alive || (r.version_minor == 0 && list_has_token(v, "keep-alive"));
    }
    // HTTP/1.0 persists only when the server says keep-alive (RFC 9112 §9.3, Appendix C.2.2).
    return r.version_minor != 0 || keep_alive;
}

/// The value of the first field of kind `k`, or an empty view.
inline std::string_view field_value(const response& r, field_kind k) noexcept {
    for (std::size_t i = 0, n = fields_of::count(r); i < n; ++i)
        if (fields_of::kind(r, i) == k) return fields_of::value(r, i);
    return {};
}

/// The server's Keep-Alive hint ("timeout=N, max=M"); -1 for a parameter it did not give.
struct keep_alive_hint {
    long timeout_s = -1;
    long max = -1;
};

inline keep_alive_hint parse_keep_alive(std::string_view v) noexcept {
    keep_alive_hint k;
    each_list_item(v, [&k](std::string_view item) {
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) return true;
        const auto name = trim_ows(item.substr(0, eq));
        const auto val = trim_ows(item.substr(eq + 1));
        std::uint64_t n = 0;
        if (parse_decimal(val, n, 9)) {
            if (iequals(name, "timeout")) k.timeout_s = long(n);
            else if (iequals(name, "max")) k.max = long(n);
        }
        return true;
    });
    return k;
}

} // namespace detail
} // namespace idem

#endif
