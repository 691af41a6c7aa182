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
    CHECK(q.may_reuse(idle(199ms), false));
    CHECK(!q.may_reuse(idle(201ms), false));
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

TEST_CASE("learning: a server caught closing an idle connection lowers the bound below that age") {
    timeout_bounded p;
    p.on_idle_close(300ms);
    CHECK(p.bound() < 300ms);
    CHECK(p.bound() == 225ms);
    CHECK(!p.may_reuse(idle(260ms), true));
    CHECK(p.may_reuse(idle(200ms), true));
    p.on_idle_close(2s); // a later, older death never raises it
    CHECK(p.bound() == 225ms);
    CHECK(p.initial_bound() == 4500ms);
    timeout_bounded fixed;
    fixed.learning(false);
    fixed.on_idle_close(300ms);
    CHECK(fixed.bound() == 4500ms);
}

TEST_CASE("learning ignores deaths far younger than an age that has already worked") {
    timeout_bounded p;
    p.on_reused(250ms);
    CHECK(p.longest_survived() == 250ms);
    p.on_idle_close(10ms); // a reset after a crash, not the idle timeout
    CHECK(p.bound() == 4500ms);
    p.on_idle_close(124ms);
    CHECK(p.bound() == 4500ms);
    // Near the proven age it is the timeout racing: some reuses win, some lose. Learn.
    p.on_reused(301ms);
    p.on_idle_close(300ms);
    CHECK(p.bound() == 225ms);
    CHECK(!p.may_reuse(idle(260ms), true));
    CHECK(p.may_reuse(idle(200ms), true));
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
