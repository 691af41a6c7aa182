// idem: name resolution under a deadline. Numeric hosts never reach the resolver; names are
// resolved on a helper thread whose late answer is abandoned, so a resolver that hangs cannot
// hold a call past its deadline (docs/deadlines.md says why this design and not another).
#ifndef IDEM_DETAIL_RESOLVE_HPP
#define IDEM_DETAIL_RESOLVE_HPP

#include "../error.hpp"
#include "clock.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

namespace idem {

/// The addresses a host name resolved to, in the resolver's order of preference.
struct address_list {
    static constexpr std::size_t capacity = 16;
    sockaddr_storage addr[capacity];
    socklen_t len[capacity];
    std::size_t count = 0;

    /// Appends an address (the port is the caller's to set); false when full or not IP.
    bool add(const sockaddr* a, socklen_t n) noexcept {
        if (count == capacity || n > sizeof(sockaddr_storage)) return false;
        if (a->sa_family != AF_INET && a->sa_family != AF_INET6) return false;
        std::memcpy(&addr[count], a, n);
        len[count++] = n;
        return true;
    }
    int family(std::size_t i) const noexcept { return addr[i].ss_family; }
};

/// A resolver: fills `out` with the addresses of `host` (the port is set by the caller) and
/// returns an error without one when that fails (resolve_failed, with set_name_not_found(true)
/// when the name does not exist, so that it is not asked again). It runs on a helper thread and may outlive
/// the call that started it, so `context` must outlive every resolution.
using resolver_function = error (*)(void* context, const char* host, address_list& out);

namespace detail {

/// getaddrinfo's EAI_* → an error with getaddrinfo's own words as the reason.
inline error gai_to_error(int rc, int sys) noexcept {
    switch (rc) {
    case EAI_SYSTEM: return error(errc::system_error, "getaddrinfo failed", sys);
    case EAI_MEMORY: return error(errc::out_of_memory, "getaddrinfo ran out of memory");
    case EAI_NONAME:
#if defined(EAI_NODATA) && EAI_NODATA != EAI_NONAME
    case EAI_NODATA:
#endif
#if defined(EAI_ADDRFAMILY)
    case EAI_ADDRFAMILY:
#endif
        return error(errc::resolve_failed, ::gai_strerror(rc)).set_name_not_found(true);
    default: return error(errc::resolve_failed, ::gai_strerror(rc)); // a static string
    }
}

/// The default resolver: getaddrinfo, TCP addresses of either family.
inline error system_resolve(void*, const char* host, address_list& out) noexcept {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host, nullptr, &hints, &list);
    if (rc != 0) return gai_to_error(rc, errno);
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next)
        out.add(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen));
    ::freeaddrinfo(list);
    if (out.count == 0) return error(errc::resolve_failed, "the name has no IPv4 or IPv6 address").set_name_not_found(true);
    return error(errc{});
}

/// A literal IPv4 or IPv6 address, parsed without the resolver. False for a name.
inline bool parse_numeric_host(const char* host, address_list& out) noexcept {
    sockaddr_in a4{};
    if (::inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        return out.add(reinterpret_cast<const sockaddr*>(&a4), sizeof a4);
    }
    sockaddr_in6 a6{};
    if (::inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        return out.add(reinterpret_cast<const sockaddr*>(&a6), sizeof a6);
    }
    return false;
}

/// One resolution shared by the caller and its helper thread; whichever lets go last frees it.
struct resolve_job {
    std::atomic<int> refs{2};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    bool done = false;
    resolver_function fn = nullptr;
    void* context = nullptr;
    char host[256] = {};
    address_list out;
    error err;

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            pthread_cond_destroy(&cv);
            pthread_mutex_destroy(&mu);
            delete this;
        }
    }

    static void* run(void* p) noexcept {
        auto* job = static_cast<resolve_job*>(p);
        address_list found;
        const error e = job->fn(job->context, job->host, found);
        pthread_mutex_lock(&job->mu);
        job->out = found;
        job->err = e;
        job->done = true;
        pthread_cond_signal(&job->cv);
        pthread_mutex_unlock(&job->mu);
        job->release();
        return nullptr;
    }
};

/// Resolves `host` into `out` by `deadline` (on idem's clock); `timeout_binds` says whether the
/// connect timeout, not the call's deadline, ends the wait. The helper thread starts with every
/// signal blocked, so it never runs the process's signal handlers.
inline error resolve(const char* host, resolver_function fn, void* context,
                     std::chrono::nanoseconds deadline, bool timeout_binds, address_list& out) {
    out.count = 0;
    if (parse_numeric_host(host, out)) return error(errc{});
    if (std::strlen(host) >= sizeof resolve_job::host) // RFC 1035 §2.3.4: 255 octets at most
        return error(errc::invalid_url, "host name longer than 255 characters");
    auto* job = new (std::nothrow) resolve_job;
    if (!job) return error(errc::out_of_memory, "no memory for the resolver");
    std::strcpy(job->host, host);
    job->fn = fn ? fn : &system_resolve;
    job->context = context;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    use_cond_clock(&ca);
    pthread_cond_init(&job->cv, &ca);
    pthread_condattr_destroy(&ca);

    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    const int rc = pthread_create(&t, &ta, &resolve_job::run, job);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&ta);
    if (rc != 0) {
        job->refs.store(1, std::memory_order_relaxed);
        job->release();
        return error(errc::system_error, "could not start the resolver thread", rc);
    }

    // The wait is measured on the condition variable's clock (CLOCK_MONOTONIC where it can
    // be chosen); the deadline is on idem's clock, so convert the time left once.
    timespec mono{};
    ::clock_gettime(cond_clock, &mono);
    auto left = deadline - now();
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    const auto until = std::chrono::seconds(mono.tv_sec) + std::chrono::nanoseconds(mono.tv_nsec) + left;
    timespec abs{};
    abs.tv_sec = static_cast<time_t>(until.count() / 1000000000);
    abs.tv_nsec = static_cast<long>(until.count() % 1000000000);

    pthread_mutex_lock(&job->mu);
    int wr = 0;
    while (!job->done && wr != ETIMEDOUT) wr = pthread_cond_timedwait(&job->cv, &job->mu, &abs);
    const bool done = job->done;
    if (done) out = job->out;
    const error e = job->err;
    pthread_mutex_unlock(&job->mu);
    job->release(); // a late answer is abandoned: the thread frees the job when it ends
    if (!done)
        return timeout_binds ? error(errc::connect_timeout, "timed out resolving the host name")
                             : error(errc::deadline_exceeded, "the deadline passed while resolving the host name");
    return e;
}

} // namespace detail
} // namespace idem

#endif
