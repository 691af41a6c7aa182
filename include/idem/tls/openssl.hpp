// idem/tls/openssl.hpp: https over OpenSSL 3. Not included by idem.hpp or the single header:
// include this one too and link -lssl -lcrypto. The core stays free of dependencies.
//
//     idem::tls::client c{"https://example.com"};   // the system's CAs, the host checked
//     auto r = c.get("/");
//
// The certificate is checked against the system's trust store (client_options::tls.ca_file
// or ca_path instead) and against the URL's host: its name (with SNI) or its IP address.
// client_options::tls.insecure_skip_verify turns both checks off, for tests. The handshake and
// writes run on the socket without blocking, and a response is read with one recv that waits
// under SO_RCVTIMEO, as on plaintext, all under the same connect, read and write timeouts and
// the same deadline as plaintext; a signal does not stretch a wait. Writes never
// raise SIGPIPE, and the process's signal state is not touched. http:// URLs (a redirect from
// https to http, say) go over the same transport in plaintext. A new connection resumes a
// session the same server gave before (client_options::tls.resume_sessions).
#ifndef IDEM_TLS_OPENSSL_HPP
#define IDEM_TLS_OPENSSL_HPP

#include "../idem.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "idem/tls/openssl.hpp needs OpenSSL 3"
#endif

// A CONNECT tunnel through an HTTP proxy (RFC 9110 §9.3.6), made on a fresh connection to the
// proxy before the handshake with the origin through it. Here, not in the core, since only a
// transport that tunnels needs it (and the single header stays as it is).
namespace idem {
namespace detail {

/// The reason for a proxy's refusal of a tunnel, as a static string naming its status.
inline const char* tunnel_refusal(int status) noexcept {
    switch (status) {
    case 400: return "the proxy answered CONNECT with 400 (Bad Request)";
    case 403: return "the proxy answered CONNECT with 403 (Forbidden): it does not tunnel to this host or port";
    case 404: return "the proxy answered CONNECT with 404 (Not Found)";
    case 405: return "the proxy answered CONNECT with 405 (Method Not Allowed): it does not tunnel";
    case 407: return "the proxy answered CONNECT with 407 (Proxy Authentication Required): give user:password@ in the proxy URL";
    case 429: return "the proxy answered CONNECT with 429 (Too Many Requests)";
    case 500: return "the proxy answered CONNECT with 500 (Internal Server Error)";
    case 502: return "the proxy answered CONNECT with 502 (Bad Gateway): it could not reach the server";
    case 503: return "the proxy answered CONNECT with 503 (Service Unavailable)";
    case 504: return "the proxy answered CONNECT with 504 (Gateway Timeout): the server did not answer it in time";
    default: break;
    }
    if (status >= 500) return "the proxy answered CONNECT with a 5xx status";
    if (status >= 400) return "the proxy answered CONNECT with a 4xx status";
    return "the proxy answered CONNECT with a status that does not open a tunnel (3xx)";
}

/// Sends the CONNECT head `d.tunnel` on the fresh connection `c` to a proxy and reads the
/// proxy's answer, all by d.connect_end. Success (a 2xx) leaves `c` a byte stream to the
/// origin with nothing of the answer left unread; a tunnel's answer has no content, whatever
/// its fields say (RFC 9110 §9.3.6), and bytes before the client's first are an error. Any
/// other final status is errc::proxy_refused, naming the status.
template <class Connection> error open_tunnel(Connection& c, const dial_settings& d) {
    static const char* const late = "the proxy did not answer CONNECT in time";
    const auto timed_out_here = [&](const error& e) {
        const errc k = e.code();
        return k == errc::read_timeout || k == errc::write_timeout || k == errc::deadline_exceeded ||
               k == errc::connect_timeout;
    };
    auto t = now();
    if (t >= d.connect_end) return timed_out(d.deadline_binds, io_phase::connect, late);
    std::size_t sent = 0;
    bool readable = false;
    error w = c.send_all(d.tunnel.data(), d.tunnel.size(), nullptr, 0, d.connect_end - t, d.connect_end, sent, readable);
    if (timed_out_here(w)) return timed_out(d.deadline_binds, io_phase::connect, late);
    if (w.code() != errc{}) return w;
    // An answer before the whole request (a refusal, most likely) is read all the same.
    limits lim;
    lim.max_head_bytes = 16 * 1024;
    lim.max_line_bytes = 8 * 1024;
    head_parser parser;
    response head;
    std::string buf;
    std::size_t interim = 0;
    char chunk[1024];
    for (;;) {
        t = now();
        if (t >= d.connect_end) return timed_out(d.deadline_binds, io_phase::connect, late);
        std::size_t got = 0;
        const error re = c.receive(chunk, sizeof chunk, d.connect_end - t, d.connect_end, got);
        if (timed_out_here(re)) return timed_out(d.deadline_binds, io_phase::connect, late);
        if (re.code() != errc{}) return re;
        if (got == 0) return error(errc::unexpected_eof, "the proxy closed the connection before it answered CONNECT");
        buf.append(chunk, got);
        for (;;) {
            const parse_step st = parser.parse(buf.data(), buf.size(), head, lim);
            if (st.failed)
                return st.err == errc::malformed_response
                           ? error(errc::malformed_response, "the proxy's answer to CONNECT is not an HTTP response")
                           : error(st.err, "the proxy's answer to CONNECT exceeds 16 KiB or a line of 8 KiB");
            if (!st.done) break;
            buf.erase(0, st.consumed);
            parser.reset();
            if (is_interim(head.status)) {
                if (++interim > lim.max_interim_responses)
                    return error(errc::malformed_response, "the proxy sent more than 16 interim answers to CONNECT");
                continue;
            }
            if (head.status < 200 || head.status > 299) return error(errc::proxy_refused, tunnel_refusal(head.status));
            if (!buf.empty())
                return error(errc::malformed_response, "the proxy sent bytes after its answer to CONNECT, before the TLS handshake");
            return error(errc{});
        }
    }
}

} // namespace detail
} // namespace idem

namespace idem {
namespace tls {
namespace detail {

// The socket under a TLS connection as OpenSSL sees it: sends that never block (the transport
// waits with poll, under its timeouts) and never raise SIGPIPE, and receives that never block
// either, except while the transport reads a response: then a recv waits, under SO_RCVTIMEO,
// at most until wait_end, so the answer costs one system call, not a poll and a recv, as on
// plaintext. What the last call met is kept, so an EOF, an errno or a wait that ran out is
// told apart from a TLS failure.
struct socket_io {
    int fd = -1;
    bool eof = false;  // the peer closed the TCP stream
    int last_errno = 0; // a recv or send failed with this
    // While a response is read: when the wait ends (0: a recv never waits), how long the next
    // recv may wait, and whether one ran out of time. A signal ends a recv early (EINTR); the
    // transport then waits for what is left, never the whole again.
    std::chrono::nanoseconds wait_end{0};
    std::chrono::nanoseconds wait_for{0};
    bool timed_out = false;
    std::chrono::nanoseconds rcv_timeout{-1}; // the socket's SO_RCVTIMEO (-1: not known)

    static int write_ex(BIO* b, const char* p, std::size_t n, std::size_t* done) {
        auto* io = static_cast<socket_io*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        for (;;) {
            const ssize_t k = ::send(io->fd, p, n, idem::detail::send_flags | MSG_DONTWAIT);
            if (k >= 0) {
                *done = std::size_t(k);
                return 1;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
            else io->last_errno = errno;
            return 0;
        }
    }

    static int read_ex(BIO* b, char* p, std::size_t n, std::size_t* done) {
        auto* io = static_cast<socket_io*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        const bool waits = io->wait_end.count() != 0;
        for (;;) {
            if (waits) {
                if (io->wait_for.count() <= 0) {
                    io->timed_out = true;
                    BIO_set_retry_read(b);
                    return 0;
                }
                if (io->wait_for != io->rcv_timeout) {
                    const timeval tv = idem::detail::to_timeval(io->wait_for);
                    ::setsockopt(io->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                    io->rcv_timeout = io->wait_for;
                }
            }
            const ssize_t k = ::recv(io->fd, p, n, waits ? 0 : MSG_DONTWAIT);
            const int e = errno;
            // The rest of a record (OpenSSL reads on until it has it) waits only for what is left.
            if (waits) io->wait_for = io->wait_end - idem::detail::now();
            if (k > 0) {
                *done = std::size_t(k);
                return 1;
            }
            if (k == 0) {
                io->eof = true;
                return 0;
            }
            if (e == EINTR) {
                if (!waits) continue;
                BIO_set_retry_read(b); // the transport decides whether time is left
                return 0;
            }
            if (e == EAGAIN || e == EWOULDBLOCK) {
                if (waits) io->timed_out = true;
                BIO_set_retry_read(b);
            } else {
                io->last_errno = e;
            }
            return 0;
        }
    }

    static long ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
    static int create(BIO* b) {
        BIO_set_init(b, 1);
        return 1;
    }

    // One method table per program, made on first use (thread-safe: a function-local static).
    static BIO_METHOD* method() {
        static BIO_METHOD* const m = [] {
            BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "idem socket");
            if (bm != nullptr) {
                BIO_meth_set_write_ex(bm, &write_ex);
                BIO_meth_set_read_ex(bm, &read_ex);
                BIO_meth_set_ctrl(bm, &ctrl);
                BIO_meth_set_create(bm, &create);
            }
            return bm;
        }();
        return m;
    }
};

struct ctx_free {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct ssl_free {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

// OpenSSL's reason for the latest failure in this thread: a static string, or `fallback`.
inline const char* openssl_reason(const char* fallback) noexcept {
    const unsigned long e = ERR_peek_last_error();
    const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
    return r != nullptr ? r : fallback;
}

// Sessions servers offered for resumption, kept per context (the trust settings), server name
// and port: a session is only ever offered back to the server, and under the checks, it was
// made with. Taking one removes it, since a TLS 1.3 ticket is for one connection (RFC 8446
// §C.4); the resumed connection brings fresh ones. Bounded: kPerServer sessions per server,
// kServers servers. Shared by every thread; never destroyed, so that no session is freed after
// OpenSSL's own exit handlers have run.
class session_store {
public:
    static constexpr std::size_t kPerServer = 4;
    static constexpr std::size_t kServers = 64;

    static session_store& get() {
        static session_store* const s = new session_store;
        return *s;
    }
    // The index under which an SSL holds its key (a std::string owned by its transport).
    static int key_index() {
        static const int i = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        return i;
    }
    // Takes the reference to `s`.
    void put(const std::string& key, SSL_SESSION* s) noexcept {
        std::lock_guard<std::mutex> l(mu_);
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
        try {
#endif
            auto at = by_key_.find(key);
            if (at == by_key_.end()) {
                if (by_key_.size() >= kServers) drop(by_key_.begin());
                at = by_key_.emplace(key, std::deque<SSL_SESSION*>{}).first;
            }
            at->second.push_back(s);
            if (at->second.size() > kPerServer) {
                SSL_SESSION_free(at->second.front());
                at->second.pop_front();
            }
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
        } catch (...) { // out of memory: the session is not kept
            SSL_SESSION_free(s);
        }
#endif
    }
    // The newest session for `key`, or null; the caller owns the reference.
    SSL_SESSION* take(const std::string& key) noexcept {
        std::lock_guard<std::mutex> l(mu_);
        auto at = by_key_.find(key);
        if (at == by_key_.end()) return nullptr;
        SSL_SESSION* s = at->second.back();
        at->second.pop_back();
        if (at->second.empty()) by_key_.erase(at);
        return s;
    }
    // OpenSSL's new-session callback: keeps a resumable session under the connection's key.
    static int on_new_session(SSL* ssl, SSL_SESSION* s) {
        const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
        if (key == nullptr || SSL_SESSION_is_resumable(s) != 1) return 0; // OpenSSL frees it
        get().put(*key, s);
        return 1;
    }

private:
    void drop(std::map<std::string, std::deque<SSL_SESSION*>>::iterator at) noexcept {
        for (SSL_SESSION* s : at->second) SSL_SESSION_free(s);
        by_key_.erase(at);
    }
    std::mutex mu_;
    std::map<std::string, std::deque<SSL_SESSION*>> by_key_;
};

// One SSL_CTX per distinct tls_options, shared by every connection and thread (an SSL_CTX is
// safe to share once set up): the trust store is read once, not per connection.
inline std::shared_ptr<SSL_CTX> context_for(const tls_options& o, error& err) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<SSL_CTX>> made;
    std::string key = std::string(o.insecure_skip_verify ? "1" : "0") + (o.resume_sessions ? "1" : "0") + '\0' +
                      o.ca_file + '\0' + o.ca_path;
    std::lock_guard<std::mutex> l(mu);
    auto at = made.find(key);
    if (at != made.end()) return at->second;
    ERR_clear_error();
    std::shared_ptr<SSL_CTX> c(SSL_CTX_new(TLS_client_method()), ctx_free{});
    if (!c) {
        err = error(errc::tls_handshake_failed, openssl_reason("OpenSSL could not make a TLS context"));
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(c.get(), TLS1_2_VERSION);
    SSL_CTX_set_mode(c.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Read what has arrived, not one record at a time: fewer system calls, and a close_notify
    // that came with the answer is seen at once (transport::closing).
    SSL_CTX_set_read_ahead(c.get(), 1);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(c.get(), alpn, sizeof alpn);
    if (o.resume_sessions) {
        // Sessions go to session_store, under each connection's key; OpenSSL's own client
        // cache is keyed by nothing the client can control.
        SSL_CTX_set_session_cache_mode(c.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c.get(), &session_store::on_new_session);
    }
    if (o.insecure_skip_verify) {
        SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);
    } else {
        SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
        const bool own = !o.ca_file.empty() || !o.ca_path.empty();
        const int ok = own ? SSL_CTX_load_verify_locations(c.get(), o.ca_file.empty() ? nullptr : o.ca_file.c_str(),
                                                           o.ca_path.empty() ? nullptr : o.ca_path.c_str())
                           : SSL_CTX_set_default_verify_paths(c.get());
        if (ok != 1) {
            err = error(errc::certificate_rejected,
                        own ? "client_options::tls.ca_file or ca_path could not be read as PEM certificates"
                            : "the system's CA certificates could not be loaded");
            return nullptr;
        }
    }
    made.emplace(std::move(key), c);
    return c;
}

inline bool is_ip_literal(const std::string& host) noexcept {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace detail

/// A Transport (basic_client's third parameter) that speaks TLS for https URLs and plaintext
/// for http ones. See the top of this header for what it checks.
class transport {
public:
    static constexpr bool tls_capable = true;
    static constexpr bool tunnel_capable = true;

    transport() = default;
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;
    ~transport() { close(); }

    bool is_open() const noexcept { return plain_.is_open(); }
    int fd() const noexcept { return plain_.fd(); }
    /// True when the connection in use is TLS.
    bool secure() const noexcept { return ssl_ != nullptr; }
    /// How the connection in use is protected, for logs: protocol, cipher suite and what was
    /// verified, e.g. "TLSv1.3, TLS_AES_256_GCM_SHA384, certificate verified for the name",
    /// then ", session resumed" if it was; empty over plaintext. The client passes it on with event_kind::connected.
    std::string_view security() const noexcept { return ssl_ ? std::string_view(security_) : std::string_view(); }

    void close() noexcept {
        if (ssl_ && usable_ && !peer_closed_) {
            // Say goodbye (close_notify), once and without waiting: a server may log an
            // unannounced close as a truncation.
            ERR_clear_error();
            SSL_shutdown(ssl_.get());
        }
        ssl_.reset();
        ERR_clear_error();
        plain_.close();
        usable_ = false;
        peer_closed_ = false;
        clean_eof_ = true;
    }

    error open(const std::string& host, std::uint16_t port, const idem::detail::dial_settings& d) {
        close();
        const error ce = plain_.open(host, port, d);
        if (ce.code() != errc{} || !d.tls) return ce;
        if (!d.tunnel.empty()) { // host:port is a proxy: ask it for a tunnel to the origin first
            const error te = idem::detail::open_tunnel(plain_, d);
            if (te.code() != errc{}) {
                close();
                return te;
            }
        }
        error e = handshake(d, d.server_port != 0 ? d.server_port : port);
        if (e.code() != errc{}) close();
        return e;
    }

    error send_all(const char* a, std::size_t an, const char* b, std::size_t bn,
                   std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
                   std::size_t& sent, bool& readable) {
        if (!ssl_) return plain_.send_all(a, an, b, bn, timeout, deadline, sent, readable);
        readable = false;
        const std::size_t total = an + bn;
        while (sent < total) {
            const char* p;
            std::size_t len;
            if (sent < an && bn > 0 && total <= join_limit) {
                // A head and a small body go out as one record, in one system call.
                join_.assign(a + sent, an - sent).append(b, bn);
                p = join_.data();
                len = join_.size();
            } else if (sent < an) {
                p = a + sent;
                len = an - sent;
            } else {
                p = b + (sent - an);
                len = total - sent;
            }
            std::size_t k = 0;
            ERR_clear_error();
            const int r = SSL_write_ex(ssl_.get(), p, len, &k);
            if (r == 1) {
                sent += k;
                continue;
            }
            const int why = SSL_get_error(ssl_.get(), r);
            if (why != SSL_ERROR_WANT_WRITE && why != SSL_ERROR_WANT_READ) return failed(why, idem::detail::io_phase::write);
            short got = 0;
            const error w = wait(why == SSL_ERROR_WANT_WRITE ? short(POLLOUT | POLLIN) : short(POLLIN), timeout,
                                 deadline, idem::detail::io_phase::write, got, "waiting for the socket to take the request");
            if (w.code() != errc{}) return w;
            // The server answers before it has the whole request (RFC 9112 §9.5).
            if (why == SSL_ERROR_WANT_WRITE && (got & POLLIN) != 0 && (got & POLLOUT) == 0) {
                readable = true;
                return error(errc{});
            }
        }
        return error(errc{});
    }

    error receive(char* p, std::size_t n, std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
                  std::size_t& got) {
        if (!ssl_) return plain_.receive(p, n, timeout, deadline, got);
        got = 0;
        const auto start = idem::detail::now();
        const auto left = deadline - start;
        if (left.count() <= 0) return error(errc::deadline_exceeded, "before reading the response");
        const bool binds = left < timeout;
        const auto limit = binds ? left : timeout;
        const auto end = start + limit;
        // The socket's recv waits (socket_io): the whole limit for the first, so that its
        // SO_RCVTIMEO stays as it was and costs no call; after a signal, only what is left.
        io_.wait_for = limit;
        for (;;) {
            std::size_t k = 0;
            io_.wait_end = end;
            io_.timed_out = false;
            ERR_clear_error();
            const int r = SSL_read_ex(ssl_.get(), p, n, &k);
            io_.wait_end = std::chrono::nanoseconds(0);
            if (r == 1) {
                got = k;
                return error(errc{});
            }
            const int why = SSL_get_error(ssl_.get(), r);
            if (why == SSL_ERROR_WANT_READ) { // out of time, a signal, or a ticket or KeyUpdate read
                io_.wait_for = end - idem::detail::now();
                if (io_.timed_out || io_.wait_for.count() <= 0)
                    return idem::detail::timed_out(binds, idem::detail::io_phase::read, "waiting for the response");
                continue;
            }
            if (why == SSL_ERROR_WANT_WRITE) {
                short ev = 0;
                const error w = wait(POLLOUT, timeout, deadline, idem::detail::io_phase::read, ev, "waiting for the response");
                if (w.code() != errc{}) return w;
                io_.wait_for = end - idem::detail::now();
                continue;
            }
            if (why == SSL_ERROR_ZERO_RETURN) { // close_notify: a clean end
                peer_closed_ = true;
                clean_eof_ = true;
                return error(errc{});
            }
            if (io_.eof && io_.last_errno == 0) { // the TCP stream ended without close_notify
                usable_ = false;
                clean_eof_ = false;
                return error(errc{});
            }
            return failed(why, idem::detail::io_phase::read);
        }
    }

    /// An EOF from receive() that came with close_notify (or on plaintext).
    bool clean_eof() const noexcept { return clean_eof_; }

    /// Looks at an idle connection without waiting. One recv(MSG_PEEK) when nothing arrived,
    /// as on plaintext. When records did arrive, they are read without waiting: a session
    /// ticket or a KeyUpdate leaves it idle; close_notify, an EOF or an error means closed;
    /// application data nobody asked for means it must not be reused.
    idem::detail::liveness probe() noexcept {
        if (!ssl_) return plain_.probe();
        if (SSL_has_pending(ssl_.get()) != 1) {
            const idem::detail::liveness raw = plain_.probe();
            if (raw != idem::detail::liveness::stray_bytes) return raw;
        }
        return look_without_waiting();
    }

    /// After a complete response: true when the server has already said it closes (its
    /// close_notify, or bytes after the answer, already read). Costs no system call unless a
    /// record is buffered.
    bool closing() noexcept {
        if (!ssl_ || SSL_has_pending(ssl_.get()) != 1) return false;
        return look_without_waiting() != idem::detail::liveness::alive;
    }

private:
    static constexpr std::size_t join_limit = 16 * 1024;

    idem::detail::liveness look_without_waiting() noexcept {
        char c;
        std::size_t k = 0;
        ERR_clear_error();
        const int r = SSL_peek_ex(ssl_.get(), &c, 1, &k);
        if (r == 1) return idem::detail::liveness::stray_bytes;
        const int why = SSL_get_error(ssl_.get(), r);
        if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return idem::detail::liveness::alive;
        usable_ = false;
        if (why == SSL_ERROR_ZERO_RETURN) {
            peer_closed_ = true;
            return idem::detail::liveness::closed;
        }
        if (io_.eof && io_.last_errno == 0) return idem::detail::liveness::closed;
        return idem::detail::liveness::reset;
    }

    // A failed SSL call: the socket's errno if it had one, else TLS's own reason.
    error failed(int why, idem::detail::io_phase phase) noexcept {
        usable_ = false;
        if (io_.last_errno != 0) return idem::detail::sys_error(io_.last_errno, phase);
        if (io_.eof) return error(errc::unexpected_eof, "the TCP stream ended inside a TLS record");
        (void)why;
        return error(errc::tls_error, detail::openssl_reason("a TLS record or alert broke the connection"));
    }

    // Waits for `events` (at most `timeout` per wait, never past `deadline`), resuming after a
    // signal for what is left.
    error wait(short events, std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline, idem::detail::io_phase phase,
               short& got, const char* why) noexcept {
        const auto start = idem::detail::now();
        const auto left = deadline - start;
        if (left.count() <= 0) return error(errc::deadline_exceeded, why);
        const bool binds = left < timeout;
        const auto end = start + (binds ? left : timeout);
        pollfd pf{plain_.fd(), events, 0};
        for (;;) {
            const int r = ::poll(&pf, 1, idem::detail::to_poll_ms(end - idem::detail::now()));
            if (r > 0) {
                got = pf.revents;
                return error(errc{});
            }
            if (r < 0 && errno != EINTR) return idem::detail::sys_error(errno, phase);
            if (idem::detail::now() >= end) return idem::detail::timed_out(binds, phase, why);
        }
    }

    error handshake(const idem::detail::dial_settings& d, std::uint16_t port) {
        static const tls_options defaults;
        const tls_options& o = d.tls_settings != nullptr ? *d.tls_settings : defaults;
        error ce;
        ctx_ = detail::context_for(o, ce);
        if (!ctx_) return ce;
        ERR_clear_error();
        ssl_.reset(SSL_new(ctx_.get()));
        BIO* bio = detail::socket_io::method() != nullptr ? BIO_new(detail::socket_io::method()) : nullptr;
        if (!ssl_ || bio == nullptr) {
            if (bio != nullptr) BIO_free(bio);
            return error(errc::tls_handshake_failed, detail::openssl_reason("OpenSSL could not start a connection"));
        }
        io_ = detail::socket_io{};
        io_.fd = plain_.fd();
        BIO_set_data(bio, &io_);
        SSL_set_bio(ssl_.get(), bio, bio); // the SSL owns it now
        const std::string host(d.server_name);
        const bool ip = detail::is_ip_literal(host);
        if (!ip && !host.empty()) SSL_set_tlsext_host_name(ssl_.get(), host.c_str()); // SNI: names only (RFC 6066 §3)
        if (!o.insecure_skip_verify) {
            X509_VERIFY_PARAM* vp = SSL_get0_param(ssl_.get());
            X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host.c_str())
                              : X509_VERIFY_PARAM_set1_host(vp, host.c_str(), host.size());
            if (ok != 1) return error(errc::certificate_rejected, "the host cannot be checked against a certificate");
        }
        if (o.resume_sessions) {
            // A context is never freed before exit (context_for keeps it), so its address names
            // the trust settings for the life of the process.
            session_key_ = std::to_string(reinterpret_cast<std::uintptr_t>(ctx_.get())) + '\0' + host + '\0' +
                           std::to_string(port);
            SSL_set_ex_data(ssl_.get(), detail::session_store::key_index(), &session_key_);
            if (SSL_SESSION* offered = detail::session_store::get().take(session_key_)) {
                SSL_set_session(ssl_.get(), offered); // takes its own reference
                SSL_SESSION_free(offered);
            }
        }
        for (;;) {
            ERR_clear_error();
            const int r = SSL_connect(ssl_.get());
            if (r == 1) break;
            const int why = SSL_get_error(ssl_.get(), r);
            if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
                const auto t = idem::detail::now();
                if (t >= d.connect_end)
                    return idem::detail::timed_out(d.deadline_binds, idem::detail::io_phase::connect, "the TLS handshake did not finish in time");
                short got = 0;
                const error w = wait(why == SSL_ERROR_WANT_READ ? short(POLLIN) : short(POLLOUT), d.connect_end - t,
                                     d.connect_end, idem::detail::io_phase::connect, got, "the TLS handshake did not finish in time");
                if (w.code() == errc::deadline_exceeded || w.code() == errc::connect_timeout)
                    return idem::detail::timed_out(d.deadline_binds, idem::detail::io_phase::connect, "the TLS handshake did not finish in time");
                if (w.code() != errc{}) return w;
                continue;
            }
            const long v = SSL_get_verify_result(ssl_.get());
            if (v != X509_V_OK) return error(errc::certificate_rejected, X509_verify_cert_error_string(v));
            if (io_.last_errno != 0 || io_.eof)
                return error(errc::tls_handshake_failed, "the server closed the connection during the TLS handshake",
                             io_.last_errno);
            return error(errc::tls_handshake_failed, detail::openssl_reason("the TLS handshake failed"));
        }
        usable_ = true;
        const bool resumed = SSL_session_reused(ssl_.get()) == 1;
        // A TLS 1.2 session may serve again, and a resumed one brings no new one: keep it.
        if (resumed && o.resume_sessions && SSL_version(ssl_.get()) < TLS1_3_VERSION) {
            SSL_SESSION* again = SSL_get1_session(ssl_.get());
            if (again != nullptr) detail::session_store::get().put(session_key_, again);
        }
        const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_.get());
        std::snprintf(security_, sizeof security_, "%s, %s, %s%s", SSL_get_version(ssl_.get()),
                      cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "no cipher",
                      o.insecure_skip_verify ? "certificate not verified (insecure_skip_verify)"
                                             : ip ? "certificate verified for the address" : "certificate verified for the name",
                      resumed ? ", session resumed" : "");
        return error(errc{});
    }

    idem::detail::connection plain_;
    std::shared_ptr<SSL_CTX> ctx_;
    std::unique_ptr<SSL, detail::ssl_free> ssl_;
    detail::socket_io io_;
    std::string join_;
    bool usable_ = false;      // handshake done, no fatal error: close_notify may be sent
    bool peer_closed_ = false; // the server's close_notify was read
    bool clean_eof_ = true;
    char security_[160] = {}; // what security() says: "" until a handshake completes
    std::string session_key_; // where this connection's sessions are kept (session_store)
};

template <class KeepAlive = keep_alive::timeout_bounded, class Retry = retry::idempotent>
using basic_client = idem::basic_client<KeepAlive, Retry, transport>;
/// A client for http and https URLs: idem::client with TLS.
using client = basic_client<>;

template <class KeepAlive = keep_alive::timeout_bounded, class Retry = retry::idempotent>
using basic_pool = idem::basic_pool<KeepAlive, Retry, transport>;
/// A thread-safe pool for http and https URLs: idem::pool with TLS.
using pool = basic_pool<>;

} // namespace tls
} // namespace idem

#endif
