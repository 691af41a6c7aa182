// idem: keep-alive policies — whether an idle connection may carry the next request.
#ifndef IDEM_KEEP_ALIVE_HPP
#define IDEM_KEEP_ALIVE_HPP

#include <chrono>

namespace idem {

/// What the client knows about an idle connection when it asks a KeepAlivePolicy to reuse it.
struct idle_connection {
    std::chrono::nanoseconds idle_for{0}; ///< since the last response ended
    unsigned exchanges = 0;               ///< completed on this connection
    long server_timeout_s = -1;           ///< the server's "Keep-Alive: timeout=N", or -1
    long server_max = -1;                 ///< the latest "Keep-Alive: max=M", or -1
    long server_max_first = -1;           ///< the first "max=M" this connection saw, or -1
};

/// A KeepAlivePolicy is a type with:
///   static constexpr bool persistent;   // false: "Connection: close", never keep a connection
///   bool may_reuse(const idle_connection&, bool idempotent) const;
///   void on_idle_close(std::chrono::nanoseconds idle_for); // the server closed one this old
/// and optionally
///   void on_reused(std::chrono::nanoseconds idle_for); // a connection this old still worked
///   static constexpr bool probe_before_reuse = false;   // skip the zero-wait liveness probe
/// (the probe is on by default; turning it off only makes sense for experiments).
namespace keep_alive {

/// One connection per request: every request says "Connection: close".
struct disabled {
    static constexpr bool persistent = false;
    bool may_reuse(const idle_connection&, bool /*idempotent*/) const noexcept { return false; }
    void on_idle_close(std::chrono::nanoseconds /*idle_for*/) noexcept {}
};

/// Reuses a connection only while its idle age is below a bound that starts a little under
/// the common 5 s server timeout (Apache httpd, Node.js), follows the server's Keep-Alive hint,
/// and is lowered whenever a server is caught closing an idle connection.
class timeout_bounded {
public:
    static constexpr bool persistent = true;

    timeout_bounded() noexcept = default;
    explicit timeout_bounded(std::chrono::nanoseconds idle_bound) noexcept
        : bound_(idle_bound), initial_(idle_bound) {}

    /// Never reuse for non-idempotent requests beyond this age (default: the same bound).
    /// Zero makes every POST open a fresh connection.
    timeout_bounded& non_idempotent_bound(std::chrono::nanoseconds b) noexcept {
        non_idempotent_ = b;
        return *this;
    }
    /// The most subtracted from a server's "timeout=N" hint (default 1 s, as Node's agent).
    timeout_bounded& hint_margin(std::chrono::nanoseconds m) noexcept {
        margin_ = m;
        return *this;
    }
    /// Whether to lower the bound after a server closed an idle connection (default on).
    timeout_bounded& learning(bool on) noexcept {
        learn_ = on;
        return *this;
    }

    /// The bound in force now: the configured one, or lower if learned.
    std::chrono::nanoseconds bound() const noexcept { return bound_; }
    std::chrono::nanoseconds initial_bound() const noexcept { return initial_; }

    /// The bound for a connection whose server sent "timeout=N": N minus the smaller of the
    /// margin and N/4, so short hints (timeout=1) still allow reuse. N = 0 forbids reuse.
    std::chrono::nanoseconds hinted_bound(long timeout_s) const noexcept {
        const std::chrono::nanoseconds hint = std::chrono::seconds(timeout_s);
        const auto quarter = hint / 4;
        return hint - (margin_ < quarter ? margin_ : quarter);
    }

    bool may_reuse(const idle_connection& c, bool idempotent) const noexcept {
        auto b = bound_;
        if (!idempotent && non_idempotent_ < b) b = non_idempotent_;
        if (c.server_timeout_s >= 0) {
            const auto h = hinted_bound(c.server_timeout_s);
            if (h < b) b = h;
        }
        // Apache counts max= down to the last request it will take on the connection; a server
        // that repeats a fixed max= is honoured by counting exchanges against the first value.
        if (c.server_max == 0) return false;
        if (c.server_max_first > 0 && long(c.exchanges) >= c.server_max_first) return false;
        return c.idle_for < b;
    }

    /// A connection idle for `idle_for` was found closed by the server (probe or failed reuse):
    /// the server's timeout is at most that. Settle a quarter below it, so the next request
    /// does not race the same server again. A death at less than half an idle age that has
    /// already worked is not the idle timeout (a restart, a reset after a crash) and teaches
    /// nothing. (Deaths near a proven age do teach: at the timeout itself, some reuses win
    /// the race and some lose it.)
    void on_idle_close(std::chrono::nanoseconds idle_for) noexcept {
        if (!learn_ || idle_for < survived_ / 2) return;
        const auto lowered = idle_for - idle_for / 4;
        if (lowered < bound_) bound_ = lowered;
    }

    /// A reused connection idle for `idle_for` delivered a response: the server keeps
    /// connections at least this long.
    void on_reused(std::chrono::nanoseconds idle_for) noexcept {
        if (idle_for > survived_) survived_ = idle_for;
    }

    /// The longest idle age at which a reused connection has worked.
    std::chrono::nanoseconds longest_survived() const noexcept { return survived_; }

private:
    std::chrono::nanoseconds bound_ = std::chrono::milliseconds(4500);
    std::chrono::nanoseconds initial_ = std::chrono::milliseconds(4500);
    std::chrono::nanoseconds non_idempotent_ = std::chrono::nanoseconds::max();
    std::chrono::nanoseconds margin_ = std::chrono::seconds(1);
    std::chrono::nanoseconds survived_{0};
    bool learn_ = true;
};

} // namespace keep_alive
} // namespace idem

#endif
