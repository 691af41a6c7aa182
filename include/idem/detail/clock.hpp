// idem: the clock idle ages and deadlines are measured on.
//
// Portability: each Linux-only call has a fallback for macOS and the BSDs, chosen by what the
// system defines; IDEM_FORCE_FALLBACKS picks every fallback even on Linux, so CI compiles
// them (it is for that check, not for use: on Linux it would let a write raise SIGPIPE).
//   CLOCK_BOOTTIME            -> CLOCK_MONOTONIC (idle ages then stop while the machine sleeps)
//   MSG_NOSIGNAL              -> SO_NOSIGPIPE on each socket (detail/socket.hpp)
//   SOCK_CLOEXEC              -> fcntl(FD_CLOEXEC) right after socket()
//   pthread_condattr_setclock -> timed waits on CLOCK_REALTIME (macOS has no setclock)
#ifndef IDEM_DETAIL_CLOCK_HPP
#define IDEM_DETAIL_CLOCK_HPP

#include <chrono>
#include <ctime>

#include <pthread.h>
#include <time.h>

namespace idem {
namespace detail {

/// Nanoseconds on a clock that keeps counting while the machine sleeps (CLOCK_BOOTTIME on
/// Linux), so a device waking from suspend sees its idle connections as old as they are.
inline std::chrono::nanoseconds now() noexcept {
    timespec ts{};
#if defined(CLOCK_BOOTTIME) && !defined(IDEM_FORCE_FALLBACKS)
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
#else
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// A time so far off that no call reaches it (about 73 years), and sums that cannot overflow.
constexpr std::chrono::nanoseconds far_future = std::chrono::nanoseconds::max() / 4;

/// A duration of any unit as nanoseconds, saturated to [0, far_future]: a timeout of
/// milliseconds::max() means "no limit", never an overflow.
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturated(std::chrono::duration<Rep, Period> d) noexcept {
    if (d.count() <= 0) return std::chrono::nanoseconds(0);
    if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(far_future)) return far_future;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
}

/// at + d for a time `at` on idem's clock and d in [0, far_future]: never overflows.
constexpr std::chrono::nanoseconds later(std::chrono::nanoseconds at, std::chrono::nanoseconds d) noexcept {
    return d >= far_future - at ? far_future : at + d;
}

/// Sleeps for `d` (no-op when d <= 0), resuming after signals.
inline void sleep_for(std::chrono::nanoseconds d) noexcept {
    if (d.count() <= 0) return;
    timespec ts{};
    ts.tv_sec = static_cast<std::time_t>(d.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(d.count() % 1000000000);
    while (::nanosleep(&ts, &ts) != 0) {
    }
}

/// The clock a condition variable's timed wait is measured on, and how to ask for it.
#if defined(__APPLE__) || defined(IDEM_FORCE_FALLBACKS)
constexpr clockid_t cond_clock = CLOCK_REALTIME;
inline void use_cond_clock(pthread_condattr_t*) noexcept {}
#else
constexpr clockid_t cond_clock = CLOCK_MONOTONIC;
inline void use_cond_clock(pthread_condattr_t* a) noexcept { pthread_condattr_setclock(a, CLOCK_MONOTONIC); }
#endif

} // namespace detail
} // namespace idem

#endif
