// Client options for tests: bounds short enough that a broken test ends quickly, long enough
// that a loaded machine does not trip them.
#ifndef IDEM_TEST_SUPPORT_OPTIONS_HPP
#define IDEM_TEST_SUPPORT_OPTIONS_HPP

#include "test_idem.hpp"

#include <chrono>

namespace idem_test {

/// Options whose connect wait is `connect`, each read and write wait `io`, and the whole call
/// `deadline`.
inline idem::client_options with_waits(std::chrono::milliseconds connect, std::chrono::milliseconds io,
                                       std::chrono::milliseconds deadline) {
    idem::client_options o;
    o.connect_timeout = connect;
    o.read_timeout = io;
    o.write_timeout = io;
    o.deadline = deadline;
    return o;
}

inline idem::client_options quick_options() {
    return with_waits(std::chrono::seconds(2), std::chrono::seconds(5), std::chrono::seconds(10));
}

/// Waits of 300 ms, for tests that prove a wait ends by its bound (a call that must end in
/// well under 1.5 s); the deadline stays long so that only the wait under test binds.
inline idem::client_options short_waits() {
    return with_waits(std::chrono::milliseconds(300), std::chrono::milliseconds(300), std::chrono::seconds(10));
}

/// Seconds since `t0`, for a bound a test checks.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace idem_test

#endif
