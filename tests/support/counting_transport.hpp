// A real loopback transport that counts how many of its kind are open at once, so a test can
// check a pool's connection limit where the client holds it, without a server's view lagging.
#ifndef IDEM_TEST_SUPPORT_COUNTING_TRANSPORT_HPP
#define IDEM_TEST_SUPPORT_COUNTING_TRANSPORT_HPP

#include "test_idem.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace idem_test {

class counting_transport : public idem::detail::connection {
public:
    static std::atomic<int>& open_now() {
        static std::atomic<int> n{0};
        return n;
    }
    static std::atomic<int>& most_open() {
        static std::atomic<int> n{0};
        return n;
    }
    static void reset_counts() {
        open_now() = 0;
        most_open() = 0;
    }

    counting_transport() = default;
    counting_transport(const counting_transport&) = delete;
    counting_transport& operator=(const counting_transport&) = delete;
    ~counting_transport() { close(); }

    idem::error open(const std::string& host, std::uint16_t port, const idem::detail::dial_settings& d) {
        close();
        const int n = ++open_now(); // counted from the first SYN: connecting counts
        int m = most_open().load();
        while (n > m && !most_open().compare_exchange_weak(m, n)) {
        }
        idem::error e = connection::open(host, port, d);
        if (e.code() != idem::errc{}) --open_now();
        return e;
    }
    void close() noexcept {
        if (is_open()) --open_now();
        connection::close();
    }
};

} // namespace idem_test

#endif
