// The events a client reported (set_event_handler), by kind, for tests that count them.
#ifndef IDEM_TEST_SUPPORT_EVENTS_HPP
#define IDEM_TEST_SUPPORT_EVENTS_HPP

#include "test_idem.hpp"

#include <vector>

namespace idem_test {

struct event_log {
    std::vector<idem::event_kind> kinds;
    static void record(const idem::event& e, void* ctx) { static_cast<event_log*>(ctx)->kinds.push_back(e.kind); }
    unsigned count(idem::event_kind k) const {
        unsigned n = 0;
        for (auto x : kinds) n += x == k;
        return n;
    }
};

} // namespace idem_test

#endif
