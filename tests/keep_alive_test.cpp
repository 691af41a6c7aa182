#include "support/test_idem.hpp"

#include <chrono>

using namespace std::chrono_literals;
using idem::idle_connection;
using idem::keep_alive::disabled;
using idem::keep_alive::timeout_bounded;

namespace {
idle_connection idle(std::chrono::nanoseconds age) {
    idle_connection c;
    c.idle_for = age;
    c.exchanges = 1;
    return c;
}
} // namespace

TEST_CASE("disabled never reuses and says so on the wire") {
    CHECK(!disabled::persistent);
    CHECK(!disabled{}.may_reuse(idle(0ms), true));
}

TEST_CASE("timeout_bounded reuses only below its bound") {
    timeout_bounded p;
    CHECK(timeout_bounded::persistent);
    CHECK(p.bound() == 4500ms);
    CHECK(p.may_reuse(idle(4499ms), true));
    CHECK(!p.may_reuse(idle(4500ms), true));
    timeout_bounded q(200ms);
    CHECK(q.may_reuse(idle(199ms), true));
    CHECK(!q.may_reuse(idle(201ms), true));
}

TEST_CASE("a stricter bound for non-idempotent requests") {
    timeout_bounded p;
    p.non_idempotent_bound(1s);
    CHECK(p.may_reuse(idle(2s), true));
    CHECK(!p.may_reuse(idle(2s), false));
    CHECK(p.may_reuse(idle(500ms), false));
    p.non_idempotent_bound(0ms); // always fresh for POST
    CHECK(!p.may_reuse(idle(0ms), false));
}

TEST_CASE("the server's Keep-Alive timeout lowers the bound by a margin") {
    timeout_bounded p;
    auto c = idle(0ms);
    c.server_timeout_s = 5; // Apache and Node's default: 5 s - 1 s
    CHECK(p.hinted_bound(5) == 4s);
    c.idle_for = 3900ms;
    CHECK(p.may_reuse(c, true));
    c.idle_for = 4100ms;
    CHECK(!p.may_reuse(c, true));
    // A one-second hint keeps three quarters of it rather than nothing.
    CHECK(p.hinted_bound(1) == 750ms);
    c.server_timeout_s = 1;
    c.idle_for = 700ms;
    CHECK(p.may_reuse(c, true));
    c.idle_for = 800ms;
    CHECK(!p.may_reuse(c, true));
    // timeout=0: do not reuse at all.
    c.server_timeout_s = 0;
    c.idle_for = 0ms;
    CHECK(!p.may_reuse(c, true));
    // A generous hint never raises the configured bound.
    c.server_timeout_s = 60;
    c.idle_for = 5s;
    CHECK(!p.may_reuse(c, true));
}

TEST_CASE("the server's max= caps requests per connection") {
    timeout_bounded p;
    auto c = idle(10ms);
    c.server_max = 0; // Apache: this was the last one
    CHECK(!p.may_reuse(c, true));
    c.server_max = 99;
    c.server_max_first = 100;
    c.exchanges = 1;
    CHECK(p.may_reuse(c, true));
    // A server repeating a fixed max=5 is honoured by counting exchanges.
    c.server_max = 5;
    c.server_max_first = 5;
    c.exchanges = 5;
    CHECK(!p.may_reuse(c, true));
    c.exchanges = 4;
    CHECK(p.may_reuse(c, true));
}

// The policy takes ages as facts, so these run on a fake clock: each age is what the client
// would have measured.

TEST_CASE("learning: a close at an age never proven lowers the bound a quarter below it") {
    timeout_bounded p;
    CHECK(p.learned().why == idem::learn_reason::configured);
    p.on_idle_close(300ms);
    CHECK(p.bound() == 225ms);
    CHECK(p.learned().closed == 300ms);
    CHECK(p.learned().why == idem::learn_reason::idle_close);
    CHECK(p.learned().changes == 1);
    CHECK(!p.may_reuse(idle(260ms), true));
    CHECK(p.may_reuse(idle(200ms), true));
    p.on_idle_close(2s); // a later, older close says nothing new
    CHECK(p.bound() == 225ms);
    CHECK(p.learned().changes == 1);
    CHECK(p.initial_bound() == 4500ms);
    timeout_bounded fixed;
    fixed.learning(false);
    fixed.on_idle_close(300ms);
    CHECK(fixed.bound() == 4500ms);
    fixed.on_reused(400ms);
    CHECK(fixed.learned().changes == 0);
}

TEST_CASE("learning: an age that worked below the shortest close holds the bound up") {
    timeout_bounded p;
    p.on_reused(290ms);
    p.on_idle_close(300ms); // the race at the timeout itself: 290 ms has worked
    CHECK(p.bound() == 290ms);
    CHECK(p.learned().worked == 290ms);
}

TEST_CASE("learning: one close at an age that worked is set aside; a second confirms") {
    timeout_bounded p;
    p.on_reused(250ms);
    CHECK(p.longest_survived() == 250ms);
    p.on_idle_close(10ms); // a reset after a crash, a reload: not the idle timeout
    CHECK(p.bound() == 4500ms);
    p.on_reused(250ms); // a success between: the next close is a first one again
    p.on_idle_close(200ms);
    CHECK(p.bound() == 4500ms);
    p.on_idle_close(200ms); // twice in a row: the server's timeout went down
    CHECK(p.bound() == 150ms);
    CHECK(p.learned().why == idem::learn_reason::confirmed);
    CHECK(p.learned().worked == 0ms);
}

TEST_CASE("learning: the floor keeps one young close from turning keep-alive off") {
    timeout_bounded p;
    p.on_idle_close(50ms);
    CHECK(p.bound() == 100ms);
    CHECK(p.may_reuse(idle(60ms), true));
    p.min_bound(10ms);
    CHECK(p.bound() == 37500us);
    timeout_bounded small(50ms); // a configured bound under the floor stays as configured
    small.on_idle_close(40ms);
    CHECK(small.bound() == 50ms);
}

TEST_CASE("forgetting: a reuse older than the shortest close forgets it") {
    timeout_bounded p;
    p.on_idle_close(300ms);
    CHECK(p.bound() == 225ms);
    p.on_reused(700ms);
    CHECK(p.bound() == 4500ms);
    CHECK(p.learned().closed == 0ms);
    CHECK(p.learned().why == idem::learn_reason::forgot_close);
    CHECK(p.learned().changes == 2);
}

TEST_CASE("forgetting: a reuse just past the shortest close is the race at the timeout, not a change") {
    timeout_bounded p;
    p.on_idle_close(300ms);
    p.on_reused(320ms); // the server's timer ran late once
    CHECK(p.learned().closed == 300ms);
    CHECK(p.bound() == 300ms); // up to the close, never past it
    p.on_reused(374ms);
    CHECK(p.learned().closed == 300ms);
    p.on_reused(375ms); // a quarter older: that close was not the timeout
    CHECK(p.learned().closed == 0ms);
    CHECK(p.bound() == 4500ms);
}

TEST_CASE("forgetting: a reuse between the bound and the shortest close raises the bound to it") {
    timeout_bounded p;
    p.on_idle_close(400ms);
    CHECK(p.bound() == 300ms);
    p.on_reused(350ms);
    CHECK(p.bound() == 350ms);
    CHECK(p.learned().why == idem::learn_reason::reuse_worked);
}

TEST_CASE("exploring: every few refusals an idempotent request may reuse an older connection") {
    timeout_bounded d; // the default: every third refusal explores
    d.on_idle_close(300ms);
    CHECK(!d.may_reuse(idle(700ms), true));
    CHECK(!d.may_reuse(idle(700ms), true));
    CHECK(d.may_reuse(idle(700ms), true));
    timeout_bounded p;
    p.explore_after(4);
    p.on_idle_close(300ms);
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i) CHECK(!p.may_reuse(idle(700ms), true));
        CHECK(p.may_reuse(idle(700ms), true));
    }
    // Never for what is not idempotent, never past the configured bound or the server's hint.
    for (int i = 0; i < 20; ++i) CHECK(!p.may_reuse(idle(700ms), false));
    for (int i = 0; i < 20; ++i) CHECK(!p.may_reuse(idle(5s), true));
    auto hinted = idle(700ms);
    hinted.server_timeout_s = 0;
    for (int i = 0; i < 20; ++i) CHECK(!p.may_reuse(hinted, true));
    timeout_bounded off;
    off.on_idle_close(300ms);
    off.explore_after(0);
    for (int i = 0; i < 20; ++i) CHECK(!off.may_reuse(idle(700ms), true));
    timeout_bounded nothing_learned; // a bound never lowered has nothing to explore
    for (int i = 0; i < 20; ++i) CHECK(!nothing_learned.may_reuse(idle(4600ms), true));
}

TEST_CASE("non-idempotent requests reuse only well inside the bound") {
    timeout_bounded p;
    CHECK(timeout_bounded::non_idempotent_share(4500ms) == 3375ms);
    CHECK(p.may_reuse(idle(3374ms), false));
    CHECK(!p.may_reuse(idle(3376ms), false));
    CHECK(p.may_reuse(idle(3376ms), true));
    p.on_idle_close(400ms); // bound 300 ms: POSTs below 225 ms
    CHECK(p.may_reuse(idle(224ms), false));
    CHECK(!p.may_reuse(idle(226ms), false));
    auto hinted = idle(3900ms);
    hinted.server_timeout_s = 5; // the hint's own bound, 4 s, with its margin: POSTs below it
    timeout_bounded q;
    CHECK(q.may_reuse(hinted, false));
    hinted.idle_for = 4001ms;
    CHECK(!q.may_reuse(hinted, false));
    hinted.server_timeout_s = 2; // 1.5 s, under three quarters of the configured bound
    hinted.idle_for = 1499ms;
    CHECK(q.may_reuse(hinted, false));
    hinted.idle_for = 1501ms;
    CHECK(!q.may_reuse(hinted, false));
    hinted.idle_for = 226ms; // a close learned against the hint: its share again
    hinted.server_timeout_s = 5;
    CHECK(!p.may_reuse(hinted, false));
    hinted.idle_for = 224ms;
    CHECK(p.may_reuse(hinted, false));
    timeout_bounded w; // an age proven below the close, less a sixteenth of the close
    w.on_reused(290ms);
    w.on_idle_close(320ms);
    CHECK(w.may_reuse(idle(269ms), false));
    CHECK(!w.may_reuse(idle(271ms), false)); // 290 - 20
    w.on_reused(330ms); // past the close (the race at the timeout): the close still caps it
    CHECK(w.learned().closed == 320ms);
    CHECK(w.may_reuse(idle(299ms), false));
    CHECK(!w.may_reuse(idle(301ms), false)); // 320 - 20
    timeout_bounded r; // a close older than the hint: the server did what it said
    r.on_idle_close(2100ms);
    hinted.server_timeout_s = 2;
    hinted.idle_for = 1499ms;
    CHECK(r.may_reuse(hinted, false));
}

namespace {
struct no_members {};
struct missing_close {
    static constexpr bool persistent = true;
    bool may_reuse(const idle_connection&, bool) const { return true; }
};
struct my_retry {
    unsigned max_attempts() const { return 2; }
    bool should_retry(const idem::failed_attempt&) const { return true; }
    std::chrono::nanoseconds backoff(const idem::failed_attempt&) const { return {}; }
};
} // namespace

TEST_CASE("policy traits accept the shipped policies and reject incomplete ones") {
    using namespace idem::detail;
    CHECK(is_keep_alive_policy<disabled>());
    CHECK(is_keep_alive_policy<timeout_bounded>());
    CHECK(!is_keep_alive_policy<no_members>());
    CHECK(!is_keep_alive_policy<missing_close>());
    CHECK(!is_keep_alive_policy<idem::retry::idempotent>());
    CHECK(is_retry_policy<idem::retry::never>());
    CHECK(is_retry_policy<idem::retry::idempotent>());
    CHECK(is_retry_policy<my_retry>());
    CHECK(!is_retry_policy<no_members>());
    CHECK(!is_retry_policy<timeout_bounded>());
}
