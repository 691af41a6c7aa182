// A loopback HTTP proxy that makes CONNECT tunnels (RFC 9110 §9.3.6) to loopback ports, or
// misbehaves as told: refuses, never answers, sends bytes after its answer, or answers with
// something that is not HTTP. It records each CONNECT head it reads. A tunnel passes bytes
// both ways unchanged and passes on a FIN as a FIN, so a TLS server's close_notify and close
// reach the client as they were sent.
#ifndef IDEM_TEST_SUPPORT_CONNECT_PROXY_HPP
#define IDEM_TEST_SUPPORT_CONNECT_PROXY_HPP

#include "posix.hpp"

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

enum class proxy_answer {
    tunnel,              ///< 200, then the tunnel
    interim_then_tunnel, ///< a 100 and the 200 in one write, then the tunnel
    refuse_407,          ///< 407 with Proxy-Authenticate, then a close
    silent,              ///< reads the CONNECT and never answers
    bytes_after,         ///< 200 and bytes right behind it
    not_http,            ///< a line that is not an HTTP status line
    endless_head,        ///< a 200 whose head goes on past any bound, the connection kept open
};

class connect_proxy {
public:
    explicit connect_proxy(proxy_answer a = proxy_answer::tunnel) : answer_(a) {
        net_.start([this](int fd) { serve(fd); });
    }
    connect_proxy(const connect_proxy&) = delete;
    connect_proxy& operator=(const connect_proxy&) = delete;
    ~connect_proxy() { net_.stop(); }

    /// The proxy URL, with "user:password@" when given.
    std::string url(const std::string& userinfo = {}) const {
        return "http://" + userinfo + "127.0.0.1:" + std::to_string(net_.port());
    }
    unsigned connections() const { return net_.accepted(); } ///< accepted
    unsigned tunnels() const { return tunnels_; }         ///< opened to a backend
    /// Waits until the backend's side of `n` tunnels has closed and the close was passed on.
    bool wait_backend_closes(unsigned n, std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return backend_closes_ >= n; });
    }
    /// Waits until `n` CONNECT heads have been read.
    bool wait_heads(std::size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return heads_.size() >= n; });
    }
    /// Every CONNECT head read, in order.
    std::vector<std::string> heads() const {
        std::lock_guard<std::mutex> l(mu_);
        return heads_;
    }

private:
    static bool send_all(int fd, const std::string& s) {
        for (std::size_t off = 0; off < s.size();) {
            const ssize_t k = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (k <= 0) return false;
            off += std::size_t(k);
        }
        return true;
    }

    // Reads up to the blank line (bounded in time and size); false if it never came.
    bool read_head(int fd, std::string& head) {
        char c[512];
        for (int waits = 0; waits < 250 && !net_.stopping(); ++waits) { // 5 s at most
            if (head.find("\r\n\r\n") != std::string::npos) return true;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const ssize_t n = ::recv(fd, c, sizeof c, 0);
            if (n <= 0) return false;
            head.append(c, std::size_t(n));
            if (head.size() > 65536) return false;
        }
        return head.find("\r\n\r\n") != std::string::npos;
    }

    // Keeps the connection open, reading and dropping what comes, until the client closes it
    // or the proxy stops.
    void hold(int fd) {
        while (!net_.stopping()) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 20) > 0) {
                char c[256];
                if (::recv(fd, c, sizeof c, 0) <= 0) break;
            }
        }
        ::close(fd);
    }

    // The port of "CONNECT host:port HTTP/1.1": the tunnel always goes to loopback.
    static int target_port(const std::string& head) {
        const auto sp = head.find(' ', 8);
        const auto colon = head.rfind(':', sp);
        if (head.compare(0, 8, "CONNECT ") != 0 || sp == std::string::npos || colon == std::string::npos) return -1;
        return std::atoi(head.substr(colon + 1, sp - colon - 1).c_str());
    }

    void serve(int fd) {
        std::string head;
        if (!read_head(fd, head)) {
            ::close(fd);
            return;
        }
        {
            std::lock_guard<std::mutex> l(mu_);
            heads_.push_back(head.substr(0, head.find("\r\n\r\n") + 4));
            cv_.notify_all();
        }
        switch (answer_) {
        case proxy_answer::refuse_407:
            send_all(fd, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n"
                         "Content-Length: 0\r\n\r\n");
            ::close(fd);
            return;
        case proxy_answer::not_http:
            send_all(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
            ::close(fd);
            return;
        case proxy_answer::endless_head: {
            // 64 KiB of fields and no blank line: the client must stop at its own bound, as
            // neither an end of head nor an EOF ever comes.
            std::string pad = "HTTP/1.1 200 Connection established\r\n";
            while (pad.size() < 65536) pad += "X-Pad: " + std::string(100, 'p') + "\r\n";
            send_all(fd, pad);
            hold(fd);
            return;
        }
        case proxy_answer::silent:
            hold(fd);
            return;
        default: break;
        }
        const int port = target_port(head);
        const int be = port > 0 && port < 65536 ? connect_to_loopback(static_cast<unsigned short>(port)) : -1;
        if (be < 0) {
            send_all(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            ::close(fd);
            return;
        }
        ++tunnels_;
        const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        if (answer_ == proxy_answer::interim_then_tunnel) send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n" + ok);
        else if (answer_ == proxy_answer::bytes_after) send_all(fd, ok + "\x16\x03\x03");
        else send_all(fd, ok);
        relay(fd, be);
    }

    // Bytes both ways until both sides have closed; a FIN is passed on as a FIN.
    void relay(int client, int backend) {
        bool client_open = true, backend_open = true;
        char buf[16384];
        while (!net_.stopping() && (client_open || backend_open)) {
            pollfd p[2] = {{client, short(client_open ? POLLIN : 0), 0}, {backend, short(backend_open ? POLLIN : 0), 0}};
            if (::poll(p, 2, 20) <= 0) continue;
            for (int i = 0; i < 2; ++i) {
                if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const int from = i == 0 ? client : backend, to = i == 0 ? backend : client;
                const ssize_t n = ::recv(from, buf, sizeof buf, 0);
                if (n > 0) {
                    if (!send_all(to, std::string(buf, std::size_t(n)))) client_open = backend_open = false;
                    continue;
                }
                ::shutdown(to, SHUT_WR);
                (i == 0 ? client_open : backend_open) = false;
                if (i == 1) {
                    std::lock_guard<std::mutex> l(mu_);
                    ++backend_closes_;
                    cv_.notify_all();
                }
            }
        }
        ::close(backend);
        ::close(client);
    }

    proxy_answer answer_;
    std::atomic<unsigned> tunnels_{0};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    unsigned backend_closes_ = 0;
    std::vector<std::string> heads_;
    loopback_listener net_; // last: its threads end before the members above go
};

} // namespace idem_test

#endif
