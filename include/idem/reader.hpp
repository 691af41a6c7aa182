// idem: reads one response — interim heads, the final head, the framed body — from bytes fed
// in whatever pieces the network delivers. No sockets: the client and the tests both feed it.
#ifndef IDEM_READER_HPP
#define IDEM_READER_HPP

#include "chunked.hpp"
#include "parser.hpp"

#include <string>
#include <string_view>

namespace idem {
namespace detail {

/// Where body bytes go when they are not buffered: `fn(context, data, size)` returns false to
/// stop reading (errc::sink_aborted).
struct body_sink {
    bool (*fn)(void* context, const char* data, std::size_t size) = nullptr;
    void* context = nullptr;
};

class response_reader {
public:
    /// Starts reading the response to a request with `method` into `out` (cleared). With a
    /// sink, body bytes go to it as they arrive and out.body stays empty.
    void start(std::string_view method, response& out, const limits& lim, body_sink sink = {}) {
        method_ = method;
        out_ = &out;
        lim_ = &lim;
        sink_ = sink;
        out.clear();
        pending_.clear();
        head_.reset();
        head_done_ = false;
        interim_ = 0;
        eof_ = false;
        started_ = false;
    }

    /// Feeds the next bytes. `consumed` < n with `done` means bytes followed the response:
    /// they are not the next response, and the connection must not be reused.
    parse_step feed(const char* p, std::size_t n) {
        parse_step st;
        if (n != 0) started_ = true;
        if (head_done_) return body(p, n);
        // Parse in place when no partial head is waiting (the usual case: a whole head in one
        // read); otherwise continue the head kept from earlier feeds.
        const bool direct = pending_.empty();
        if (!direct) pending_.append(p, n);
        const char* buf = direct ? p : pending_.data();
        const std::size_t size = direct ? n : pending_.size();
        std::size_t off = 0;
        for (;;) {
            const auto hs = head_.parse(buf + off, size - off, *out_, *lim_);
            if (hs.failed) return hs;
            if (!hs.done) break;
            off += hs.consumed;
            head_.reset();
            // idem never asks to upgrade, so a 101 is not an answer it can read.
            if (out_->status == 101)
                return parse_failure(errc::malformed_response, "101 Switching Protocols to a request that asked for no upgrade");
            // RFC 9110 §15.2: interim responses come before the final one; skip them.
            // A server that sends them without end would hold the call until its deadline.
            if (is_interim(out_->status)) {
                if (++interim_ > lim_->max_interim_responses) return parse_failure(errc::too_many_headers, "more 1xx interim responses than the limit");
                continue;
            }
            if (const parse_step fe = decide_framing(*out_, method_, framing_); fe.failed) return fe;
            if (!sink_.fn && framing_.kind == body_kind::length) {
                if (framing_.length > lim_->max_body_bytes)
                    return parse_failure(errc::body_too_large, "Content-Length exceeds max_body_bytes");
                // Reserve on the server's word only up to a small bound; past it the body grows
                // as bytes arrive, so a false Content-Length costs nothing it did not send.
                out_->body.reserve(framing_.length < reserve_bound ? std::size_t(framing_.length) : reserve_bound);
            }
            decoder_.start(framing_, lim_->max_head_bytes, lim_->max_line_bytes);
            head_done_ = true;
            // By construction the rest of the buffer came in this feed: earlier feeds held no
            // complete head. It is the start of the body.
            const std::size_t rest = size - off;
            st = body(buf + off, rest);
            pending_.clear();
            if (st.failed) return st;
            st.consumed = n - (rest - st.consumed);
            return st;
        }
        // An incomplete head waits in pending_; offsets the head parser has scanned stay valid
        // because pending_ holds the same bytes from the same start.
        if (direct) pending_.assign(p + off, n - off);
        else if (off != 0) pending_.erase(0, off);
        st.consumed = n;
        return st;
    }

    /// The connection reached EOF. Done only for a close-delimited body; any other response
    /// cut short is an error, never a success (RFC 9112 §8). `errc{}` means complete.
    errc finish_at_eof() noexcept {
        eof_ = true;
        if (!head_done_ || !decoder_.complete_at_eof()) return errc::unexpected_eof;
        return errc{};
    }

    bool started() const noexcept { return started_; }
    /// Interim (1xx) heads skipped so far.
    std::size_t interim_count() const noexcept { return interim_; }
    /// The final (non-1xx) head has been read: the server has answered.
    bool head_done() const noexcept { return head_done_; }
    bool done() const noexcept { return head_done_ && (decoder_.done() || eof_); }
    /// Whether the body ended at EOF (so the connection is gone).
    bool ended_by_eof() const noexcept { return eof_; }
    const detail::framing& framing() const noexcept { return framing_; }

private:

    parse_step body(const char* p, std::size_t n) {
        if (sink_.fn) {
            const body_sink sink = sink_;
            auto st = decoder_.feed(p, n, [sink](const char* d, std::size_t k) {
                return sink.fn(sink.context, d, k);
            });
            if (st.failed && st.err == errc::body_too_large) {
                st.err = errc::sink_aborted;
                st.why = "the sink returned false";
            }
            return st;
        }
        response& out = *out_;
        const std::size_t max = lim_->max_body_bytes;
        return decoder_.feed(p, n, [&out, max](const char* d, std::size_t k) {
            if (k > max - out.body.size()) return false;
            out.body.append(d, k);
            return true;
        });
    }

    static constexpr std::size_t reserve_bound = 64 * 1024;

    std::string_view method_;
    response* out_ = nullptr;
    body_sink sink_;
    const limits* lim_ = nullptr;
    std::string pending_; // an incomplete head, kept across feeds
    head_parser head_;
    body_decoder decoder_;
    detail::framing framing_;
    bool head_done_ = false;
    bool eof_ = false;
    bool started_ = false;
    std::size_t interim_ = 0;
};

} // namespace detail
} // namespace idem

#endif
