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

/// Why a learning policy's bound last changed (see keep_alive::timeout_bounded::learned).
enum class learn_reason : unsigned char {
    configured,   ///< nothing learned: the configured bound
    idle_close,   ///< a server closed an idle connection at an age never proven to work
    confirmed,    ///< a second close at an age that had worked: the server's timeout went down
    reuse_worked, ///< a reuse older than the bound worked (an idempotent request explored)
    forgot_close, ///< a reuse older than the shortest close worked: that close is forgotten
};

/// A short static description of `r`.
inline const char* describe(learn_reason r) noexcept {
    switch (r) {
    case learn_reason::configured: return "the configured bound";
    case learn_reason::idle_close: return "a server closed an idle connection";
    case learn_reason::confirmed: return "a second close at an age that had worked";
    case learn_reason::reuse_worked: return "a reuse older than the bound worked";
    case learn_reason::forgot_close: return "a reuse older than the shortest close worked";
    }
    return "unknown";
}

/// What a learning KeepAlivePolicy believes about its server, for logs and `fetch -v`.
struct learned_bound {
    std::chrono::nanoseconds bound{0};  ///< in force for idempotent requests, before a hint
    std::chrono::nanoseconds worked{0}; ///< the longest idle age at which a reuse worked, 0: none
    std::chrono::nanoseconds closed{0}; ///< the shortest idle age found closed, 0: none
    learn_reason why = learn_reason::configured; ///< why the bound last changed
    unsigned long changes = 0;          ///< how often the bound has changed
};

/// A KeepAlivePolicy is a type with:
///   static constexpr bool persistent;   // false: "Connection: close", never keep a connection
///   bool may_reuse(const idle_connection&, bool idempotent); // may be const
///   void on_idle_close(std::chrono::nanoseconds idle_for); // the server closed one this old
/// and optionally
///   void on_reused(std::chrono::nanoseconds idle_for); // a connection this old still worked
///   learned_bound learned() const;                     // the client reports each change
///   static constexpr bool probe_before_reuse = false;   // skip the zero-wait liveness probe
/// (the probe is on by default; turning it off only makes sense for experiments).
///
/// The client calls on_idle_close only on evidence of an idle close: the probe found the
/// connection closed (EOF or reset, not stray bytes) before anything was written, or a reused
/// connection failed with no response byte shortly after the request went out (within a few
/// round trips of the connection's handshake). A reset long after the request was written is
/// a crash while processing, not an idle timeout, and teaches nothing.
namespace keep_alive {

/// One connection per request: every request says "Connection: close".
struct disabled {
    static constexpr bool persistent = false;
    bool may_reuse(const idle_connection&, bool /*idempotent*/) const noexcept { return false; }
    void on_idle_close(std::chrono::nanoseconds /*idle_for*/) noexcept {}
};

/// Reuses a connection only while its idle age is below a bound that starts a little under
/// the common 5 s server timeout (Apache httpd, Node.js), follows the server's Keep-Alive hint,
/// and learns the server's idle timeout from two facts together: the longest idle age at which
/// a reuse worked and the shortest at which the server was found closing one. It forgets what
/// the server no longer does: every few refusals an idempotent request may reuse an older
/// connection (a wrong guess costs a free retry), and a success there raises the bound.
/// Requests that are not idempotent never explore and reuse only well inside the bound.
class timeout_bounded {
public:
    static constexpr bool persistent = true;

    timeout_bounded() noexcept = default;
    explicit timeout_bounded(std::chrono::nanoseconds idle_bound) noexcept
        : bound_(idle_bound), initial_(idle_bound) {}

    /// Never reuse for non-idempotent requests beyond this age (default: no cap beyond the
    /// share of the bound below). Zero makes every POST open a fresh connection.
    timeout_bounded& non_idempotent_bound(std::chrono::nanoseconds b) noexcept {
        non_idempotent_ = b;
        return *this;
    }
    /// The most subtracted from a server's "timeout=N" hint (default 1 s, as Node's agent).
    timeout_bounded& hint_margin(std::chrono::nanoseconds m) noexcept {
        margin_ = m;
        return *this;
    }
    /// Whether to learn from closes and reuses and to explore (default on). Off: a fixed bound.
    timeout_bounded& learning(bool on) noexcept {
        learn_ = on;
        return *this;
    }
    /// The lowest bound learning may set (default 100 ms): one close at a young age (a restart,
    /// a proxy) cannot turn keep-alive off. Servers with shorter idle timeouts need it lower.
    timeout_bounded& min_bound(std::chrono::nanoseconds b) noexcept {
        floor_ = b;
        bound_ = learned_bound_now();
        return *this;
    }
    /// After this many refusals of an idle connection older than the learned bound (but inside
    /// the configured one), the next idempotent request may reuse it (default 2; 0: never). A wrong guess costs
    /// that request a probe or a retry on a fresh connection, which refusing would have opened.
    timeout_bounded& explore_after(unsigned refusals) noexcept {
        explore_after_ = refusals;
        return *this;
    }

    /// The bound in force now for idempotent requests: the configured one, or as learned.
    std::chrono::nanoseconds bound() const noexcept { return bound_; }
    std::chrono::nanoseconds initial_bound() const noexcept { return initial_; }
    /// The longest idle age at which a reused connection has worked.
    std::chrono::nanoseconds longest_survived() const noexcept { return worked_; }

    learned_bound learned() const noexcept {
        return {bound_, worked_, died_ == none() ? std::chrono::nanoseconds{0} : died_, why_, changes_};
    }

    /// The bound for a connection whose server sent "timeout=N": N minus the smaller of the
    /// margin and N/4, so short hints (timeout=1) still allow reuse. N = 0 forbids reuse.
    std::chrono::nanoseconds hinted_bound(long timeout_s) const noexcept {
        const std::chrono::nanoseconds hint = std::chrono::seconds(timeout_s);
        const auto quarter = hint / 4;
        return hint - (margin_ < quarter ? margin_ : quarter);
    }

    /// The bound for a request that is not idempotent: three quarters of `b`, the bound learned
    /// or configured, where a wrong guess about the server would cost an ambiguous failure
    /// instead of a free retry. Once a close is learned, an age that worked below it, less a
    /// sixteenth of the close, is allowed too. A server's "timeout=N" hint with no close
    /// younger than N learned is trusted as it is (hinted_bound already leaves a margin).
    static std::chrono::nanoseconds non_idempotent_share(std::chrono::nanoseconds b) noexcept {
        return b - b / 4;
    }

    bool may_reuse(const idle_connection& c, bool idempotent) noexcept {
        // Apache counts max= down to the last request it will take on the connection; a server
        // that repeats a fixed max= is honoured by counting exchanges against the first value.
        if (c.server_max == 0) return false;
        if (c.server_max_first > 0 && long(c.exchanges) >= c.server_max_first) return false;
        auto ceiling = initial_;
        if (c.server_timeout_s >= 0) {
            const auto h = hinted_bound(c.server_timeout_s);
            if (h < ceiling) ceiling = h;
        }
        const auto b = bound_ < ceiling ? bound_ : ceiling;
        if (!idempotent) {
            // The share is taken of what was learned or guessed; a server's own hint, with no
            // close younger than it learned, already carries its margin.
            const bool hint_only = c.server_timeout_s >= 0 &&
                                   (died_ == none() || died_ >= std::chrono::seconds(c.server_timeout_s));
            auto nb = hint_only ? ceiling : non_idempotent_share(bound_);
            if (!hint_only && died_ != none()) {
                // An age that worked, below the shortest close, is proven for the network and
                // the server as they are; a sixteenth of the close leaves room for both to vary.
                const auto proven = (worked_ < died_ ? worked_ : died_) - died_ / 16;
                if (proven > nb) nb = proven;
            }
            if (ceiling < nb) nb = ceiling;
            if (non_idempotent_ < nb) nb = non_idempotent_;
            return c.idle_for < nb;
        }
        if (c.idle_for < b) return true;
        // Older than what was learned, younger than what is allowed: now and then, try it.
        if (!learn_ || explore_after_ == 0 || c.idle_for >= ceiling) return false;
        if (++refused_ <= explore_after_) return false;
        refused_ = 0;
        return true;
    }

    /// A connection idle for `idle_for` was found closed by the server. A close at an age that
    /// has worked before is set aside once (a reload, a restart, the race at the timeout
    /// itself); a second one with no success between says the server's timeout went down.
    void on_idle_close(std::chrono::nanoseconds idle_for) noexcept {
        if (!learn_) return;
        learn_reason why = learn_reason::idle_close;
        if (idle_for <= worked_) {
            if (++strikes_ < 2) return;
            worked_ = std::chrono::nanoseconds{0};
            died_ = idle_for;
            why = learn_reason::confirmed;
        } else if (idle_for < died_) {
            died_ = idle_for;
        }
        strikes_ = 0;
        settle(why);
    }

    /// A reused connection idle for `idle_for` delivered a response: the server keeps
    /// connections at least this long. One clearly older than the shortest close found (by a
    /// quarter) says that close was not the idle timeout, or the server has changed: it is
    /// forgotten.
    void on_reused(std::chrono::nanoseconds idle_for) noexcept {
        strikes_ = 0;
        if (!learn_) return;
        learn_reason why = learn_reason::reuse_worked;
        // "Clearly older": a success just past the close is the race at the timeout itself.
        if (died_ != none() && idle_for >= died_ + died_ / 4) {
            died_ = none();
            why = learn_reason::forgot_close;
        }
        if (idle_for > worked_) worked_ = idle_for;
        settle(why);
    }

private:
    static constexpr std::chrono::nanoseconds none() noexcept { return std::chrono::nanoseconds::max(); }

    // The bound the evidence supports: nothing against the configured one, or a quarter under
    // the shortest close but never under an age that worked (up to that close), nor under the
    // floor.
    std::chrono::nanoseconds learned_bound_now() const noexcept {
        if (died_ == none()) return initial_;
        auto b = died_ - died_ / 4;
        const auto w = worked_ < died_ ? worked_ : died_;
        if (w > b) b = w;
        if (b < floor_) b = floor_;
        return b < initial_ ? b : initial_;
    }

    void settle(learn_reason why) noexcept {
        const auto b = learned_bound_now();
        if (b == bound_) return;
        bound_ = b;
        why_ = why;
        ++changes_;
    }

    std::chrono::nanoseconds bound_ = std::chrono::milliseconds(4500);
    std::chrono::nanoseconds initial_ = std::chrono::milliseconds(4500);
    std::chrono::nanoseconds non_idempotent_ = std::chrono::nanoseconds::max();
    std::chrono::nanoseconds margin_ = std::chrono::seconds(1);
    std::chrono::nanoseconds floor_ = std::chrono::milliseconds(100);
    std::chrono::nanoseconds worked_{0};
    std::chrono::nanoseconds died_ = none();
    learn_reason why_ = learn_reason::configured;
    unsigned long changes_ = 0;
    unsigned strikes_ = 0;
    unsigned refused_ = 0;
    unsigned explore_after_ = 2;
    bool learn_ = true;
};

} // namespace keep_alive
} // namespace idem

#endif
