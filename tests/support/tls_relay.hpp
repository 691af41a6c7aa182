// A loopback TLS front for test_server: each TLS connection it accepts gets a plaintext
// connection of its own to the backend, and bytes go both ways unchanged, so every scripted
// misbehaviour of test_server happens over TLS as well. How the backend ends a connection is
// passed on: a FIN becomes close_notify and a FIN (or a bare FIN, with close_notify off), a
// reset becomes a reset. It can also send session tickets or KeyUpdates on an idle connection.
#ifndef IDEM_TEST_SUPPORT_TLS_RELAY_HPP
#define IDEM_TEST_SUPPORT_TLS_RELAY_HPP

#include "posix.hpp"
#include "tls_certs.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace idem_test {

struct relay_config {
    const key_and_cert* identity = nullptr; ///< the certificate served; null: test_certs().good
    bool close_notify = true;               ///< say close_notify before closing
    int idle_tickets_after_ms = -1;         ///< >= 0: a session ticket this long into each idle spell
    int idle_key_update_after_ms = -1;      ///< >= 0: a KeyUpdate this long into each idle spell
    int idle_renegotiate_after_ms = -1;     ///< >= 0, under TLS 1.2: a HelloRequest this long into each idle spell
    int max_version = 0;                    ///< e.g. TLS1_2_VERSION; 0: the newest
    /// Hold what the backend sends (TCP_CORK) until it pauses or closes: an answer and the
    /// close_notify behind it then reach the client together, as from a busy server.
    bool cork = false;
};

class tls_relay {
public:
    tls_relay(unsigned short backend_port, relay_config cfg = {}) : backend_(backend_port), cfg_(cfg) {
        const key_and_cert& id = cfg_.identity ? *cfg_.identity : test_certs::get().good;
        ctx_ = SSL_CTX_new(TLS_server_method());
        if (ctx_ == nullptr || SSL_CTX_use_certificate(ctx_, id.cert) != 1 || SSL_CTX_use_PrivateKey(ctx_, id.key) != 1)
            std::abort();
        if (cfg_.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, cfg_.max_version);
        net_.start([this](int fd) { serve(fd); });
    }
    tls_relay(const tls_relay&) = delete;
    tls_relay& operator=(const tls_relay&) = delete;
    ~tls_relay() {
        net_.stop();
        SSL_CTX_free(ctx_);
    }

    unsigned short port() const { return net_.port(); }
    std::string url(const char* host = "127.0.0.1") const { return "https://" + std::string(host) + ":" + std::to_string(port()); }
    unsigned handshakes() const { return handshakes_; }       ///< completed
    unsigned failed_handshakes() const { return failed_; }
    unsigned resumed() const { return resumed_; }             ///< completed with a session resumed
    // Each counted before its record is written: a client that has seen the record sees the count.
    unsigned tickets_sent() const { return tickets_; }
    unsigned key_updates_sent() const { return key_updates_; }
    unsigned renegotiations_asked() const { return renegotiations_; }
    /// Waits until `n` connections have ended on the relay's side (their close passed on).
    bool wait_ended(unsigned n, std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return ended_ >= n; });
    }

private:
    static bool write_all(SSL* ssl, int fd, const char* p, int n) {
        for (int tries = 0; tries < 500; ++tries) { // bounded: 5 s of a client that reads nothing
            const int k = SSL_write(ssl, p, n);
            if (k > 0) return true;
            const int why = SSL_get_error(ssl, k);
            if (why != SSL_ERROR_WANT_WRITE && why != SSL_ERROR_WANT_READ) return false;
            pollfd w{fd, short(why == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
            ::poll(&w, 1, 10);
        }
        return false;
    }

    static void reset(int fd) {
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
    }

    void serve(int fd) {
        timeval tv{5, 0};
        const int one = 1; // each record goes out when written, as the backend sent it
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {
            ++failed_;
            SSL_free(ssl);
            ERR_clear_error();
            ::close(fd);
            return;
        }
        ++handshakes_;
        if (SSL_session_reused(ssl) == 1) ++resumed_;
        // From here on the relay never blocks on the client: a record half sent (a client
        // that stopped mid-upload to read an early answer) must not stall the other direction.
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
        const int be = connect_to_loopback(backend_);
        if (be < 0) std::abort();
        using clock = std::chrono::steady_clock;
        auto idle_since = clock::now();
        bool ticket_done = false, update_done = false, renegotiate_done = false;
        char buf[16384];
        bool corked = false;
        auto cork = [&](bool on) {
            if (!cfg_.cork || corked == on) return;
            const int v = on ? 1 : 0;
            ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
            corked = on;
        };
        for (;;) {
            if (net_.stopping()) {
                reset(fd);
                break;
            }
            // Something for the idle spell, when it is due.
            const auto idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - idle_since).count();
            if (!ticket_done && cfg_.idle_tickets_after_ms >= 0 && idle_ms >= cfg_.idle_tickets_after_ms) {
                ticket_done = true;
                if (SSL_new_session_ticket(ssl) == 1) { // counted before it is written, as below
                    ++tickets_;
                    SSL_do_handshake(ssl);
                    ERR_clear_error();
                }
            }
            if (!update_done && cfg_.idle_key_update_after_ms >= 0 && idle_ms >= cfg_.idle_key_update_after_ms) {
                update_done = true;
                if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1) {
                    ++key_updates_;
                    SSL_do_handshake(ssl);
                    ERR_clear_error();
                }
            }
            if (!renegotiate_done && cfg_.idle_renegotiate_after_ms >= 0 && idle_ms >= cfg_.idle_renegotiate_after_ms) {
                renegotiate_done = true;
                // a HelloRequest; the handshake itself waits for the client's answer. Counted
                // before it is written, so a client that sees it also sees the count.
                if (SSL_renegotiate(ssl) == 1) {
                    ++renegotiations_;
                    SSL_do_handshake(ssl);
                    ERR_clear_error();
                }
            }
            pollfd p[2] = {{fd, POLLIN, 0}, {be, POLLIN, 0}};
            if (SSL_pending(ssl) == 0 && ::poll(p, 2, 10) <= 0) {
                cork(false); // the backend paused: let it go
                continue;
            }
            if (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                const int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) continue; // the rest is on its way
                if (n <= 0) { // the client closed (or broke) its side: close the backend's too
                    ERR_clear_error();
                    ::close(fd);
                    break;
                }
                for (int off = 0; off < n;) {
                    const ssize_t k = ::send(be, buf + off, std::size_t(n - off), MSG_NOSIGNAL);
                    if (k <= 0) break;
                    off += int(k);
                }
                continue;
            }
            if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                const ssize_t n = ::recv(be, buf, sizeof buf, 0);
                if (n > 0) {
                    cork(true);
                    if (!write_all(ssl, fd, buf, int(n))) {
                        ERR_clear_error();
                        ::close(fd);
                        break;
                    }
                    idle_since = clock::now();
                    ticket_done = update_done = renegotiate_done = false;
                    continue;
                }
                if (n < 0 && errno == ECONNRESET) {
                    reset(fd);
                } else {
                    if (cfg_.close_notify) SSL_shutdown(ssl);
                    cork(false);
                    ::close(fd);
                }
                break;
            }
        }
        ::close(be);
        SSL_free(ssl);
        ERR_clear_error();
        std::lock_guard<std::mutex> l(mu_);
        ++ended_;
        cv_.notify_all();
    }

    unsigned short backend_;
    relay_config cfg_;
    SSL_CTX* ctx_ = nullptr;
    std::atomic<unsigned> handshakes_{0}, failed_{0}, resumed_{0}, tickets_{0}, key_updates_{0}, renegotiations_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    unsigned ended_ = 0;
    loopback_listener net_; // last: its threads end before the members above go
};

} // namespace idem_test

#endif
