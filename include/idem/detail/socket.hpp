// idem: the socket layer — connect (racing addresses, RFC 8305), send and receive with
// timeouts that signals cannot stretch, the zero-wait liveness probe, and the mapping of errno
// to idem::errc. With resolve.hpp, the only headers that include system socket headers.
#ifndef IDEM_DETAIL_SOCKET_HPP
#define IDEM_DETAIL_SOCKET_HPP

#include "../error.hpp"
#include "clock.hpp"
#include "resolve.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace idem {

/// How a TLS transport checks the server it connects to (client_options::tls). The core only
/// carries these; a TLS transport (idem/tls/openssl.hpp) reads them.
struct tls_options {
    std::string ca_file; ///< a PEM file of trusted CA certificates; empty: the system's store
    std::string ca_path; ///< a directory of hashed CA certificates; empty: none
    /// Accept any certificate for any name. For tests against throwaway certificates only:
    /// anyone on the path can then read and change the traffic.
    bool insecure_skip_verify = false;
    /// Offer a session the same server gave an earlier connection (RFC 8446 §2.2), so a
    /// reconnect after an idle close skips the certificate exchange and a round trip. Off: every
    /// connection does a full handshake, and connections cannot be linked by their tickets.
    bool resume_sessions = true;
};

namespace detail {

#if defined(MSG_NOSIGNAL) && !defined(IDEM_FORCE_FALLBACKS)
constexpr int send_flags = MSG_NOSIGNAL; // no SIGPIPE when the server has gone
#else
constexpr int send_flags = 0; // SO_NOSIGPIPE is set on each socket instead (macOS, the BSDs)
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
    // A 32-bit time_t holds 68 years: a longer timeout is the longest it holds (the kernel
    // takes that as no limit), never a wrapped, negative one.
    const auto secs = d.count() / 1000000000;
    constexpr auto most = std::numeric_limits<time_t>::max();
    tv.tv_sec = secs > most ? most : static_cast<time_t>(secs);
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

/// How to open a connection: every bound is on idem's clock (detail::now()).
struct dial_settings {
    std::chrono::nanoseconds connect_end{0};  ///< when resolving and connecting must be done
    bool deadline_binds = false;              ///< connect_end is the call's deadline, not the connect timeout
    std::chrono::nanoseconds attempt_delay{std::chrono::milliseconds(250)}; ///< RFC 8305 §5
    resolver_function resolver = nullptr;     ///< nullptr: getaddrinfo
    void* resolver_context = nullptr;
    std::string_view unix_socket;             ///< non-empty: connect here, not to host:port
    bool tls = false;                         ///< https: a TLS transport shakes hands after connecting
    std::string_view server_name;             ///< the name (or address) the certificate must be for
    std::uint16_t server_port = 0;            ///< the origin's port (not a proxy's)
    std::string_view tunnel;                  ///< non-empty: a CONNECT head for the proxy at host:port,
                                              ///< sent before the handshake (detail::open_tunnel, tls/openssl.hpp)
    const idem::tls_options* tls_settings = nullptr;
};

/// The address of a Unix domain socket: a path, or with a leading '@' a Linux abstract name
/// (the '@' becomes the NUL that marks one). nullptr when `a` and `len` are filled, else why
/// the path cannot be one: sun_path holds 108 bytes, a path's terminating NUL included.
inline const char* unix_address(std::string_view path, sockaddr_storage& a, socklen_t& len) noexcept {
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    const bool abstract = !path.empty() && path.front() == '@';
    if (path.empty() || (abstract && path.size() == 1)) return "the Unix socket path is empty";
    if (path.find('\0') != std::string_view::npos) return "the Unix socket path holds a NUL byte";
    // A path needs room for its NUL; an abstract name is its bytes alone, after the leading NUL.
    if (path.size() + (abstract ? 0 : 1) > sizeof u.sun_path)
        return "the Unix socket path is longer than sockaddr_un holds (107 bytes, or '@' and 107 for an abstract name)";
    for (std::size_t i = 0; i < path.size(); ++i) u.sun_path[i] = path[i];
    if (abstract) u.sun_path[0] = '\0';
    len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
    static_assert(sizeof u <= sizeof a, "sockaddr_un fits sockaddr_storage");
    std::memcpy(&a, &u, sizeof u);
    return nullptr;
}

/// The order to try addresses in (RFC 8305 §4): the families interleaved, starting with the
/// family of the resolver's first address, each family in the resolver's order. Fills
/// `order` with indexes into `a` and returns how many.
inline std::size_t interleave_families(const address_list& a, std::size_t* order) noexcept {
    std::size_t other[address_list::capacity];
    std::size_t n = 0, no = 0;
    for (std::size_t i = 0; i < a.count; ++i) {
        if (a.family(i) == a.family(0)) order[n++] = i;
        else other[no++] = i;
    }
    const std::size_t nf = n;
    for (std::size_t k = 0; k < no; ++k) { // other[k] goes after the k-th of the first family
        const std::size_t at = k < nf ? 2 * k + 1 : n;
        for (std::size_t j = n; j > at; --j) order[j] = order[j - 1];
        order[at] = other[k];
        ++n;
    }
    return n;
}

/// The error for a wait that ran out: the call's deadline, or the step's own timeout.
inline error timed_out(bool deadline_binds, io_phase phase, const char* why) noexcept {
    return deadline_binds ? error(errc::deadline_exceeded, why)
                          : error(errno_to_errc(ETIMEDOUT, phase), why);
}

// What a Transport may add to the members every transport has (see connection):
//   static constexpr bool tls_capable = true;  it shakes hands when dial_settings::tls is set,
//                                               so the client takes https URLs
//   static constexpr bool tunnel_capable = true; it opens dial_settings::tunnel through the
//                                               proxy first, so https may go through a proxy
//   bool clean_eof() const noexcept;           false when the last EOF came without the TLS
//                                               close_notify: a body read to EOF may be cut short
//   bool closing() noexcept;                   after a complete response, without waiting:
//                                               the server has already said it closes
template <class T, class = void> struct tls_capable : std::false_type {};
template <class T> struct tls_capable<T, void_t<decltype(bool{T::tls_capable})>> : std::integral_constant<bool, T::tls_capable> {};

template <class T, class = void> struct tunnel_capable : std::false_type {};
template <class T>
struct tunnel_capable<T, void_t<decltype(bool{T::tunnel_capable})>> : std::integral_constant<bool, T::tunnel_capable> {};

template <class T, class = void> struct has_clean_eof : std::false_type {};
template <class T>
struct has_clean_eof<T, void_t<decltype(bool{std::declval<const T&>().clean_eof()})>> : std::true_type {};
template <class T> bool eof_is_clean(const T& t, std::true_type) noexcept { return t.clean_eof(); }
template <class T> bool eof_is_clean(const T&, std::false_type) noexcept { return true; }

template <class T, class = void> struct has_closing : std::false_type {};
template <class T> struct has_closing<T, void_t<decltype(bool{std::declval<T&>().closing()})>> : std::true_type {};
template <class T> bool is_closing(T& t, std::true_type) noexcept { return t.closing(); }
template <class T> bool is_closing(T&, std::false_type) noexcept { return false; }

// A transport may describe its connection's protection (security()); plaintext says nothing.
template <class T, class = void> struct has_security : std::false_type {};
template <class T>
struct has_security<T, void_t<decltype(std::string_view{std::declval<const T&>().security()})>> : std::true_type {};
template <class T> std::string_view security_of(const T& t, std::true_type) noexcept { return t.security(); }
template <class T> std::string_view security_of(const T&, std::false_type) noexcept { return {}; }

/// A connected stream socket with send and receive timeouts that the caller adjusts per wait.
/// This is the client's transport: a type with the same members (open, send_all, receive,
/// probe, close, is_open) can stand in for it, e.g. to inject faults in tests or to add TLS.
/// Every wait is measured against a fixed end: a signal (EINTR) resumes it for what is left.
class connection {
public:
    bool is_open() const noexcept { return sock_.is_open(); }
    void close() noexcept { sock_.reset(); }
    int fd() const noexcept { return sock_.get(); }

    /// Resolves host (numeric hosts never reach the resolver) and connects to port, racing
    /// the addresses as RFC 8305 describes, all by d.connect_end.
    error open(const std::string& host, std::uint16_t port, const dial_settings& d) {
        close();
        address_list addrs;
        if (!d.unix_socket.empty()) { // no name to resolve, one address
            sockaddr_storage a;
            socklen_t len = 0;
            if (const char* why = unix_address(d.unix_socket, a, len)) return error(errc::invalid_socket_path, why);
            addrs.addr[0] = a;
            addrs.len[0] = len;
            addrs.count = 1;
            return dial(addrs, d);
        }
        const error re = resolve(host.c_str(), d.resolver, d.resolver_context, d.connect_end,
                                 !d.deadline_binds, addrs);
        if (re.code() != errc{}) return re;
        for (std::size_t i = 0; i < addrs.count; ++i) {
            if (addrs.family(i) == AF_INET)
                reinterpret_cast<sockaddr_in*>(&addrs.addr[i])->sin_port = htons(port);
            else
                reinterpret_cast<sockaddr_in6*>(&addrs.addr[i])->sin6_port = htons(port);
        }
        return dial(addrs, d);
    }

    /// Sends a then b, from byte `sent` on (in: bytes already sent; out: bytes the kernel has
    /// accepted in all). When the socket stalls and the server has begun to answer, it stops
    /// early with `readable` set (RFC 9112 §9.5: a client sending a body watches for a response).
    error send_all(const char* a, std::size_t an, const char* b, std::size_t bn,
                   std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
                   std::size_t& sent, bool& readable) {
        readable = false;
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
            short got = 0;
            const error w = wait(POLLOUT | POLLIN, timeout, deadline, io_phase::write, got);
            if (w.code() != errc{}) return w;
            if ((got & POLLIN) != 0) {
                readable = true;
                return error(errc{});
            }
        }
        return error(errc{});
    }

    /// Receives up to n bytes, waiting at most `timeout` and never past `deadline`. Returns 0
    /// bytes only at EOF.
    error receive(char* p, std::size_t n, std::chrono::nanoseconds timeout,
                  std::chrono::nanoseconds deadline, std::size_t& got) {
        got = 0;
        const auto start = now();
        const auto left = deadline - start;
        if (left.count() <= 0) return error(errc::deadline_exceeded, "before reading the response");
        const bool deadline_binds = left < timeout;
        const auto limit = deadline_binds ? left : timeout;
        auto wait_for = limit;
        for (;;) {
            if (wait_for != rcv_timeout_) {
                // The socket stays blocking with SO_RCVTIMEO: one recv per read, no poll.
                const timeval tv = to_timeval(wait_for);
                ::setsockopt(fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                rcv_timeout_ = wait_for;
            }
            const ssize_t r = ::recv(fd(), p, n, 0);
            if (r >= 0) {
                got = std::size_t(r);
                return error(errc{});
            }
            const int e = errno;
            if (e == EINTR) {
                // A signal handler ran: a recv under SO_RCVTIMEO is never restarted by the
                // kernel, and restarting it here with the whole timeout would let a periodic
                // signal stretch the wait without end. Wait only for what is left.
                wait_for = limit - (now() - start);
                if (wait_for.count() <= 0)
                    return timed_out(deadline_binds, io_phase::read, "waiting for the response");
                continue;
            }
            if ((e == EAGAIN || e == EWOULDBLOCK))
                return timed_out(deadline_binds, io_phase::read, "waiting for the response");
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
    // Waits for `events` (at most `timeout`, never past `deadline`); `got` says which came.
    error wait(short events, std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
               io_phase phase, short& got) noexcept {
        const auto start = now();
        const auto left = deadline - start;
        if (left.count() <= 0) return error(errc::deadline_exceeded, "before sending the request");
        const bool deadline_binds = left < timeout;
        const auto end = start + (deadline_binds ? left : timeout);
        pollfd p{fd(), events, 0};
        for (;;) {
            const int r = ::poll(&p, 1, to_poll_ms(end - now()));
            if (r > 0) {
                got = p.revents; // errors show up in the next call
                return error(errc{});
            }
            if (r < 0 && errno != EINTR) return sys_error(errno, phase);
            // Timed out, or a signal: either way the end is fixed, and only what is left is waited.
            if (now() >= end) return timed_out(deadline_binds, phase, "waiting for the socket to take the request");
        }
    }

    // Opens a non-blocking socket to `a` and starts connecting. `s` is left closed on failure.
    static error start_connect(const sockaddr_storage& a, socklen_t len, socket_handle& s,
                               bool& connected) noexcept {
        connected = false;
#if defined(SOCK_CLOEXEC) && !defined(IDEM_FORCE_FALLBACKS)
        s = socket_handle(::socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!s.is_open()) return sys_error(errno, io_phase::connect);
#else
        s = socket_handle(::socket(a.ss_family, SOCK_STREAM, 0));
        if (!s.is_open()) return sys_error(errno, io_phase::connect);
        ::fcntl(s.get(), F_SETFD, FD_CLOEXEC);
#endif
        const int flags = ::fcntl(s.get(), F_GETFL, 0);
        ::fcntl(s.get(), F_SETFL, flags | O_NONBLOCK);
        if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&a), len) == 0) {
            connected = true;
            return error(errc{});
        }
        // EINTR: the connect goes on in the background, like EINPROGRESS.
        if (errno == EINPROGRESS || errno == EINTR) return error(errc{});
        const int e = errno;
        s.reset();
        return sys_error(e, io_phase::connect);
    }

    // Races the addresses (RFC 8305, "Happy Eyeballs"): families interleaved starting with the
    // first address's (§4), the next attempt started attempt_delay after the last one or as
    // soon as one fails (§5), the first to connect wins, all by d.connect_end. In this thread:
    // non-blocking connects and one poll over the attempts in flight.
    error dial(const address_list& addrs, const dial_settings& d) {
        constexpr std::size_t cap = address_list::capacity;
        std::size_t order[cap];
        const std::size_t n = interleave_families(addrs, order);
        socket_handle s[cap];
        pollfd pf[cap];
        std::size_t flying = 0, next = 0;
        error last = error(errc::resolve_failed, "the name has no address").set_name_not_found(true);
        auto next_at = now();
        // An attempt failed: remember why, and start the next one at once (§5).
        auto failed = [&](const error& e, std::chrono::nanoseconds at) {
            last = e;
            next_at = at;
        };
        for (;;) {
            const auto t = now();
            if (next < n && (flying == 0 || t >= next_at)) {
                const std::size_t i = order[next++];
                bool connected = false;
                const error e = start_connect(addrs.addr[i], addrs.len[i], s[flying], connected);
                if (connected) return won(s[flying]);
                if (e.code() != errc{}) {
                    failed(e, t);
                    continue;
                }
                pf[flying] = {s[flying].get(), POLLOUT, 0};
                ++flying;
                next_at = t + d.attempt_delay;
                continue;
            }
            if (flying == 0) return last;
            if (t >= d.connect_end)
                return timed_out(d.deadline_binds, io_phase::connect, "no address accepted the connection in time");
            const auto until = next < n && next_at < d.connect_end ? next_at : d.connect_end;
            const int r = ::poll(pf, static_cast<nfds_t>(flying), to_poll_ms(until - t));
            if (r < 0 && errno != EINTR) return sys_error(errno, io_phase::connect);
            if (r <= 0) continue; // a signal, or time to start the next attempt: look again
            for (std::size_t k = 0; k < flying;) {
                if (pf[k].revents == 0) {
                    ++k;
                    continue;
                }
                int err = 0;
                socklen_t len = sizeof err;
                ::getsockopt(s[k].get(), SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0) return won(s[k]);
                failed(sys_error(err, io_phase::connect), t);
                // Drop the failed attempt: the last one in flight takes its place.
                --flying;
                s[k] = std::move(s[flying]);
                pf[k] = pf[flying];
            }
        }
    }

    error won(socket_handle& s) noexcept {
        const int flags = ::fcntl(s.get(), F_GETFL, 0);
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
