// A transport that is a real loopback connection, except where a test scripts a fault: the
// next write fails with an errno after a number of bytes, or the next probe reports a given
// result. Deterministic where timing on a real socket is not.
#ifndef IDEM_TEST_SUPPORT_FAULT_TRANSPORT_HPP
#define IDEM_TEST_SUPPORT_FAULT_TRANSPORT_HPP

#include "test_idem.hpp"

#include <cstddef>

namespace idem_test {

class fault_transport : public idem::detail::connection {
public:
    /// The next send_all hands `after_bytes` bytes to the real socket, then fails with `err`.
    void fail_next_send(int err, std::size_t after_bytes) {
        send_errno_ = err;
        send_after_ = after_bytes;
    }
    /// The next probe reports `l` without looking at the socket.
    void next_probe(idem::detail::liveness l) {
        probe_ = l;
        probe_set_ = true;
    }

    idem::error send_all(const char* a, std::size_t an, const char* b, std::size_t bn,
                         std::chrono::nanoseconds timeout, std::chrono::nanoseconds deadline,
                         std::size_t& sent, bool& readable) {
        if (send_errno_ == 0)
            return connection::send_all(a, an, b, bn, timeout, deadline, sent, readable);
        const int e = send_errno_;
        send_errno_ = 0;
        const std::size_t ta = send_after_ < an ? send_after_ : an;
        const std::size_t tb = send_after_ - ta < bn ? send_after_ - ta : bn;
        if (ta + tb != 0) {
            const auto r = connection::send_all(a, ta, b, tb, timeout, deadline, sent, readable);
            if (r.code() != idem::errc{}) return r;
        }
        return idem::detail::sys_error(e, idem::detail::io_phase::write);
    }

    idem::detail::liveness probe() noexcept {
        if (!probe_set_) return connection::probe();
        probe_set_ = false;
        return probe_;
    }

private:
    int send_errno_ = 0;
    std::size_t send_after_ = 0;
    idem::detail::liveness probe_ = idem::detail::liveness::alive;
    bool probe_set_ = false;
};

} // namespace idem_test

#endif
