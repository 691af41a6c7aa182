// basic_pool: many threads on one origin, with every guarantee of basic_client.
// IDEM_LONG_TESTS=1 runs the stress cases at full length (8 threads x 200 requests); the
// default is 8 x 25, for CI and the mutation gate.
#include "support/test_idem.hpp"
#include "support/counting_transport.hpp"
#include "support/options.hpp"
#include "support/test_server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::idle_after;
using idem_test::server_config;
using idem_test::step;
using idem_test::test_server;

namespace {

int per_thread(int quick) {
    const char* v = std::getenv("IDEM_LONG_TESTS");
    return v != nullptr && *v == '1' ? 200 : quick;
}

// Lets threads wait for each other: each arrives, and waits until `n` have.
class latch {
public:
    explicit latch(int n) : left_(n) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> l(mu_);
        if (--left_ <= 0) cv_.notify_all();
        cv_.wait_for(l, 10s, [&] { return left_ <= 0; });
    }
    void arrive() {
        std::lock_guard<std::mutex> l(mu_);
        if (--left_ <= 0) cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds t) {
        std::unique_lock<std::mutex> l(mu_);
        return cv_.wait_for(l, t, [&] { return left_ <= 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int left_;
};

// A reusable barrier: every round, all threads set out together.
class rounds {
public:
    explicit rounds(int n) : n_(n) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> l(mu_);
        const unsigned gen = gen_;
        if (++in_ == n_) {
            in_ = 0;
            ++gen_;
            cv_.notify_all();
            return;
        }
        cv_.wait_for(l, 10s, [&] { return gen_ != gen; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int n_, in_ = 0;
    unsigned gen_ = 0;
};

struct tally {
    std::atomic<int> get_failures{0}, post_failures{0}, garbled{0}, ambiguous_unsaid{0};
};

// One thread's share of a stress run: alternating GET and POST, each with its own id, each
// answer checked against that id.
template <class Pool> void hammer(Pool& p, int thread, int n, int lo_ms, int hi_ms, tally& t, rounds* together) {
    std::mt19937 rng(unsigned(thread) * 7919u + 1u);
    std::uniform_int_distribution<int> gap(lo_ms, hi_ms);
    for (int i = 0; i < n; ++i) {
        if (together != nullptr) together->arrive_and_wait();
        if (hi_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap(rng))); // the age under test
        const bool post = i % 2 == 1;
        const std::string id = std::string(post ? "p-" : "g-") + std::to_string(thread) + "-" + std::to_string(i);
        auto r = post ? p.post("/", "x", {{"X-Request-Id", id}}) : p.get("/", {{"X-Request-Id", id}});
        if (!r) {
            ++(post ? t.post_failures : t.get_failures);
            if (post && !r.error().may_have_executed() && r.error().bytes_written() != idem::written::none)
                ++t.ambiguous_unsaid;
            continue;
        }
        if (r->status != 200 || r->header("X-Echo-Id") != id) ++t.garbled;
    }
}

// Polls the pool's own count of waiting callers (the state under test), for at most 5 s.
template <class Pool> bool waiters_reach(const Pool& p, std::size_t n) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (p.waiting() < n) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::yield();
    }
    return p.waiting() == n;
}

// Sends `n` GETs from `n` threads that are all inside a response at once (each body sink
// waits for the others), so the pool must open `n` connections; returns when all are back.
void hold_at_once(idem::pool& p, int n) {
    latch all(n);
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i)
        ts.emplace_back([&] {
            idem::response out;
            idem::request rq{"GET", "/", {}, {}};
            bool waited = false;
            CHECK(p.send(rq, out, [&](const char*, std::size_t) {
                if (!waited) all.arrive_and_wait();
                waited = true;
                return true;
            }));
        });
    for (auto& t : ts) t.join();
}

using counted_pool = idem::basic_pool<idem::keep_alive::timeout_bounded, idem::retry::idempotent,
                                      idem_test::counting_transport>;

} // namespace

TEST_CASE("a pool reuses its most recent connection and counts what it did") {
    test_server s;
    idem::pool p{s.url(), idem_test::quick_options()};
    REQUIRE(p.init_error() == errc{});
    REQUIRE(p.get("/"));
    REQUIRE(p.post("/", "x"));
    REQUIRE(p.get("/"));
    CHECK(s.connections() == 1);
    CHECK(p.stats().connections_opened == 1);
    CHECK(p.stats().reuses == 2);
    CHECK(p.idle_connections() == 1);
    p.close();
    CHECK(p.idle_connections() == 0);
    CHECK(s.wait_all_closed(5s));

    idem::pool none{s.url(), {}, idem::pool_options{0, 0}};
    CHECK(none.init_error() == errc::invalid_request);
    CHECK(!none.get("/"));
    idem::pool bad{"ftp://x/"};
    CHECK(bad.init_error() == errc::unsupported_scheme);
}

TEST_CASE("a pool hands out the most recently used idle connection (LIFO)") {
    test_server s;
    idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{2, 2}};
    // Two connections at once: each thread's sink waits until both are inside a response;
    // the second gives its connection back 100 ms after the first.
    latch both(2);
    latch first_done(1);
    auto hold = [&](bool second) {
        idem::response out;
        idem::request rq{"GET", "/", {}, {}};
        bool waited = false;
        auto r = p.send(rq, out, [&](const char*, std::size_t) {
            if (!waited) {
                both.arrive_and_wait();
                if (second) {
                    first_done.wait(10s);
                    std::this_thread::sleep_for(100ms); // the age difference under test
                }
            }
            waited = true;
            return true;
        });
        CHECK(r);
        if (!second) first_done.arrive();
    };
    std::thread a(hold, false);
    std::thread b(hold, true);
    a.join();
    b.join();
    REQUIRE(s.connections() == 2);
    REQUIRE(p.idle_connections() == 2);
    std::vector<std::chrono::nanoseconds> reused_at;
    p.set_event_handler([](const idem::event& e, void* ctx) {
        if (e.kind == idem::event_kind::reused) static_cast<std::vector<std::chrono::nanoseconds>*>(ctx)->push_back(e.idle_for);
    }, &reused_at);
    std::this_thread::sleep_for(50ms); // ages under test
    REQUIRE(p.get("/"));
    REQUIRE(p.get("/"));
    REQUIRE(reused_at.size() == 2);
    // The first took the younger of the two (about 50 ms idle, not 150), the second the one
    // the first had just given back.
    CHECK(reused_at[0] < 120ms);
    CHECK(reused_at[1] < 40ms);
}

TEST_CASE("a pool never opens more than max_connections; a caller waits, first come first served") {
    test_server s;
    idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{1, 1}};
    latch release_a(1);
    std::vector<std::string> order;
    std::mutex mu;
    auto done = [&](const char* who) {
        std::lock_guard<std::mutex> l(mu);
        order.push_back(who);
    };
    std::thread a([&] {
        idem::response out;
        idem::request rq{"GET", "/", {}, {}};
        bool waited = false;
        CHECK(p.send(rq, out, [&](const char*, std::size_t) {
            if (!waited) {
                done("a");
                release_a.wait(10s);
            }
            waited = true;
            return true;
        }));
    });
    REQUIRE(s.wait_requests_seen(1, 5s));
    // The order is taken while each call holds the connection (its sink sees the body), not
    // after it returns: b's thread may be scheduled after c has been served on b's connection.
    auto served = [&](const char* who) {
        idem::response out;
        idem::request rq{"GET", "/", {{"X-Request-Id", who}}, {}};
        bool seen = false;
        CHECK(p.send(rq, out, [&](const char*, std::size_t) {
            if (!seen) done(who);
            seen = true;
            return true;
        }));
    };
    std::thread b([&] { served("b"); });
    // b is queued once the pool says so; then c queues behind it.
    CHECK(waiters_reach(p, 1));
    std::thread c([&] { served("c"); });
    CHECK(waiters_reach(p, 2));
    release_a.arrive();
    a.join();
    b.join();
    c.join();
    REQUIRE(order.size() == 3);
    CHECK(order[0] == "a");
    CHECK(order[1] == "b");
    CHECK(order[2] == "c");
    CHECK(s.connections() == 1); // a's connection went straight to b, then to c
    CHECK(s.max_open_connections() == 1);
    CHECK(p.waiting() == 0);
}

TEST_CASE("a caller that waits past its deadline gets pool_timeout, and nothing was sent") {
    test_server s;
    auto o = idem_test::quick_options();
    o.deadline = 300ms;
    idem::pool p{s.url(), o, idem::pool_options{1, 1}};
    latch b_done(1);
    std::thread a([&] {
        idem::response out;
        idem::request rq{"GET", "/", {}, {}};
        bool waited = false;
        (void)p.send(rq, out, [&](const char*, std::size_t) {
            if (!waited) b_done.wait(10s);
            waited = true;
            return true;
        });
    });
    REQUIRE(s.wait_requests_seen(1, 5s));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = p.post("/", "x", {{"X-Request-Id", "late"}});
    const auto took = std::chrono::steady_clock::now() - t0;
    b_done.arrive();
    a.join();
    REQUIRE(!r);
    CHECK(r.error() == errc::pool_timeout);
    CHECK(std::error_code(r.error().code()) == std::errc::timed_out);
    CHECK(!r.error().may_have_executed());
    CHECK(r.error().bytes_written() == idem::written::none);
    CHECK(s.executed_id("late") == 0);
    CHECK(took >= 250ms);
    CHECK(p.waiting() == 0);
}

TEST_CASE("a connection found closed retires every idle one as old, and teaches every thread") {
    test_server s(idle_after(100ms));
    idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{3, 3}};
    hold_at_once(p, 3);
    REQUIRE(p.idle_connections() == 3);
    REQUIRE(s.wait_idle_closes(3, 5s));
    REQUIRE(p.get("/"));
    CHECK(p.stats().stale_probes == 1);
    CHECK(p.idle_connections() == 1); // the fresh one; the two older were closed unprobed
    CHECK(p.learned().closed > 0ns);
    CHECK(p.learned().bound < p.keep_alive_policy().initial_bound());
    REQUIRE(p.get("/"));
    CHECK(p.stats().stale_probes == 1);
}

TEST_CASE("a pool destroyed with idle connections closes them") {
    test_server s;
    {
        idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{3, 3}};
        hold_at_once(p, 3);
        REQUIRE(p.idle_connections() == 3);
    }
    CHECK(s.wait_all_closed(5s));
    CHECK(s.client_closes() == 3);
}

TEST_CASE("a sink that throws gives the connection back closed, and the pool goes on") {
    test_server s;
    idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{1, 1}};
    REQUIRE(p.get("/"));
    REQUIRE(p.idle_connections() == 1);
    idem::response out;
    const idem::request rq{"GET", "/", {}, {}};
    bool thrown = false;
    try {
        (void)p.send(rq, out, [](const char*, std::size_t) -> bool { throw 42; });
    } catch (int) {
        thrown = true;
    }
    CHECK(thrown);
    CHECK(p.idle_connections() == 0); // closed mid-response: never back in the pool open
    REQUIRE(p.get("/"));               // the one slot was given back: no wait, no pool_timeout
    CHECK(s.connections() == 2);
    CHECK(p.waiting() == 0);
}

TEST_CASE("max_idle: beyond it the oldest idle connection is closed") {
    test_server s;
    idem::pool p{s.url(), idem_test::quick_options(), idem::pool_options{3, 1}};
    hold_at_once(p, 3);
    CHECK(p.idle_connections() == 1);
    CHECK(s.wait_requests_seen(3, 5s));
    REQUIRE(p.get("/"));
    CHECK(p.stats().reuses == 1);
    CHECK(s.connections() == 3);
}

TEST_CASE("eight threads through the idle race: no GET fails, no POST runs twice, no answer garbled") {
    test_server s(idle_after(300ms));
    // Rounds: all eight set out together, so up to eight connections are in use at once, then
    // each waits 200-310 ms: every connection comes back to the pool near the server's timeout.
    idem_test::counting_transport::reset_counts();
    counted_pool p{s.url(), idem_test::quick_options(), idem::pool_options{8, 8}};
    tally t;
    const int n = per_thread(12);
    rounds together(8);
    std::vector<std::thread> ts;
    for (int th = 0; th < 8; ++th)
        ts.emplace_back(hammer<counted_pool>, std::ref(p), th, n, 200, 310, std::ref(t), &together);
    for (auto& x : ts) x.join();
    CHECK(t.get_failures == 0);
    CHECK(t.garbled == 0);
    CHECK(t.ambiguous_unsaid == 0);
    CHECK(s.ids_executed_at_least("p-", 2) == 0);
    CHECK(idem_test::counting_transport::most_open() <= 8);
    CHECK(p.stats().reuses > 0);
    MESSAGE("idle race, 8 threads x " << n << ": " << t.post_failures.load() << " POST failures, "
            << p.stats().connections_opened << " connections, " << p.stats().stale_probes << " probes found closed");
}

TEST_CASE("eight threads against a server that resets after executing every 5th request") {
    test_server s;
    idem_test::counting_transport::reset_counts();
    counted_pool p{s.url(), idem_test::quick_options(), idem::pool_options{4, 4}};
    const int n = per_thread(25);
    for (int th = 0; th < 8; ++th)
        for (int i = 4; i < n; i += 5) {
            const bool post = i % 2 == 1;
            s.push_for(std::string(post ? "p-" : "g-") + std::to_string(th) + "-" + std::to_string(i),
                       step{action::rst_after_execute, "", 0ms, false});
        }
    tally t;
    std::vector<std::thread> ts;
    for (int th = 0; th < 8; ++th) ts.emplace_back(hammer<counted_pool>, std::ref(p), th, n, 0, 3, std::ref(t), nullptr);
    for (auto& x : ts) x.join();
    CHECK(t.get_failures == 0);
    CHECK(t.garbled == 0);
    CHECK(t.ambiguous_unsaid == 0);
    CHECK(s.ids_executed_at_least("p-", 2) == 0);
    CHECK(s.ids_executed_at_least("g-", 3) == 0);
    CHECK(idem_test::counting_transport::most_open() <= 4);
    CHECK(idem_test::counting_transport::most_open() >= 2); // the threads did overlap
    CHECK(t.post_failures > 0); // the scripted resets did reach POSTs, and were reported
}
