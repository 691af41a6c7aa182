// Peers that never make progress, and a timer that keeps interrupting the calling thread:
// what a hostile network and a busy process do to a blocking call.
#ifndef IDEM_TEST_SUPPORT_STALL_HPP
#define IDEM_TEST_SUPPORT_STALL_HPP

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace idem_test {

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
/// hangs as it does to a host that drops packets. `port` 0 picks one; ok() says whether the
/// address could be bound (::1 may be missing, or the port taken).
class hanging_listener {
public:
    explicit hanging_listener(bool ipv6, unsigned short port = 0, const char* ipv4 = "127.0.0.1") {
        fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage a{};
        socklen_t len = 0;
        if (ipv6) {
            auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
            a6->sin6_family = AF_INET6;
            a6->sin6_addr = in6addr_loopback;
            a6->sin6_port = htons(port);
            len = sizeof *a6;
            const int one = 1;
            ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        } else {
            auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
            a4->sin_family = AF_INET;
            ::inet_pton(AF_INET, ipv4, &a4->sin_addr);
            a4->sin_port = htons(port);
            len = sizeof *a4;
        }
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 0) != 0)
            return;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                           : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
        // A backlog of 0 holds one connection: fill it, and every later SYN is dropped.
        filler_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(filler_, reinterpret_cast<sockaddr*>(&a), len);
        for (int i = 0; i < 200; ++i) { // bounded: the handshake completes within microseconds
            pollfd p{filler_, POLLOUT, 0};
            if (::poll(&p, 1, 10) == 1) break;
        }
        ok_ = true;
    }
    ~hanging_listener() {
        if (filler_ >= 0) ::close(filler_);
        if (fd_ >= 0) ::close(fd_);
    }
    hanging_listener(const hanging_listener&) = delete;
    hanging_listener& operator=(const hanging_listener&) = delete;

    bool ok() const { return ok_; }
    unsigned short port() const { return port_; }

private:
    int fd_ = -1, filler_ = -1;
    unsigned short port_ = 0;
    bool ok_ = false;
};

/// A listener that never accepts: a client's connect completes (into the kernel's backlog), its
/// writes stall once the buffers fill, and nothing it sends is ever answered.
class silent_reader {
public:
    silent_reader() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 4) != 0) std::abort();
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~silent_reader() { ::close(fd_); }
    unsigned short port() const { return port_; }

private:
    int fd_ = -1;
    unsigned short port_ = 0;
};

/// Sends SIGALRM to the process every `period` from a POSIX interval timer, at most `limit`
/// times, while it lives. The handler is installed without SA_RESTART, as a profiler's or a
/// supervisor's often is. Test servers block SIGALRM in their threads, so it interrupts
/// the thread under test.
class signal_ticker {
public:
    explicit signal_ticker(std::chrono::milliseconds period, unsigned limit = 500) {
        ticks_.store(0);
        limit_ = limit;
        struct sigaction sa{};
        sa.sa_handler = &on_tick;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; // no SA_RESTART
        ::sigaction(SIGALRM, &sa, &old_);
        sigevent ev{};
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGALRM;
        if (::timer_create(CLOCK_MONOTONIC, &ev, &timer()) != 0) std::abort();
        itimerspec its{};
        its.it_interval.tv_sec = period.count() / 1000;
        its.it_interval.tv_nsec = (period.count() % 1000) * 1000000;
        its.it_value = its.it_interval;
        ::timer_settime(timer(), 0, &its, nullptr);
    }
    ~signal_ticker() {
        ::timer_delete(timer());
        ::sigaction(SIGALRM, &old_, nullptr);
    }
    signal_ticker(const signal_ticker&) = delete;
    signal_ticker& operator=(const signal_ticker&) = delete;

    static unsigned ticks() { return ticks_.load(); }

private:
    static timer_t& timer() {
        static timer_t t;
        return t;
    }
    static void on_tick(int) {
        // timer_settime is async-signal-safe: the ticker stops itself at its limit, so a call
        // that never ends without the fix still lets the test end (and fail).
        if (ticks_.fetch_add(1) + 1 >= limit_) {
            itimerspec off{};
            ::timer_settime(timer(), 0, &off, nullptr);
        }
    }

    static inline std::atomic<unsigned> ticks_{0};
    static inline unsigned limit_ = 0;
    struct sigaction old_{};
};

} // namespace idem_test

#endif
