// What the test servers need from POSIX: an accept whose socket exec does not inherit, with the
// fallback for systems without accept4 (IDEM_FORCE_FALLBACKS picks it on Linux too, so it is
// compiled there), and server threads deaf to the signals a test sends.
#ifndef IDEM_TEST_SUPPORT_POSIX_HPP
#define IDEM_TEST_SUPPORT_POSIX_HPP

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <poll.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace idem_test {

/// accept(), the new socket not inherited by exec: accept4's flag on Linux, fcntl elsewhere.
inline int accept_cloexec(int listener) {
#if defined(__linux__) && defined(SOCK_CLOEXEC) && !defined(IDEM_FORCE_FALLBACKS)
    return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
#else
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#endif
}

/// A TCP socket listening on 127.0.0.1, on a port the kernel picks (into `port`).
inline int listen_on_loopback(unsigned short& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        std::abort();
    port = ntohs(a.sin_port);
    return fd;
}

/// A TCP connection to 127.0.0.1:port, or -1.
inline int connect_to_loopback(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
}

/// Called first on a server thread: it never takes the signals a test aims at the thread under
/// test (the threads it starts inherit the mask).
inline void block_test_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// A listener on 127.0.0.1 that, once started, serves each connection on a thread of its own.
/// stop() (also at destruction) ends the accepting and waits for every thread: a server calls
/// it before it frees what its threads use.
class loopback_listener {
public:
    loopback_listener() : fd_(listen_on_loopback(port_)) {}
    loopback_listener(const loopback_listener&) = delete;
    loopback_listener& operator=(const loopback_listener&) = delete;
    ~loopback_listener() {
        stop();
        ::close(fd_);
    }

    unsigned short port() const { return port_; }
    unsigned accepted() const { return accepted_; }
    /// True once stop() began: a connection's thread ends its work.
    bool stopping() const { return stop_; }

    /// `serve(fd)` runs for each connection, on its own thread, which must close fd.
    template <class Serve> void start(Serve serve) {
        acceptor_ = std::thread([this, serve] {
            block_test_signals(); // and so do the threads it starts
            while (!stop_) {
                pollfd p{fd_, POLLIN, 0};
                if (::poll(&p, 1, 20) <= 0) continue;
                const int fd = accept_cloexec(fd_);
                if (fd < 0) continue;
                ++accepted_;
                workers_.emplace_back([serve, fd] { serve(fd); });
            }
        });
    }
    void stop() {
        stop_ = true;
        if (acceptor_.joinable()) acceptor_.join(); // no thread is added after this
        for (auto& t : workers_)
            if (t.joinable()) t.join();
    }

private:
    unsigned short port_ = 0;
    int fd_;
    std::atomic<bool> stop_{false};
    std::atomic<unsigned> accepted_{0};
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

} // namespace idem_test

#endif
