// idem: the one owner of "may this connection carry another request?" (RFC 9112 §9.3) — what
// the last exchange allowed, the server's Keep-Alive hint, how many exchanges the connection
// has carried and since when it is idle. The client asks it; the KeepAlivePolicy decides on
// the facts it gives.
#ifndef IDEM_DETAIL_CONNECTION_STATE_HPP
#define IDEM_DETAIL_CONNECTION_STATE_HPP

#include "../keep_alive.hpp"
#include "../parser.hpp"
#include "../reader.hpp"
#include "../request.hpp"
#include "../response.hpp"

#include <chrono>
#include <cstddef>

namespace idem {
namespace detail {

class connection_state {
public:
    /// A new connection, resolved and connected in `handshake`: nothing carried yet, no hint.
    void opened(std::chrono::nanoseconds handshake) noexcept {
        handshake_ = handshake;
        exchanges_ = 0;
        hint_ = {};
        max_first_ = -1;
    }

    std::chrono::nanoseconds idle_for(std::chrono::nanoseconds now) const noexcept { return now - idle_since_; }

    /// How soon after a request goes out a reused connection's failure is the server's idle
    /// close: four handshakes (a round trip or so each), between 100 ms and 500 ms. A failure
    /// later than that is the server failing at the request.
    std::chrono::nanoseconds idle_close_window() const noexcept {
        const auto w = handshake_ * 4;
        if (w < std::chrono::milliseconds(100)) return std::chrono::milliseconds(100);
        if (w > std::chrono::milliseconds(500)) return std::chrono::milliseconds(500);
        return w;
    }

    /// The facts a KeepAlivePolicy decides on, for a connection idle for `idle_for`.
    idle_connection facts(std::chrono::nanoseconds idle_for) const noexcept {
        return {idle_for, exchanges_, hint_.timeout_s, hint_.max, max_first_};
    }

    /// After a complete response: whether the connection may carry another request. Both
    /// sides must allow it (the request's and the response's Connection, HTTP/1.0 rules), the
    /// whole request must have gone out, the body must have ended by its framing (a body that
    /// ends at EOF has framing that says so: must_close), and nothing may follow it — bytes
    /// after a complete response are never read as the next one.
    static bool exchange_allows_reuse(bool persistent, const request_view& r, const response& out,
                                      const response_reader& rd, bool request_all_sent,
                                      std::size_t stray) noexcept {
        if (!persistent || !request_all_sent || stray != 0) return false;
        if (!response_allows_reuse(out, rd.framing())) return false;
        for (const auto& h : r.headers)
            if (iequals(h.name, "Connection") && list_has_token(h.value, "close")) return false;
        return true;
    }

    /// Records an exchange after which the connection is kept, ending at `now`.
    void kept(const response& out, std::chrono::nanoseconds now) {
        idle_since_ = now;
        ++exchanges_;
        if (auto ka = field_value(out, field_kind::keep_alive); !ka.empty()) {
            hint_ = parse_keep_alive(ka);
            if (max_first_ < 0) max_first_ = hint_.max;
        }
    }

private:
    std::chrono::nanoseconds idle_since_{0};
    std::chrono::nanoseconds handshake_{0};
    unsigned exchanges_ = 0;
    keep_alive_hint hint_;
    long max_first_ = -1;
};

} // namespace detail
} // namespace idem

#endif
