// idem: basic_pool — many threads, one origin: a thread-safe pool of connections with every
// guarantee of basic_client.
#ifndef IDEM_POOL_HPP
#define IDEM_POOL_HPP

#include "client.hpp"

#include <cstddef>
#include <ctime>
#include <pthread.h>
#include <string>
#include <vector>

namespace idem {

/// How many connections a pool keeps.
struct pool_options {
    /// Connections at once, connecting, busy and idle together; a caller that finds them all
    /// busy waits (first come, first served) until one is free or its deadline passes.
    std::size_t max_connections = 8;
    /// Idle connections kept; beyond it the oldest is closed.
    std::size_t max_idle = 8;
};

namespace detail {

// The pool's locks are POSIX ones, as its wait is: <mutex> and <condition_variable> (with the
// <memory> it pulls in) would add about 15% to the compile time of every file that includes
// idem, pool or not. Uncontended, a lock is one atomic operation and no system call.
class mutex {
public:
    mutex() noexcept = default;
    ~mutex() { pthread_mutex_destroy(&m_); }
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;
    void lock() noexcept { pthread_mutex_lock(&m_); }
    void unlock() noexcept { pthread_mutex_unlock(&m_); }
    pthread_mutex_t* native() noexcept { return &m_; }

private:
    pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

class lock_guard {
public:
    explicit lock_guard(mutex& m) noexcept : m_(m) { m_.lock(); }
    ~lock_guard() { m_.unlock(); }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;

private:
    mutex& m_;
};

// The KeepAlivePolicy every connection of a pool shares, behind a mutex: what one connection
// learns about the server, every thread knows at once.
template <class KeepAlive> struct shared_learning {
    explicit shared_learning(KeepAlive k) : ka(std::move(k)) {}
    mutable mutex mu;
    KeepAlive ka;
};

// One connection's view of the shared policy. It counts the changes this connection made, so
// each change is reported once, by the thread that made it.
template <class KeepAlive> class shared_keep_alive {
public:
    static constexpr bool persistent = KeepAlive::persistent;
    static constexpr bool probe_before_reuse = probes_before_reuse<KeepAlive>::value;

    explicit shared_keep_alive(shared_learning<KeepAlive>* s) noexcept : s_(s) {}

    bool may_reuse(const idle_connection& c, bool idempotent) {
        detail::lock_guard l(s_->mu);
        return s_->ka.may_reuse(c, idempotent);
    }
    void on_idle_close(std::chrono::nanoseconds idle_for) {
        detail::lock_guard l(s_->mu);
        const auto before = changes();
        s_->ka.on_idle_close(idle_for);
        mine_ += changes() != before;
    }
    void on_reused(std::chrono::nanoseconds idle_for) {
        detail::lock_guard l(s_->mu);
        const auto before = changes();
        notify_reused(s_->ka, idle_for, has_on_reused<KeepAlive>{});
        mine_ += changes() != before;
    }
    learned_bound learned() const {
        detail::lock_guard l(s_->mu);
        learned_bound b = learned_of(s_->ka, has_learned<KeepAlive>{});
        b.changes = mine_;
        return b;
    }

private:
    unsigned long changes() const { return learned_of(s_->ka, has_learned<KeepAlive>{}).changes; }

    shared_learning<KeepAlive>* s_;
    unsigned long mine_ = 0;
};

// What a waiting caller sleeps on: a condition variable over the pool's mutex.
class wakeup {
public:
    wakeup() noexcept {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        use_cond_clock(&a);
        pthread_cond_init(&cv_, &a);
        pthread_condattr_destroy(&a);
    }
    ~wakeup() { pthread_cond_destroy(&cv_); }
    wakeup(const wakeup&) = delete;
    wakeup& operator=(const wakeup&) = delete;

    void notify() noexcept { pthread_cond_signal(&cv_); }
    /// With `m` locked by the caller: unlocks it, sleeps until notified or `d` has passed
    /// (or spuriously), locks it again.
    void wait_for(mutex& m, std::chrono::nanoseconds d) noexcept {
        timespec ts{};
        clock_gettime(cond_clock, &ts);
        const long long total = static_cast<long long>(ts.tv_nsec) + d.count() % 1000000000LL;
        ts.tv_sec += static_cast<std::time_t>(d.count() / 1000000000LL + total / 1000000000LL);
        ts.tv_nsec = static_cast<long>(total % 1000000000LL);
        pthread_cond_timedwait(&cv_, m.native(), &ts);
    }

private:
    pthread_cond_t cv_;
};

} // namespace detail

/// A thread-safe client for one origin: any number of threads call it at once, each request
/// on a connection of its own, with every guarantee of basic_client (the probe before reuse,
/// the retry table, never a POST twice, never a half-read connection back in the pool, the
/// deadline over everything, the wait for a connection included). The most recently used idle
/// connection is handed out first, so older ones age out; one the server has closed is
/// replaced by a fresh connection, never by another idle one (older, so likely closed too),
/// and the pool closes every idle connection at least as old. Learning is shared: one
/// connection found closed at an age teaches every thread.
template <class KeepAlive = keep_alive::timeout_bounded, class Retry = retry::idempotent,
          class Transport = detail::connection>
class basic_pool : public detail::request_methods<basic_pool<KeepAlive, Retry, Transport>> {
    static_assert(detail::keep_alive_policy_asserts<KeepAlive>::value, "");
    static_assert(detail::retry_policy_asserts<Retry>::value, "");
    using lane = basic_client<detail::shared_keep_alive<KeepAlive>, Retry, Transport>;

public:
    using keep_alive_policy_type = KeepAlive;
    using retry_policy_type = Retry;

    /// A pool for the origin of `base_url`, as basic_client's constructor takes it. Each
    /// connection gets its own copy of `rp`; `ka` is shared by all.
    explicit basic_pool(std::string_view base_url, client_options o = {}, pool_options p = {},
                        KeepAlive ka = {}, Retry rp = {})
        : opts_(std::move(o)), popts_(p), learning_(std::move(ka)), retry_(std::move(rp)),
          base_(base_url) {
        detail::parse_base_url(base_url, opts_, url_, prefix_, init_error_, detail::tls_capable<Transport>::value,
                               detail::tunnel_capable<Transport>::value);
        if (init_error_.code() == errc{} && popts_.max_connections == 0)
            init_error_ = error(errc::invalid_request, "pool_options::max_connections is 0");
    }
    basic_pool(const basic_pool&) = delete;
    basic_pool& operator=(const basic_pool&) = delete;
    /// Closes every connection. No call may be in progress.
    ~basic_pool() {
        for (entry* e : entries_) delete e;
    }

    errc init_error() const noexcept { return init_error_.code(); }
    const url& origin() const noexcept { return url_; }
    const client_options& settings() const noexcept { return opts_; }
    const pool_options& limits() const noexcept { return popts_; }

    /// Counters of every call that has ended.
    client_stats stats() const {
        detail::lock_guard l(mu_);
        return totals_;
    }
    /// What the shared KeepAlivePolicy believes (a learning one; else all zero).
    learned_bound learned() const {
        detail::lock_guard l(learning_.mu);
        return detail::learned_of(learning_.ka, detail::has_learned<KeepAlive>{});
    }
    /// A copy of the shared KeepAlivePolicy, as it is now.
    KeepAlive keep_alive_policy() const {
        detail::lock_guard l(learning_.mu);
        return learning_.ka;
    }
    /// Idle connections kept now.
    std::size_t idle_connections() const {
        detail::lock_guard l(mu_);
        return idle_.size();
    }
    /// Callers waiting for a connection now.
    std::size_t waiting() const {
        detail::lock_guard l(mu_);
        std::size_t n = 0;
        for (const waiter* w = head_; w != nullptr; w = w->next) ++n;
        return n;
    }
    /// Closes every idle connection.
    void close() {
        detail::lock_guard l(mu_);
        for (entry* e : idle_) retire(e);
        idle_.clear();
    }

    /// Calls `h(event, context)` for each connection decision, from the thread that made it,
    /// so `h` must be safe to call from several threads at once. Set it before the pool is
    /// shared; nullptr turns it off.
    void set_event_handler(event_handler h, void* context) noexcept {
        handler_ = h;
        handler_ctx_ = context;
    }

private:
    friend class detail::request_methods<basic_pool>;

    struct entry {
        entry(const std::string& base, const client_options& o, detail::shared_learning<KeepAlive>* s,
              const Retry& r)
            : c(base, o, detail::shared_keep_alive<KeepAlive>(s), r) {}
        lane c;
        std::chrono::nanoseconds idle_since{0};
        client_stats reported; // c's counters when they were last added to the pool's
    };
    struct waiter {
        detail::wakeup cv;
        entry* given = nullptr;
        waiter* next = nullptr;
    };
    // Gives a connection back on every way out of a call, an exception included.
    struct lease {
        basic_pool& p;
        entry* e;
        ~lease() { p.release(e); }
    };

    result<void> send_to(const detail::request_view& r, response& out, detail::body_sink sink) {
        if (init_error_.code() != errc{}) return init_error_;
        const auto deadline = lane::deadline_from_now(opts_);
        entry* e = nullptr;
        const error ae = acquire(deadline, e);
        if (ae.code() != errc{}) return ae;
        const lease held{*this, e};
        return e->c.send_until(r, out, sink, deadline);
    }

    error acquire(std::chrono::nanoseconds deadline, entry*& out) {
        detail::lock_guard l(mu_);
        if (!idle_.empty()) { // the most recently used: LIFO
            out = idle_.back();
            idle_.pop_back();
            return error(errc{});
        }
        if (!spare_.empty()) {
            out = spare_.back();
            spare_.pop_back();
            return error(errc{});
        }
        if (entries_.size() < popts_.max_connections) {
            if (entries_.size() == entries_.capacity()) entries_.reserve(entries_.size() * 2 + 1);
            out = new entry(base_, opts_, &learning_, retry_);
            entries_.push_back(out);
            out->c.set_event_handler(&basic_pool::on_lane_event, this);
            // Room for every connection in both lists, so giving one back never allocates.
            idle_.reserve(entries_.size());
            spare_.reserve(entries_.size());
            return error(errc{});
        }
        waiter w;
        (tail_ ? tail_->next : head_) = &w;
        tail_ = &w;
        while (w.given == nullptr) {
            const auto left = deadline - detail::now();
            if (left.count() <= 0) {
                unlink(&w);
                return error(errc::pool_timeout, "every connection stayed busy until the deadline");
            }
            // Bounded, so a far deadline does not overflow the condition variable's clock.
            w.cv.wait_for(mu_, left < std::chrono::hours(1) ? left : std::chrono::nanoseconds(std::chrono::hours(1)));
        }
        out = w.given;
        return error(errc{});
    }

    void unlink(waiter* w) noexcept {
        waiter* prev = nullptr;
        for (waiter* p = head_; p != nullptr; prev = p, p = p->next) {
            if (p != w) continue;
            (prev ? prev->next : head_) = p->next;
            if (tail_ == p) tail_ = prev;
            return;
        }
    }

    void release(entry* e) noexcept {
        const client_stats now_stats = e->c.stats(); // read by the thread that holds it
        detail::lock_guard l(mu_);
        add(totals_.connections_opened, now_stats.connections_opened, e->reported.connections_opened);
        add(totals_.reuses, now_stats.reuses, e->reported.reuses);
        add(totals_.retries, now_stats.retries, e->reported.retries);
        add(totals_.stale_probes, now_stats.stale_probes, e->reported.stale_probes);
        add(totals_.stale_failures, now_stats.stale_failures, e->reported.stale_failures);
        e->reported = now_stats;
        const bool open = e->c.has_idle_connection();
        if (open) e->idle_since = detail::now();
        if (head_ != nullptr) { // straight to the first waiter
            waiter* w = head_;
            head_ = w->next;
            if (head_ == nullptr) tail_ = nullptr;
            w->given = e;
            w->cv.notify(); // under the lock: the waiter cannot be gone yet
            return;
        }
        if (!open) {
            spare_.push_back(e);
            return;
        }
        idle_.push_back(e);
        if (idle_.size() > popts_.max_idle) {
            entry* oldest = idle_.front();
            idle_.erase(idle_.begin());
            retire(oldest);
        }
    }

    static void add(unsigned long& total, unsigned long now, unsigned long before) noexcept {
        total += now - before;
    }

    // Closes an idle connection and keeps its buffers for the next one. Under mu_.
    void retire(entry* e) noexcept {
        e->c.close();
        spare_.push_back(e);
    }

    // A connection found closed at `age` says every idle one at least as old is closed too.
    void close_idle_as_old_as(std::chrono::nanoseconds age) {
        detail::lock_guard l(mu_);
        const auto now = detail::now();
        std::size_t n = 0;
        while (n < idle_.size() && now - idle_[n]->idle_since >= age) retire(idle_[n++]);
        idle_.erase(idle_.begin(), idle_.begin() + static_cast<std::ptrdiff_t>(n));
    }

    static void on_lane_event(const event& ev, void* ctx) {
        auto* p = static_cast<basic_pool*>(ctx);
        if (ev.kind == event_kind::probe_closed || ev.kind == event_kind::stale_failure)
            p->close_idle_as_old_as(ev.idle_for);
        if (p->handler_ != nullptr) p->handler_(ev, p->handler_ctx_);
    }

    client_options opts_;
    pool_options popts_;
    mutable detail::shared_learning<KeepAlive> learning_;
    Retry retry_;
    std::string base_;
    url url_;
    std::string prefix_;
    error init_error_{errc{}};

    mutable detail::mutex mu_; // guards everything below
    std::vector<entry*> entries_; // owned
    std::vector<entry*> idle_;  // oldest first
    std::vector<entry*> spare_; // no connection; buffers kept
    waiter* head_ = nullptr;
    waiter* tail_ = nullptr;
    client_stats totals_;

    event_handler handler_ = nullptr;
    void* handler_ctx_ = nullptr;
};

/// The pool with idem's defaults.
using pool = basic_pool<>;

} // namespace idem

#endif
