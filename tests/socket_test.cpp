// The socket layer under a hostile process and network: periodic signals during connect,
// write and read; a resolver that never answers; an address whose connects hang.
#include "support/test_idem.hpp"
#include "support/options.hpp"
#include "support/resolver.hpp"
#include "support/stall.hpp"
#include "support/test_server.hpp"

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::hanging_listener;
using idem_test::scripted_resolver;
using idem_test::seconds_since;
using idem_test::short_waits;
using idem_test::signal_ticker;
using idem_test::silent_reader;
using idem_test::step;
using idem_test::test_server;
using idem_test::use;

namespace {

std::string loopback_url(unsigned short port) { return "http://127.0.0.1:" + std::to_string(port); }

using once_client = idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never>;

} // namespace

// Before each wait resumed for what was left, every tick of a 20 ms timer restarted a 300 ms
// wait, and no call ended while the timer ran (it stops itself after 500 ticks, 10 s).
TEST_CASE("a periodic signal cannot stretch a wait: only what is left is waited") {
    SUBCASE("read: a server that never answers") {
        test_server s;
        s.push(step{action::delay, {}, 3000ms, false});
        once_client c{s.url(), short_waits()};
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::read_timeout);
        CHECK(signal_ticker::ticks() >= 5);
        CHECK(took < 1.5);
    }
    SUBCASE("read: the call's deadline") {
        test_server s;
        s.push(step{action::delay, {}, 3000ms, false});
        auto o = short_waits();
        o.read_timeout = 5s;
        o.deadline = 400ms;
        once_client c{s.url(), o};
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::deadline_exceeded);
        CHECK(took < 1.5);
    }
    SUBCASE("write: a server that never reads a large upload") {
        silent_reader s;
        once_client c{loopback_url(s.port()), short_waits()};
        const std::string body(64u << 20, 'x'); // far more than loopback buffers hold
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.put("/", body);
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::write_timeout);
        CHECK(r.error().bytes_written() == idem::written::partial);
        CHECK(took < 1.5);
    }
    SUBCASE("connect: an address whose SYNs are dropped") {
        hanging_listener l(false);
        REQUIRE(l.ok());
        once_client c{loopback_url(l.port()), short_waits()};
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::connect_timeout);
        CHECK(!r.error().may_have_executed());
        CHECK(took < 1.5);
    }
}

TEST_CASE("a resolver that never answers cannot hold a call past its deadline") {
    static scripted_resolver res; // outlives the abandoned resolution by design
    res.hang = true;
    res.released = false; // each subcase runs the test case again
    res.answer.count = 0;
    res.add("127.0.0.1");
    SUBCASE("the deadline binds: deadline_exceeded, while resolving") {
        auto o = short_waits();
        o.connect_timeout = 10s;
        o.deadline = 300ms;
        use(o, res);
        once_client c{"http://never.test:80", o};
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::deadline_exceeded);
        CHECK(r.error().message().find("resolving") != std::string::npos);
        CHECK(!r.error().may_have_executed());
        CHECK(took < 1.5);
    }
    SUBCASE("the connect timeout binds: connect_timeout, while resolving") {
        auto o = short_waits();
        use(o, res);
        once_client c{"http://never.test:80", o};
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::connect_timeout);
        CHECK(r.error().message().find("resolving") != std::string::npos);
        CHECK(seconds_since(t0) < 1.5);
    }
    res.release_and_wait();
    CHECK(res.finished == res.calls);
}

TEST_CASE("names go through the resolver; numeric hosts never do") {
    test_server s;
    scripted_resolver res;
    res.add("127.0.0.1");
    auto o = short_waits();
    use(o, res);
    {
        once_client c{s.url(), o}; // http://127.0.0.1:port
        REQUIRE(c.get("/"));
    }
    CHECK(res.calls == 0);
    {
        once_client c{"http://service.test:" + std::to_string(s.port()), o};
        auto r = c.get("/");
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(res.calls == 1);
    CHECK(s.last_head().find("Host: service.test:") != std::string::npos);
    res.release_and_wait();
}

TEST_CASE("a name that does not exist is asked once; a resolver that could not answer is asked again") {
    for (bool no_such_name : {true, false}) {
        CAPTURE(no_such_name);
        scripted_resolver res; // no answer
        res.no_such_name = no_such_name;
        auto o = short_waits();
        use(o, res);
        idem::client c{"http://nowhere.test", o, {}, idem::retry::idempotent{3}.backoff(1ms, 1ms)};
        auto r = c.post("/", "x");
        REQUIRE(!r);
        CHECK(r.error() == errc::resolve_failed);
        CHECK(r.error().name_not_found() == no_such_name);
        CHECK(!r.error().may_have_executed());
        CHECK(r.error().attempts() == (no_such_name ? 1u : 3u));
        CHECK(res.calls == (no_such_name ? 1u : 3u));
        res.release_and_wait();
    }
}

TEST_CASE("addresses race (RFC 8305): a hanging ::1 does not starve 127.0.0.1") {
    test_server s; // 127.0.0.1:P
    hanging_listener v6(true, s.port()); // [::1]:P, SYNs dropped
    if (!v6.ok()) {
        MESSAGE("skipped: ::1 unavailable or port taken");
        return;
    }
    scripted_resolver res;
    res.add("::1");
    res.add("127.0.0.1");
    auto o = short_waits();
    o.connect_timeout = 3s;
    o.deadline = 3s;
    use(o, res);
    once_client c{"http://dual.test:" + std::to_string(s.port()), o};
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.get("/");
    const double took = seconds_since(t0);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(took < 2.0); // about the 250 ms attempt delay
    res.release_and_wait();
}

TEST_CASE("addresses race: a refused address starts the next at once") {
    test_server s;
    scripted_resolver res;
    res.add("127.0.0.2"); // nothing listens there: refused at once
    res.add("127.0.0.1");
    auto o = short_waits();
    o.connection_attempt_delay = 5s; // only a failure can start the second attempt in time
    o.deadline = 2s;
    use(o, res);
    once_client c{"http://two.test:" + std::to_string(s.port()), o};
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->status == 200);
    res.release_and_wait();
}

TEST_CASE("addresses race: a failure while another attempt is in flight starts the next at once") {
    test_server s;                                   // 127.0.0.1:P serves
    hanging_listener stuck(false, s.port(), "127.0.0.3"); // 127.0.0.3:P hangs
    REQUIRE(stuck.ok());
    scripted_resolver res;
    res.add("127.0.0.3"); // starts at once and hangs
    res.add("127.0.0.2"); // starts a delay later and is refused: the third must start then
    res.add("127.0.0.1");
    auto o = short_waits();
    o.connection_attempt_delay = 600ms;
    o.connect_timeout = 1000ms; // past one delay, short of two
    use(o, res);
    once_client c{"http://three.test:" + std::to_string(s.port()), o};
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->status == 200);
    res.release_and_wait();
}

TEST_CASE("every address failing reports the last failure") {
    scripted_resolver res;
    res.add("127.0.0.2");
    res.add("127.0.0.3");
    auto o = short_waits();
    use(o, res);
    once_client c{"http://none.test:9", o};
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::connection_refused);
    CHECK(!r.error().may_have_executed());
    res.release_and_wait();
}

TEST_CASE("addresses are tried with the families interleaved, the resolver's first family first") {
    auto order_of = [](std::initializer_list<const char*> hosts) {
        idem::address_list a;
        for (const char* h : hosts) REQUIRE(idem::detail::parse_numeric_host(h, a));
        std::size_t order[idem::address_list::capacity];
        const std::size_t n = idem::detail::interleave_families(a, order);
        return std::vector<std::size_t>(order, order + n);
    };
    using v = std::vector<std::size_t>;
    CHECK(order_of({"::1", "::2", "::3", "127.0.0.1", "127.0.0.2"}) == v{0, 3, 1, 4, 2});
    CHECK(order_of({"127.0.0.1", "::1", "::2", "::3"}) == v{0, 1, 2, 3});
    CHECK(order_of({"::1", "127.0.0.1"}) == v{0, 1});
    CHECK(order_of({"127.0.0.1", "127.0.0.2"}) == v{0, 1});
    CHECK(order_of({"10.0.0.1", "::1", "10.0.0.2", "::2", "10.0.0.3"}) == v{0, 1, 2, 3, 4});
    CHECK(order_of({"::1"}) == v{0});
    CHECK(order_of({}).empty());
}
