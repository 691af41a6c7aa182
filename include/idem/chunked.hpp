// idem: the body decoder — fixed length, chunked (RFC 9112 §7.1) or until close — as a small
// resumable state machine over caller-owned bytes.
#ifndef IDEM_CHUNKED_HPP
#define IDEM_CHUNKED_HPP

#include "parser.hpp"

#include <cstddef>
#include <cstdint>

namespace idem {
namespace detail {

/// Decodes one body. Feed it bytes as they arrive; it passes decoded content to a sink and
/// reports how many input bytes it used, so bytes after the body stay with the caller.
class body_decoder {
public:
    /// Starts a body of the given framing. `max_trailer` bounds the trailer section and
    /// `max_line` each chunk-size line (extensions included).
    void start(const framing& f, std::size_t max_trailer, std::size_t max_line = 8192) noexcept {
        kind_ = f.kind;
        remaining_ = f.length;
        state_ = state::size_start;
        trailer_left_ = max_trailer;
        max_line_ = max_line;
        line_ = 0;
    }

    /// True once the body is complete (always, for body_kind::none).
    bool done() const noexcept {
        switch (kind_) {
        case body_kind::none: return true;
        case body_kind::length: return remaining_ == 0;
        case body_kind::chunked: return state_ == state::done;
        case body_kind::until_close: return false;
        }
        return false;
    }

    /// The connection reached EOF: is the body complete? Only a close-delimited body ends so;
    /// any other body cut short is an error, never a success (RFC 9112 §8).
    bool complete_at_eof() const noexcept { return kind_ == body_kind::until_close || done(); }

    /// Decodes from [p, p+n). `sink(const char*, size_t)` returns false to stop with
    /// body_too_large.
    template <class Sink> parse_step feed(const char* p, std::size_t n, Sink&& sink) {
        parse_step st;
        switch (kind_) {
        case body_kind::none: break;
        case body_kind::until_close:
            if (n != 0 && !sink(p, n)) return parse_failure(errc::body_too_large, "the body exceeds max_body_bytes");
            st.consumed = n;
            break;
        case body_kind::length: {
            const std::size_t take = n < remaining_ ? n : std::size_t(remaining_);
            if (take != 0 && !sink(p, take)) return parse_failure(errc::body_too_large, "the body exceeds max_body_bytes");
            remaining_ -= take;
            st.consumed = take;
            break;
        }
        case body_kind::chunked: return feed_chunked(p, n, sink);
        }
        st.done = done();
        return st;
    }

private:
    enum class state : unsigned char {
        size_start, size, size_ws, ext, size_lf, data, data_cr, data_lf, trailer_start,
        trailer_line, trailer_lf, final_lf, done
    };


    static int hex_value(char c) noexcept {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // A chunk line ended: start the data, or the trailer after the last chunk.
    void end_size_line() noexcept { state_ = remaining_ == 0 ? state::trailer_start : state::data; }

    template <class Sink> parse_step feed_chunked(const char* p, std::size_t n, Sink& sink) {
        parse_step st;
        std::size_t i = 0;
        while (i < n && state_ != state::done) {
            const char c = p[i];
            if (state_ == state::size || state_ == state::size_ws || state_ == state::ext) {
                // An endless extension would keep a call busy until its deadline.
                if (++line_ > max_line_) return parse_failure(errc::line_too_long, "a chunk-size line exceeds max_line_bytes");
            } else {
                line_ = 0;
            }
            switch (state_) {
            case state::size_start:
                // chunk-size = 1*HEXDIG (§7.1); no sign, no "0x", no leading space.
                if (hex_value(c) < 0) return parse_failure(errc::malformed_response, "a chunk size is not hex (RFC 9112 §7.1)");
                remaining_ = std::uint64_t(hex_value(c));
                state_ = state::size;
                ++i;
                break;
            case state::size:
                if (hex_value(c) >= 0) {
                    // Overflow guard: a size that cannot fit is an attack, not a big body.
                    if (remaining_ > (UINT64_MAX >> 4)) return parse_failure(errc::malformed_response, "a chunk size overflows");
                    remaining_ = (remaining_ << 4) | std::uint64_t(hex_value(c));
                } else if (c == ';') {
                    state_ = state::ext;
                } else if (c == ' ' || c == '\t') {
                    state_ = state::size_ws; // BWS before a chunk-ext
                } else if (c == '\r') {
                    state_ = state::size_lf;
                } else if (c == '\n') {
                    end_size_line();
                } else {
                    return parse_failure(errc::malformed_response, "a chunk-size line has junk after the size");
                }
                ++i;
                break;
            case state::size_ws:
                if (c == ';') state_ = state::ext;
                else if (c == '\r') state_ = state::size_lf;
                else if (c == '\n') end_size_line();
                else if (c != ' ' && c != '\t') return parse_failure(errc::malformed_response, "a chunk-size line has junk after the size");
                ++i;
                break;
            case state::ext:
                // chunk-ext is ignored (§7.1.1), but it must not hide control bytes.
                if (c == '\r') state_ = state::size_lf;
                else if (c == '\n') end_size_line();
                else if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
                    return parse_failure(errc::malformed_response, "a chunk extension contains a control character");
                ++i;
                break;
            case state::size_lf:
                if (c != '\n') return parse_failure(errc::malformed_response, "a chunk-size line ends in a bare CR");
                end_size_line();
                ++i;
                break;
            case state::data: {
                const std::size_t avail = n - i;
                const std::size_t take = avail < remaining_ ? avail : std::size_t(remaining_);
                if (!sink(p + i, take)) return parse_failure(errc::body_too_large, "the body exceeds max_body_bytes");
                remaining_ -= take;
                i += take;
                if (remaining_ == 0) state_ = state::data_cr;
                break;
            }
            case state::data_cr:
                // The CRLF after chunk data is checked: anything else means the sizes lie.
                if (c == '\r') state_ = state::data_lf;
                else if (c == '\n') state_ = state::size_start;
                else return parse_failure(errc::malformed_response, "no CRLF after chunk data: the chunk sizes lie");
                ++i;
                break;
            case state::data_lf:
                if (c != '\n') return parse_failure(errc::malformed_response, "no CRLF after chunk data: the chunk sizes lie");
                state_ = state::size_start;
                ++i;
                break;
            case state::trailer_start:
                // trailer-section = *( field-line CRLF ) CRLF (§7.1.2); fields are discarded.
                if (c == '\r') state_ = state::final_lf;
                else if (c == '\n') state_ = state::done;
                else state_ = state::trailer_line;
                if (!count_trailer()) return parse_failure(errc::header_too_large, "the trailer section exceeds max_head_bytes");
                ++i;
                break;
            case state::trailer_line:
                // A field line ends in CRLF or LF; a bare CR or a NUL inside it is invalid
                // (RFC 9112 §2.2, RFC 9110 §5.5).
                if (c == '\n') state_ = state::trailer_start;
                else if (c == '\r') state_ = state::trailer_lf;
                else if (c == '\0') return parse_failure(errc::malformed_response, "a trailer line contains NUL");
                if (!count_trailer()) return parse_failure(errc::header_too_large, "the trailer section exceeds max_head_bytes");
                ++i;
                break;
            case state::trailer_lf:
                if (c != '\n') return parse_failure(errc::malformed_response, "a trailer line contains a bare CR");
                state_ = state::trailer_start;
                if (!count_trailer()) return parse_failure(errc::header_too_large, "the trailer section exceeds max_head_bytes");
                ++i;
                break;
            case state::final_lf:
                if (c != '\n') return parse_failure(errc::malformed_response, "the last chunk's trailer ends in a bare CR");
                state_ = state::done;
                ++i;
                break;
            case state::done: break;
            }
        }
        st.consumed = i;
        st.done = state_ == state::done;
        return st;
    }

    bool count_trailer() noexcept {
        if (trailer_left_ == 0) return false;
        --trailer_left_;
        return true;
    }

    body_kind kind_ = body_kind::none;
    state state_ = state::size_start;
    std::uint64_t remaining_ = 0; // 64 bits on every target: a length may pass 2^32
    std::size_t trailer_left_ = 0;
    std::size_t max_line_ = 8192;
    std::size_t line_ = 0;
};

} // namespace detail
} // namespace idem

#endif
