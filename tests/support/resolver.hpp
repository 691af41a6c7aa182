// A resolver a test controls, in place of getaddrinfo: a slow or hung name service, on cue.
#ifndef IDEM_TEST_SUPPORT_RESOLVER_HPP
#define IDEM_TEST_SUPPORT_RESOLVER_HPP

#include "test_idem.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace idem_test {

/// A resolver a test controls: it counts its calls, can hang until released (bounded, so its
/// thread always ends), and answers with the addresses the test gives it.
struct scripted_resolver {
    std::mutex mu;
    std::condition_variable cv;
    bool hang = false;
    bool released = false;
    unsigned calls = 0;
    unsigned finished = 0;
    bool no_such_name = false; ///< with no answer: the name does not exist (else: could not ask)
    idem::address_list answer;

    static idem::error resolve(void* ctx, const char*, idem::address_list& out) {
        auto& self = *static_cast<scripted_resolver*>(ctx);
        std::unique_lock<std::mutex> l(self.mu);
        ++self.calls;
        if (self.hang) self.cv.wait_for(l, std::chrono::seconds(20), [&] { return self.released; });
        out = self.answer;
        ++self.finished;
        self.cv.notify_all();
        if (out.count) return idem::error(idem::errc{});
        return idem::error(idem::errc::resolve_failed, "no answer").set_name_not_found(self.no_such_name);
    }
    // Lets a hanging resolution end and waits for its thread, so nothing outlives the test.
    void release_and_wait() {
        std::unique_lock<std::mutex> l(mu);
        released = true;
        cv.notify_all();
        cv.wait_for(l, std::chrono::seconds(20), [&] { return finished == calls; });
    }
    void add(const char* numeric) { REQUIRE(idem::detail::parse_numeric_host(numeric, answer)); }
};

/// Makes `o` resolve names through `r`.
inline void use(idem::client_options& o, scripted_resolver& r) {
    o.resolver = &scripted_resolver::resolve;
    o.resolver_context = &r;
}

} // namespace idem_test

#endif
