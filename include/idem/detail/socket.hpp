// idem: the socket layer — resolve, connect with a timeout, send and receive with timeouts,
// the zero-wait liveness probe, and the mapping of errno and getaddrinfo codes to idem::errc.
// The only header that includes system socket headers.
#ifndef IDEM_DETAIL_SOCKET_HPP
#define IDEM_DETAIL_SOCKET_HPP

#include "../error.hpp"
#include "clock.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

namespace idem {
namespace detail {

#if defined(MSG_NOSIGNAL)
constexpr int send_flags = MSG_NOSIGNAL; // no SIGPIPE when the server has gone
#else
constexpr int send_flags = 0;
#endif

/// Where a system call failed; the same errno means different things in each.
enum class io_phase : unsigned char { connect, write, read };

/// errno → errc. One table for the whole library.
constexpr errc errno_to_errc(int e, io_phase phase) noexcept {
    switch (e) {
    case ECONNREFUSED: return errc::connection_refused;
    case ENETUNREACH:
    case ENETDOWN: return errc::network_unreachable;
    case EHOSTUNREACH:
    case EHOSTDOWN: return errc::host_unreachable;
    case ECONNRESET:
    case ECONNABORTED: return errc::connection_reset;
    case EPIPE: return errc::broken_pipe;
    case ETIMEDOUT:
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return phase == io_phase::connect ? errc::connect_timeout
               : phase == io_phase::write ? errc::write_timeout
                                          : errc::read_timeout;
    default: return errc::system_error;
    }
}

/// getaddrinfo's EAI_* → errc.
inline error gai_to_error(int rc) noexcept {
    switch (rc) {
    case EAI_SYSTEM: return error(errc::system_error, errno);
    case EAI_MEMORY: return error(errc::system_error, ENOMEM);
    default: return error(errc::resolve_failed); // EAI_NONAME, EAI_AGAIN, EAI_FAIL, ...
    }
}

inline error sys_error(int e, io_phase phase) noexcept { return error(errno_to_errc(e, phase), e); }

/// An owned socket descriptor.
class socket_handle {
public:
    socket_handle() noexcept = default;
    explicit socket_handle(int fd) noexcept : fd_(fd) {}
    socket_handle(socket_handle&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    socket_handle& operator=(socket_handle&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    socket_handle(const socket_handle&) = delete;
    socket_handle& operator=(const socket_handle&) = delete;
    ~socket_handle() { reset(); }

    int get() const noexcept { return fd_; }
    bool is_open() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

inline timeval to_timeval(std::chrono::nanoseconds d) noexcept {
    if (d.count() < 1000) d = std::chrono::nanoseconds(1000); // 0 would mean "no timeout"
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000000000);
    tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000000000) / 1000);
    return tv;
}

inline int to_poll_ms(std::chrono::nanoseconds d) noexcept {
    if (d.count() <= 0) return 0;
    const auto ms = (d.count() + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}

/// What the zero-wait probe of an idle connection found.
enum class liveness : unsigned char { alive, closed, reset, stray_bytes };

/// A connected stream socket with send and receive timeouts that the caller adjusts per wait.
/// This is the client's transport: a type with the same members (open, send_all, receive,
/// probe, close, is_open) can stand in for it, e.g. to inject faults in tests or to add TLS.
class connection {
public:
    bool is_open() const noexcept { return sock_.is_open(); }
    void close() noexcept { sock_.reset(); }
    int fd() const noexcept { return sock_.get(); }

    /// Resolves host:port and connects to each address in turn until one answers.
    /// Each attempt waits at most `timeout`, never past `deadline`.
    error open(const std::string& host, std::uint16_t port, std::chrono::nanoseconds timeout,
               std::chrono::nanoseconds deadline) {
        close();
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        char service[8];
        std::snprintf(service, sizeof service, "%u", unsigned(port));
        addrinfo* list = nullptr;
        const int rc = ::getaddrinfo(host.c_str(), service, &hints, &list);
        if (rc != 0) return gai_to_error(rc);
        error last(errc::resolve_failed);
        for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
            const auto left = deadline - now();
            if (left.count() <= 0) {
                last = error(errc::deadline_exceeded);
                break;
            }
            last = connect_one(*ai, left < timeout ? left : timeout, left < timeout);
            if (is_open()) break;
        }
        ::freeaddrinfo(list);
        if (is_open()) return error(errc{});
        return last;
    }

    /// Sends all of a then b. `sent` reports how many bytes the kernel accepted.
    error send_all(const char* a, std::size_t an, const char* b, std::size_t bn,
                   std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
                   std::size_t& sent) {
        sent = 0;
        const std::size_t total = an + bn;
        while (sent < total) {
            iovec iov[2];
            int cnt = 0;
            if (sent < an) iov[cnt++] = {const_cast<char*>(a + sent), an - sent};
            const std::size_t boff = sent > an ? sent - an : 0;
            if (bn > boff) iov[cnt++] = {const_cast<char*>(b + boff), bn - boff};
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(cnt);
            const ssize_t n = ::sendmsg(fd(), &msg, send_flags | MSG_DONTWAIT);
            if (n >= 0) {
                sent += std::size_t(n);
                continue;
            }
            const int e = errno;
            if (e == EINTR) continue;
            if (e != EAGAIN && e != EWOULDBLOCK) return sys_error(e, io_phase::write);
            const error w = wait(POLLOUT, timeout, deadline, io_phase::write);
            if (w.code() != errc{}) return w;
        }
        return error(errc{});
    }

    /// Receives up to n bytes. Returns 0 bytes only at EOF.
    error receive(char* p, std::size_t n, std::chrono::nanoseconds timeout,
                  std::chrono::nanoseconds deadline, std::size_t& got) {
        got = 0;
        const auto left = deadline - now();
        if (left.count() <= 0) return error(errc::deadline_exceeded);
        const bool deadline_binds = left < timeout;
        const auto wait_for = deadline_binds ? left : timeout;
        if (wait_for != rcv_timeout_) {
            // The socket stays blocking with SO_RCVTIMEO: one recv per read, no poll.
            const timeval tv = to_timeval(wait_for);
            ::setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            rcv_timeout_ = wait_for;
        }
        for (;;) {
            const ssize_t r = ::recv(fd(), p, n, 0);
            if (r >= 0) {
                got = std::size_t(r);
                return error(errc{});
            }
            const int e = errno;
            if (e == EINTR) continue;
            if ((e == EAGAIN || e == EWOULDBLOCK) && deadline_binds)
                return error(errc::deadline_exceeded);
            return sys_error(e, io_phase::read);
        }
    }

    /// Looks at an idle connection without waiting (RFC 9112 §9.3.1 says a client must be ready
    /// for the server to close it at any time): EOF, a reset, or bytes nobody asked for — such
    /// as a "408 Request Timeout" a server sends as it gives up — all mean it must not be reused.
    liveness probe() noexcept {
        char b;
        for (;;) {
            const ssize_t r = ::recv(fd(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (r == 0) return liveness::closed;
            if (r > 0) return liveness::stray_bytes;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return liveness::alive;
            return liveness::reset;
        }
    }

private:
    error wait(short events, std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
               io_phase phase) noexcept {
        const auto left = deadline - now();
        if (left.count() <= 0) return error(errc::deadline_exceeded);
        const bool deadline_binds = left < timeout;
        pollfd p{fd(), events, 0};
        for (;;) {
            const int r = ::poll(&p, 1, to_poll_ms(deadline_binds ? left : timeout));
            if (r > 0) return error(errc{}); // errors show up in the next call
            if (r == 0) return deadline_binds ? error(errc::deadline_exceeded)
                                              : error(errno_to_errc(ETIMEDOUT, phase));
            if (errno != EINTR) return sys_error(errno, phase);
        }
    }

    error connect_one(const addrinfo& ai, std::chrono::nanoseconds timeout, bool deadline_binds) {
        socket_handle s(::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC, ai.ai_protocol));
        if (!s.is_open()) return sys_error(errno, io_phase::connect);
        const int flags = ::fcntl(s.get(), F_GETFL, 0);
        ::fcntl(s.get(), F_SETFL, flags | O_NONBLOCK);
        if (::connect(s.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
            if (errno != EINPROGRESS && errno != EINTR) return sys_error(errno, io_phase::connect);
            pollfd p{s.get(), POLLOUT, 0};
            int r;
            do {
                r = ::poll(&p, 1, to_poll_ms(timeout));
            } while (r < 0 && errno == EINTR);
            if (r == 0)
                return deadline_binds ? error(errc::deadline_exceeded) : error(errc::connect_timeout, ETIMEDOUT);
            if (r < 0) return sys_error(errno, io_phase::connect);
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return sys_error(err, io_phase::connect);
        }
        ::fcntl(s.get(), F_SETFL, flags & ~O_NONBLOCK);
        const int one = 1;
        // Requests go out in one write; Nagle would only delay the next one.
        ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#if defined(SO_NOSIGPIPE)
        ::setsockopt(s.get(), SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
        sock_ = std::move(s);
        rcv_timeout_ = std::chrono::nanoseconds(-1);
        return error(errc{});
    }

    socket_handle sock_;
    std::chrono::nanoseconds rcv_timeout_{-1};
};

} // namespace detail
} // namespace idem

#endif
