// Client options for tests: bounds short enough that a broken test ends quickly, long enough
// that a loaded machine does not trip them.
#ifndef IDEM_TEST_SUPPORT_OPTIONS_HPP
#define IDEM_TEST_SUPPORT_OPTIONS_HPP

#include "test_idem.hpp"

#include <chrono>

namespace idem_test {

inline idem::client_options quick_options() {
    idem::client_options o;
    o.connect_timeout = std::chrono::seconds(2);
    o.read_timeout = std::chrono::seconds(5);
    o.write_timeout = std::chrono::seconds(5);
    o.deadline = std::chrono::seconds(10);
    return o;
}

/// Waits of 300 ms, for tests that prove a wait ends by its bound (a call that must end in
/// well under 1.5 s); the deadline stays long so that only the wait under test binds.
inline idem::client_options short_waits() {
    idem::client_options o;
    o.connect_timeout = std::chrono::milliseconds(300);
    o.read_timeout = std::chrono::milliseconds(300);
    o.write_timeout = std::chrono::milliseconds(300);
    o.deadline = std::chrono::seconds(10);
    return o;
}

/// Seconds since `t0`, for a bound a test checks.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace idem_test

#endif
