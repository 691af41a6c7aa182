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

} // namespace idem_test

#endif
