// idem: where a request body comes from — memory, a file or descriptor, a callback — and
// whether it can be produced again, which is what decides whether a failed request may be sent
// again. The pump that frames it for the wire (Content-Length or chunked) reads in bounded
// pieces, so an upload of any size costs one buffer.
#ifndef IDEM_BODY_HPP
#define IDEM_BODY_HPP

#include "error.hpp"
#include "detail/clock.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace idem {
namespace detail {
class body_access;
}

/// A request body that is not in memory: read in pieces while the request goes out. A
/// description, not an owner: the descriptor or the callback's context must stay valid for
/// the call. Whether it can be produced again (`rewindable()`) decides whether a request whose
/// body was read may ever be sent a second time: a source that cannot is never re-sent.
class body_source {
public:
    static constexpr std::uint64_t unknown_length = ~std::uint64_t{0};
    /// Fills up to `capacity` bytes of `buf`; returns how many, 0 at the end, or -1 on failure.
    using read_function = std::ptrdiff_t (*)(void* context, char* buf, std::size_t capacity);
    /// Starts the body again from its first byte; false when it cannot.
    using rewind_function = bool (*)(void* context);

    /// No source: the request's body is its `body` string.
    constexpr body_source() noexcept = default;

    /// The bytes of `fd` from its current offset. A regular file is read with pread, so the
    /// descriptor's offset never moves: its length is known (Content-Length) and it can be
    /// read again for a retry. A pipe, socket or terminal is read once, to its end, as chunked.
    static body_source file(int fd) noexcept {
        body_source s;
        s.kind_ = kind::descriptor;
        s.fd_ = fd;
        struct stat st;
        if (fd < 0 || ::fstat(fd, &st) != 0) {
            s.kind_ = kind::broken;
            return s;
        }
        const off_t at = S_ISREG(st.st_mode) ? ::lseek(fd, 0, SEEK_CUR) : off_t(-1);
        if (at >= 0) {
            s.offset_ = std::uint64_t(at);
            s.length_ = std::uint64_t(st.st_size) > s.offset_ ? std::uint64_t(st.st_size) - s.offset_ : 0;
            s.positional_ = true;
        }
        return s;
    }

    /// `length` bytes of a regular file from `offset` (pread: the descriptor's offset is not
    /// used). A file shorter than that fails the call rather than send a short body.
    static body_source file_range(int fd, std::uint64_t offset, std::uint64_t length) noexcept {
        body_source s;
        s.kind_ = fd >= 0 ? kind::descriptor : kind::broken;
        s.fd_ = fd;
        s.offset_ = offset;
        s.length_ = length;
        s.positional_ = true;
        return s;
    }

    /// Bytes from `read(context, buf, capacity)`. With a `length`, the body goes out with that
    /// Content-Length and must produce exactly that many bytes; without one, as chunked. It
    /// can be sent again only with a `rewind`.
    static body_source callback(read_function read, void* context,
                                std::uint64_t length = unknown_length,
                                rewind_function rewind = nullptr) noexcept {
        body_source s;
        s.kind_ = read ? kind::callback : kind::broken;
        s.read_ = read;
        s.context_ = context;
        s.length_ = length;
        s.rewind_ = rewind;
        return s;
    }

    /// True unless this is the default "no source".
    constexpr bool present() const noexcept { return kind_ != kind::none; }
    /// False for a descriptor fstat refused or a callback without a function.
    constexpr bool valid() const noexcept { return kind_ != kind::broken; }
    constexpr std::uint64_t length() const noexcept { return length_; }
    constexpr bool known_length() const noexcept { return length_ != unknown_length; }
    /// Whether the body can be produced again from its first byte.
    constexpr bool rewindable() const noexcept {
        return kind_ == kind::descriptor ? positional_ : kind_ == kind::callback && rewind_ != nullptr;
    }

private:
    friend class detail::body_access;
    enum class kind : unsigned char { none, broken, descriptor, callback };

    kind kind_ = kind::none;
    bool positional_ = false; // a regular file, read with pread from offset_
    int fd_ = -1;
    std::uint64_t offset_ = 0;
    std::uint64_t length_ = unknown_length;
    read_function read_ = nullptr;
    rewind_function rewind_ = nullptr;
    void* context_ = nullptr;
};

namespace detail {

/// The pump's window into a source.
class body_access {
public:
    // One read of at most `cap` bytes at body position `pos`; -1 with errno on failure.
    static std::ptrdiff_t read(const body_source& s, char* buf, std::size_t cap, std::uint64_t pos,
                               std::chrono::nanoseconds deadline) noexcept {
        if (s.kind_ == body_source::kind::callback) {
            const std::ptrdiff_t n = s.read_(s.context_, buf, cap);
            return n > std::ptrdiff_t(cap) ? -1 : n; // more than asked for is a broken source
        }
        for (;;) {
            // A pipe or socket can stall for ever, blocking or not: wait for it, never past the
            // deadline (a regular file is always ready).
            if (!s.positional_) {
                const auto left = deadline - detail::now();
                if (left.count() <= 0) {
                    errno = ETIMEDOUT;
                    return -1;
                }
                pollfd p{s.fd_, POLLIN, 0};
                const auto ms = left.count() / 1000000 + 1;
                const int r = ::poll(&p, 1, ms > 0x7fffffff ? 0x7fffffff : int(ms));
                if (r == 0 || (r < 0 && errno == EINTR)) continue; // the deadline is checked above
                if (r < 0) return -1;
            }
            const ssize_t n = s.positional_ ? ::pread(s.fd_, buf, cap, off_t(s.offset_ + pos))
                                            : ::read(s.fd_, buf, cap);
            if (n >= 0) return n;
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            return -1;
        }
    }
    static bool rewind(const body_source& s) noexcept {
        if (s.kind_ == body_source::kind::descriptor) return s.positional_;
        return s.rewind_ && s.rewind_(s.context_);
    }
};

/// Hands out a request body as wire pieces: the memory body whole, or a source read a piece
/// at a time into one buffer, framed as chunked when its length is unknown (RFC 9112 §7.1).
class body_pump {
public:
    static constexpr std::size_t piece = 64 * 1024;

    void start(std::string_view memory, const body_source* src, std::string& buf) noexcept {
        memory_ = memory;
        src_ = src && src->present() ? src : nullptr;
        buf_ = &buf;
        pos_ = 0;
        memory_given_ = false;
        finished_ = false;
        read_any_ = false;
    }

    /// Before an attempt that sends the body again: rewinds a source that was read.
    error rewind() noexcept {
        if (src_ && read_any_) {
            if (!body_access::rewind(*src_))
                return error(errc::body_source_failed, "the body's source could not be rewound");
        }
        read_any_ = false;
        pos_ = 0;
        memory_given_ = false;
        finished_ = false;
        return error(errc{});
    }

    /// The next piece to send; empty when the body is done.
    error next(std::string_view& out, std::chrono::nanoseconds deadline) {
        out = {};
        if (finished_) return error(errc{});
        if (!src_) {
            if (!memory_given_ && !memory_.empty()) {
                memory_given_ = true;
                out = memory_;
                return error(errc{});
            }
            finished_ = true;
            return error(errc{});
        }
        const bool chunked = !src_->known_length();
        if (!chunked && pos_ == src_->length()) {
            finished_ = true;
            return error(errc{});
        }
        // Room for a chunk's size line before the data and its CRLF after it.
        constexpr std::size_t front = 18;
        if (buf_->size() < front + piece + 2) buf_->resize(front + piece + 2);
        char* data = &(*buf_)[front];
        std::size_t want = piece;
        if (!chunked && src_->length() - pos_ < want) want = std::size_t(src_->length() - pos_);
        read_any_ = true;
        const std::ptrdiff_t n = body_access::read(*src_, data, want, pos_, deadline);
        if (n < 0) {
            if (errno == ETIMEDOUT && deadline <= detail::now())
                return error(errc::deadline_exceeded, "the deadline passed while reading the request body from its source");
            return error(errc::body_source_failed, "reading the request body failed", errno);
        }
        if (n == 0) {
            if (!chunked) return error(errc::body_source_failed, "the body's source ended before its length");
            finished_ = true;
            out = "0\r\n\r\n"; // the last chunk, no trailer
            return error(errc{});
        }
        pos_ += std::uint64_t(n);
        if (!chunked) {
            out = {data, std::size_t(n)};
            return error(errc{});
        }
        char* p = data;
        *--p = '\n';
        *--p = '\r';
        for (std::size_t v = std::size_t(n);; v >>= 4) {
            *--p = "0123456789abcdef"[v & 15];
            if (v < 16) break;
        }
        data[n] = '\r';
        data[n + 1] = '\n';
        out = {p, std::size_t(data + n + 2 - p)};
        return error(errc{});
    }

    /// A source was read that cannot be read again: this body can never be sent another time.
    bool spent() const noexcept { return src_ && read_any_ && !src_->rewindable(); }
    /// Some of a source was read: before the body goes out again, the source must be rewound.
    bool touched() const noexcept { return src_ && read_any_; }
    bool streamed() const noexcept { return src_ != nullptr; }
    bool done() const noexcept { return finished_; }

private:
    std::string_view memory_;
    const body_source* src_ = nullptr;
    std::string* buf_ = nullptr;
    std::uint64_t pos_ = 0;
    bool memory_given_ = false;
    bool finished_ = false;
    bool read_any_ = false;
};

} // namespace detail
} // namespace idem

#endif
