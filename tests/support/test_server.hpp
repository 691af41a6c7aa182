// A loopback HTTP/1.1 server for tests that misbehaves on request: it closes idle connections
// after a timeout (FIN or RST), and each request can be answered, dropped before or after
// being "executed", cut short, delayed, or answered with raw bytes. It counts executions per
// method and per X-Request-Id, so tests can prove that nothing ran twice.
#ifndef IDEM_TEST_SUPPORT_TEST_SERVER_HPP
#define IDEM_TEST_SUPPORT_TEST_SERVER_HPP

#include "posix.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace idem_test {

using std::chrono::milliseconds;

/// What the server does with one request.
enum class action {
    respond,              ///< execute, answer 200 with the configured headers; then close if
                          ///< `close_after` (unannounced, as a server reloading does)
    close_before_execute, ///< read the request, then close (FIN) without executing: the idle race
    rst_before_execute,   ///< read the request, then reset without executing
    rst_after_execute,    ///< execute, wait `delay_for` (a crash while processing), then reset
                          ///< without answering
    eof_after_execute,    ///< execute, then close (FIN) without answering
    eof_inside_response,  ///< execute, send half a response, close
    delay,                ///< execute, wait `delay_for`, then answer
    raw,                  ///< execute, send `raw` bytes verbatim, then close if `close_after`
    drip,                 ///< execute, send `raw` one byte every `delay_for`
    respond_then_raw,     ///< execute, answer 200, then `delay_for` later send `raw` (idle bytes)
    continue_first,       ///< send "100 Continue" on the head alone, then read the body and answer
    raw_before_body,      ///< execute on the head alone: send `raw` before reading the body, then
                          ///< close (`close_after`) or hold the connection unread for 3 s
};

struct step {
    action what = action::respond;
    std::string raw;
    milliseconds delay_for{0};
    bool close_after = false;
};

struct server_config {
    milliseconds idle_timeout{1000}; ///< close a connection idle this long
    bool rst_on_idle = false;        ///< close idle connections with RST instead of FIN
    bool ipv6 = false;               ///< listen on ::1 instead of 127.0.0.1
    std::string unix_path;           ///< listen on this Unix socket instead ('@': abstract)
    std::string extra_headers;       ///< added to every 200 response, each ending in CRLF
    std::string body = "ok";         ///< the 200 response body
    unsigned rst_after_every = 0;    ///< with nothing scripted, reset after executing the Nth
                                     ///< request on each connection (a worker that crashes)
};

/// A server that closes a connection idle for `ms`.
inline server_config idle_after(milliseconds ms) {
    server_config c;
    c.idle_timeout = ms;
    return c;
}

/// Reading a request head the server saw: its request line, whether it has a field (by name,
/// in any case), and the value of a field spelled as given ("" when absent).
inline std::string request_line(const std::string& head) { return head.substr(0, head.find("\r\n")); }

inline bool has_field(const std::string& head, const std::string& name) {
    std::string h = head, n = name + ":";
    for (auto& c : h) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : n) c = char(std::tolower(static_cast<unsigned char>(c)));
    return h.find("\r\n" + n) != std::string::npos;
}

inline std::string field(const std::string& head, const std::string& name) {
    const auto at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const auto from = at + name.size() + 4;
    return head.substr(from, head.find("\r\n", from) - from);
}

class test_server {
public:
    explicit test_server(server_config cfg = {}) : cfg_(std::move(cfg)) {
        if (::pipe(stop_pipe_) != 0) std::abort();
        if (!cfg_.unix_path.empty()) {
            listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            // Built here, not with idem's own helper, so the two must agree to meet.
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            if (cfg_.unix_path.size() >= sizeof a.sun_path) std::abort();
            std::memcpy(a.sun_path, cfg_.unix_path.data(), cfg_.unix_path.size());
            socklen_t len = socklen_t(offsetof(sockaddr_un, sun_path) + cfg_.unix_path.size());
            if (cfg_.unix_path[0] == '@') a.sun_path[0] = '\0'; // abstract: exactly its bytes
            else ++len, ::unlink(cfg_.unix_path.c_str());
            if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0) std::abort();
            if (::listen(listen_fd_, 64) != 0) std::abort();
            acceptor_ = std::thread([this] { accept_loop(); });
            return;
        }
        listen_fd_ = ::socket(cfg_.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (cfg_.ipv6) {
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_addr = in6addr_loopback;
            if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
            socklen_t len = sizeof a;
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
            port_ = ntohs(a.sin6_port);
        } else {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
            socklen_t len = sizeof a;
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
            port_ = ntohs(a.sin_port);
        }
        if (::listen(listen_fd_, 64) != 0) std::abort();
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~test_server() { stop(); }
    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    unsigned short port() const { return port_; }
    std::string url() const {
        return std::string(cfg_.ipv6 ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(port_);
    }

    /// Queues what to do with the next request that arrives (on any connection).
    void push(step s) {
        std::lock_guard<std::mutex> l(mu_);
        script_.push_back(std::move(s));
    }
    void push(action a) { push(step{a, {}, milliseconds(0), false}); }
    /// What to do with the first request that carries "X-Request-Id: id" (a retry of it is
    /// answered as usual); takes precedence over the queue.
    void push_for(const std::string& id, step s) {
        std::lock_guard<std::mutex> l(mu_);
        by_id_script_[id] = std::move(s);
    }

    /// Stops accepting, ends every connection and joins every thread. Idempotent.
    void stop() {
        if (stopped_.exchange(true)) return;
        const char c = 'x';
        (void)!::write(stop_pipe_[1], &c, 1);
        acceptor_.join();
        std::vector<std::thread> ts;
        {
            std::lock_guard<std::mutex> l(mu_);
            ts.swap(workers_);
        }
        for (auto& t : ts) t.join();
        ::close(listen_fd_);
        if (!cfg_.unix_path.empty() && cfg_.unix_path[0] != '@') ::unlink(cfg_.unix_path.c_str());
        ::close(stop_pipe_[0]);
        ::close(stop_pipe_[1]);
    }

    unsigned executed(const std::string& method) const {
        std::lock_guard<std::mutex> l(mu_);
        auto it = by_method_.find(method);
        return it == by_method_.end() ? 0 : it->second;
    }
    /// Executions of requests that carried "X-Request-Id: id".
    unsigned executed_id(const std::string& id) const {
        std::lock_guard<std::mutex> l(mu_);
        auto it = by_id_.find(id);
        return it == by_id_.end() ? 0 : it->second;
    }
    /// The largest execution count of any X-Request-Id (1 means nothing ran twice).
    unsigned max_executions_per_id() const {
        std::lock_guard<std::mutex> l(mu_);
        unsigned m = 0;
        for (const auto& kv : by_id_) m = kv.second > m ? kv.second : m;
        return m;
    }
    /// How many X-Request-Ids starting with `prefix` ran at least `times` times.
    unsigned ids_executed_at_least(const std::string& prefix, unsigned times) const {
        std::lock_guard<std::mutex> l(mu_);
        unsigned n = 0;
        for (const auto& kv : by_id_) n += kv.first.compare(0, prefix.size(), prefix) == 0 && kv.second >= times;
        return n;
    }
    /// Changes the idle timeout for every wait from now on (a configuration change, a restart).
    void set_idle_timeout(milliseconds t) { idle_ms_.store(long(t.count())); }

    unsigned connections() const {
        std::lock_guard<std::mutex> l(mu_);
        return accepted_;
    }
    /// The most connections that were open at once.
    unsigned max_open_connections() const {
        std::lock_guard<std::mutex> l(mu_);
        return max_open_;
    }
    /// Connections the client closed between requests (EOF with nothing pending).
    unsigned client_closes() const {
        std::lock_guard<std::mutex> l(mu_);
        return client_closes_;
    }
    /// Waits until no connection is open; false on timeout.
    bool wait_all_closed(milliseconds timeout) const {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return open_now_ == 0; });
    }
    /// Waits until `n` requests have been read in all; false on timeout.
    bool wait_requests_seen(unsigned n, milliseconds timeout) const {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return seen_ >= n; });
    }
    unsigned requests_seen() const {
        std::lock_guard<std::mutex> l(mu_);
        return seen_;
    }
    unsigned idle_closes() const {
        std::lock_guard<std::mutex> l(mu_);
        return idle_closes_;
    }
    /// Waits until the server has closed `n` idle connections in all; false on timeout.
    bool wait_idle_closes(unsigned n, milliseconds timeout) const {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, timeout, [&] { return idle_closes_ >= n; });
    }
    /// The raw head of the last request received.
    std::string last_head() const {
        std::lock_guard<std::mutex> l(mu_);
        return last_head_;
    }
    /// The body of the last request read whole (Content-Length or chunked, decoded).
    std::string last_body() const {
        std::lock_guard<std::mutex> l(mu_);
        return last_body_;
    }
    /// The head of every request received, in order.
    std::vector<std::string> heads() const {
        std::lock_guard<std::mutex> l(mu_);
        return heads_;
    }
    /// The body of each request in heads() (empty where it was not read).
    std::vector<std::string> bodies() const {
        std::lock_guard<std::mutex> l(mu_);
        return bodies_seen_;
    }
    /// Request bodies read whole so far.
    unsigned bodies_read() const {
        std::lock_guard<std::mutex> l(mu_);
        return bodies_;
    }

private:
    // Waits for fd to become readable; false on stop or timeout (timed_out says which).
    bool wait_readable(int fd, int timeout_ms, bool& timed_out) const {
        pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        timed_out = false;
        for (;;) {
            const int r = ::poll(p, 2, timeout_ms);
            if (r < 0 && errno == EINTR) continue;
            if (r == 0) {
                timed_out = true;
                return false;
            }
            if (r < 0 || (p[1].revents & POLLIN)) return false;
            return true;
        }
    }

    void accept_loop() {
        block_test_signals();
        for (;;) {
            bool timed_out = false;
            if (!wait_readable(listen_fd_, -1, timed_out)) return;
            const int fd = accept_cloexec(listen_fd_);
            if (fd < 0) continue;
            std::lock_guard<std::mutex> l(mu_);
            ++accepted_;
            if (++open_now_ > max_open_) max_open_ = open_now_;
            workers_.emplace_back([this, fd] {
                serve(fd);
                std::lock_guard<std::mutex> l(mu_);
                --open_now_;
                cv_.notify_all();
            });
        }
    }

    static void reset_close(int fd) {
        linger lg{1, 0}; // close with RST
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
    }

    static void send_all(int fd, const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += std::size_t(n);
        }
    }

    static std::string field(const std::string& head, const char* name) {
        std::string lower_head = head, key = std::string("\n") + name + ":";
        for (auto& c : lower_head) c = char(std::tolower(static_cast<unsigned char>(c)));
        for (auto& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
        const auto p = lower_head.find(key);
        if (p == std::string::npos) return {};
        auto b = p + key.size();
        const auto e = head.find('\r', b);
        while (b < e && head[b] == ' ') ++b;
        return head.substr(b, e - b);
    }

    void record(const std::string& method, const std::string& id) {
        std::lock_guard<std::mutex> l(mu_);
        ++by_method_[method];
        if (!id.empty()) ++by_id_[id];
    }

    step peek_step() const {
        std::lock_guard<std::mutex> l(mu_);
        return script_.empty() ? step{} : script_.front();
    }

    step next_step_for(const std::string& id) {
        {
            std::lock_guard<std::mutex> l(mu_);
            auto it = id.empty() ? by_id_script_.end() : by_id_script_.find(id);
            if (it != by_id_script_.end()) {
                step s = std::move(it->second);
                by_id_script_.erase(it);
                return s;
            }
        }
        return next_step();
    }
    step next_step() {
        std::lock_guard<std::mutex> l(mu_);
        ++seen_;
        cv_.notify_all();
        if (script_.empty()) return step{};
        step s = std::move(script_.front());
        script_.pop_front();
        return s;
    }

    // Appends what one recv brings; false at EOF or on an error.
    // Moves `n` body bytes from the front of buf (reading more as needed) to `body`.
    bool read_exact(int fd, std::string& buf, std::size_t n, std::string& body) const {
        while (buf.size() < n) {
            bool timed_out = false;
            if (!wait_readable(fd, 5000, timed_out) || !receive_some(fd, buf)) return false;
        }
        body.append(buf, 0, n);
        buf.erase(0, n);
        return true;
    }
    // A line ending in CRLF from the front of buf, without it.
    bool read_line(int fd, std::string& buf, std::string& line) const {
        std::size_t e;
        while ((e = buf.find("\r\n")) == std::string::npos) {
            bool timed_out = false;
            if (buf.size() > 4096 || !wait_readable(fd, 5000, timed_out) || !receive_some(fd, buf)) return false;
        }
        line = buf.substr(0, e);
        buf.erase(0, e + 2);
        return true;
    }
    // A chunked body (RFC 9112 §7.1), strictly: hex sizes, CRLF after each chunk, no trailer.
    bool read_chunked(int fd, std::string& buf, std::string& body) const {
        for (;;) {
            std::string line;
            if (!read_line(fd, buf, line) || line.empty() ||
                line.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                return false;
            const std::size_t n = std::stoul(line, nullptr, 16);
            if (n == 0) return read_line(fd, buf, line) && line.empty();
            if (!read_exact(fd, buf, n, body) || !read_line(fd, buf, line) || !line.empty()) return false;
        }
    }

    static bool receive_some(int fd, std::string& buf) {
        char chunk[4096];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buf.append(chunk, std::size_t(n));
        return true;
    }

    void serve(int fd) {
        block_test_signals();
        std::string buf;
        unsigned on_this_connection = 0;
        for (;;) {
            // Read one request: the head, then a Content-Length body.
            std::size_t head_end;
            while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
                bool timed_out = false;
                if (!wait_readable(fd, int(idle_ms_.load()), timed_out)) {
                    if (timed_out && buf.empty()) {
                        cfg_.rst_on_idle ? reset_close(fd) : (void)::close(fd);
                        std::lock_guard<std::mutex> l(mu_);
                        ++idle_closes_;
                        cv_.notify_all();
                        return;
                    }
                    ::close(fd);
                    return;
                }
                if (!receive_some(fd, buf)) {
                    if (buf.empty()) {
                        std::lock_guard<std::mutex> l(mu_);
                        ++client_closes_;
                    }
                    ::close(fd);
                    return;
                }
            }
            const std::string head = buf.substr(0, head_end + 4);
            const std::string cl = field(head, "Content-Length");
            const std::size_t body_len = cl.empty() ? 0 : std::stoul(cl);
            bool peeked_continue = false;
            if (peek_step().what == action::continue_first) {
                next_step();
                peeked_continue = true;
                send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
            }
            if (peek_step().what == action::raw_before_body) {
                // Answer on the head alone and close with the body unread: the kernel resets
                // the connection, as a server refusing an upload (413, 401) does.
                const step s = next_step();
                {
                    std::lock_guard<std::mutex> l(mu_);
                    last_head_ = head;
                    heads_.push_back(head);
                    bodies_seen_.emplace_back();
                }
                record(head.substr(0, head.find(' ')), field(head, "X-Request-Id"));
                send_all(fd, s.raw);
                if (!s.close_after) {
                    // Hold the connection with the body unread: the client's writes stall.
                    pollfd p{stop_pipe_[0], POLLIN, 0};
                    ::poll(&p, 1, 3000);
                }
                ::close(fd);
                return;
            }
            buf.erase(0, head.size());
            std::string body;
            const bool chunked = field(head, "Transfer-Encoding") == "chunked";
            if (!(chunked ? read_chunked(fd, buf, body) : read_exact(fd, buf, body_len, body))) {
                ::close(fd);
                return;
            }
            {
                std::lock_guard<std::mutex> l(mu_);
                last_head_ = head;
                heads_.push_back(head);
                bodies_seen_.push_back(body);
                last_body_ = std::move(body);
                ++bodies_;
                cv_.notify_all();
            }
            const std::string method = head.substr(0, head.find(' '));
            const std::string id = field(head, "X-Request-Id");
            const bool client_close = field(head, "Connection") == "close";
            step s = peeked_continue ? step{} : next_step_for(id);
            ++on_this_connection;
            if (cfg_.rst_after_every > 0 && on_this_connection % cfg_.rst_after_every == 0 &&
                s.what == action::respond && s.raw.empty() && !s.close_after)
                s.what = action::rst_after_execute;
            const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: " +
                                   std::to_string(cfg_.body.size()) + "\r\n" + cfg_.extra_headers +
                                   (id.empty() ? std::string() : "X-Echo-Id: " + id + "\r\n") +
                                   (client_close ? "Connection: close\r\n" : "") + "\r\n" +
                                   (method == "HEAD" ? std::string() : cfg_.body);
            switch (s.what) {
            case action::close_before_execute: ::close(fd); return;
            case action::rst_before_execute: reset_close(fd); return;
            case action::rst_after_execute: {
                record(method, id);
                pollfd p{stop_pipe_[0], POLLIN, 0};
                if (s.delay_for.count() > 0) ::poll(&p, 1, int(s.delay_for.count()));
                reset_close(fd);
                return;
            }
            case action::eof_after_execute: record(method, id); ::close(fd); return;
            case action::eof_inside_response:
                record(method, id);
                send_all(fd, ok.substr(0, ok.size() - 1));
                ::close(fd);
                return;
            case action::delay: {
                record(method, id);
                pollfd p{stop_pipe_[0], POLLIN, 0};
                if (::poll(&p, 1, int(s.delay_for.count())) != 0) {
                    ::close(fd);
                    return;
                }
                send_all(fd, ok);
                break;
            }
            case action::drip: {
                record(method, id);
                pollfd p{stop_pipe_[0], POLLIN, 0};
                for (char ch : s.raw) {
                    if (::poll(&p, 1, int(s.delay_for.count())) != 0 ||
                        ::send(fd, &ch, 1, MSG_NOSIGNAL) != 1) {
                        ::close(fd);
                        return;
                    }
                }
                break;
            }
            case action::continue_first:  // handled before the body was read
            case action::raw_before_body:
            case action::raw:
                record(method, id);
                send_all(fd, s.raw);
                if (s.close_after) {
                    ::close(fd);
                    return;
                }
                break;
            case action::respond:
                record(method, id);
                send_all(fd, ok);
                if (s.close_after) {
                    ::close(fd);
                    return;
                }
                break;
            case action::respond_then_raw: {
                record(method, id);
                send_all(fd, ok);
                pollfd p{stop_pipe_[0], POLLIN, 0};
                if (::poll(&p, 1, int(s.delay_for.count())) == 0) send_all(fd, s.raw);
                break;
            }
            }
            if (client_close) {
                ::close(fd);
                return;
            }
        }
    }

    server_config cfg_;
    int listen_fd_ = -1;
    int stop_pipe_[2] = {-1, -1};
    unsigned short port_ = 0;
    std::atomic<bool> stopped_{false};
    std::atomic<long> idle_ms_{long(cfg_.idle_timeout.count())};
    std::thread acceptor_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    std::vector<std::thread> workers_;
    std::deque<step> script_;
    std::map<std::string, step> by_id_script_;
    std::map<std::string, unsigned> by_method_, by_id_;
    unsigned accepted_ = 0, seen_ = 0, idle_closes_ = 0, open_now_ = 0, max_open_ = 0, client_closes_ = 0;
    std::string last_head_;
    std::string last_body_;
    std::vector<std::string> heads_;
    std::vector<std::string> bodies_seen_;
    unsigned bodies_ = 0;
};

} // namespace idem_test

#endif
