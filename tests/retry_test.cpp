#include "support/test_idem.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using idem::errc;
using idem::error;
using idem::failed_attempt;
using idem::written;

namespace {
error make(errc c, bool reused, written w, bool started = false) {
    error e(c);
    e.set_reused(reused).set_written(w).set_response_started(started);
    return e;
}
} // namespace

TEST_CASE("the retry table of DESIGN: each rule, both kinds of request") {
    struct row {
        const char* rule;
        error e;
        bool idempotent_retry, post_retry;
    };
    const row table[] = {
        {"connect refused, nothing sent", make(errc::connection_refused, false, written::none), true, true},
        {"resolve failed (the resolver could not answer), nothing sent", make(errc::resolve_failed, false, written::none), true, true},
        {"the name does not exist", make(errc::resolve_failed, false, written::none).set_name_not_found(true), false, false},
        {"connect timeout, nothing sent", make(errc::connect_timeout, false, written::none), true, true},
        {"reused, first write failed before any byte", make(errc::broken_pipe, true, written::none), true, true},
        {"reused, EOF before any response byte", make(errc::server_closed_idle, true, written::all), true, false},
        {"reused, RST before any response byte", make(errc::connection_reset, true, written::all), true, false},
        {"reused, EPIPE after part of the request", make(errc::broken_pipe, true, written::partial), true, false},
        {"fresh, EOF after the request was sent", make(errc::unexpected_eof, false, written::all), true, false},
        {"fresh, RST after the request was sent", make(errc::connection_reset, false, written::all), true, false},
        {"fresh, read timeout", make(errc::read_timeout, false, written::all), false, false},
        {"reused, read timeout (not the race)", make(errc::read_timeout, true, written::all), false, false},
        {"response started, then EOF", make(errc::unexpected_eof, true, written::all, true), false, false},
        {"response started, then RST", make(errc::connection_reset, false, written::all, true), false, false},
        {"malformed response", make(errc::malformed_response, true, written::all, true), false, false},
        {"deadline passed", make(errc::deadline_exceeded, false, written::none), false, false},
        {"invalid request", make(errc::invalid_request, false, written::none), false, false},
        {"the proxy refused the tunnel, nothing sent", make(errc::proxy_refused, false, written::none), false, false},
    };
    const idem::retry::idempotent policy;
    // Rule 0 holds whatever the facts say: such an answer is never worth sending again.
    for (errc c : {errc::invalid_url, errc::unsupported_scheme, errc::invalid_request,
                   errc::malformed_response, errc::header_too_large, errc::too_many_headers,
                   errc::body_too_large, errc::line_too_long, errc::sink_aborted,
                   errc::body_source_failed, errc::invalid_socket_path, errc::too_many_redirects,
                   errc::redirect_loop, errc::invalid_redirect, errc::tls_handshake_failed,
                   errc::certificate_rejected, errc::proxy_refused, errc::deadline_exceeded}) {
        CAPTURE(c);
        for (written w : {written::none, written::all})
            CHECK(!policy.should_retry(failed_attempt{make(c, false, w), true, 1}));
    }
    for (const auto& r : table) {
        CAPTURE(r.rule);
        CHECK(policy.should_retry(failed_attempt{r.e, true, 1}) == r.idempotent_retry);
        CHECK(policy.should_retry(failed_attempt{r.e, false, 1}) == r.post_retry);
        CHECK(!idem::retry::never{}.should_retry(failed_attempt{r.e, true, 1}));
    }
}

TEST_CASE("rule 5 and rule 6 are settings, and apply to idempotent requests only") {
    const auto reset = make(errc::connection_reset, false, written::all);
    const auto timeout = make(errc::read_timeout, false, written::all);
    const auto stale = make(errc::server_closed_idle, true, written::all);
    auto strict = idem::retry::idempotent{}.retry_fresh_failures(false);
    CHECK(!strict.should_retry(failed_attempt{reset, true, 1}));
    CHECK(strict.should_retry(failed_attempt{stale, true, 1})); // rule 4 stays
    auto patient = idem::retry::idempotent{}.retry_timeouts(true);
    CHECK(patient.should_retry(failed_attempt{timeout, true, 1}));
    CHECK(!patient.should_retry(failed_attempt{timeout, false, 1}));
    const auto started = make(errc::read_timeout, false, written::all, true);
    CHECK(!patient.should_retry(failed_attempt{started, true, 1}));
}

TEST_CASE("backoff: none after a stale connection; bounded, jittered exponential otherwise") {
    idem::retry::idempotent p;
    p.backoff(100ms, 1s);
    const auto stale = make(errc::server_closed_idle, true, written::all);
    CHECK(p.backoff(failed_attempt{stale, true, 1}) == 0ns);
    const auto refused = make(errc::connection_refused, false, written::none);
    bool varied = false;
    std::chrono::nanoseconds first = p.backoff(failed_attempt{refused, true, 1});
    std::chrono::nanoseconds max1{0}, max2{0}, max3{0}, max9{0};
    for (int i = 0; i < 200; ++i) {
        const auto b1 = p.backoff(failed_attempt{refused, true, 1});
        const auto b2 = p.backoff(failed_attempt{refused, true, 2});
        const auto b3 = p.backoff(failed_attempt{refused, true, 3});
        const auto b9 = p.backoff(failed_attempt{refused, true, 9});
        CHECK(b1 >= 0ns);
        CHECK(b1 <= 100ms);
        CHECK(b2 <= 200ms);
        CHECK(b3 <= 400ms);
        CHECK(b9 <= 1s);
        max1 = std::max(max1, b1);
        max2 = std::max(max2, b2);
        max3 = std::max(max3, b3);
        max9 = std::max(max9, b9);
        varied = varied || b1 != first;
    }
    CHECK(varied);
    // The ceiling doubles per attempt up to the cap: each range is really reached (uniform
    // draws; the chance that 200 stay below half the ceiling is 2^-200).
    CHECK(max1 > 50ms);
    CHECK(max2 > 150ms);
    CHECK(max3 > 300ms); // beyond what a linear growth (base * k) could reach
    CHECK(max9 > 500ms);
}

namespace {
// A policy built at the same place each time (the same stack slot): its first draw.
long long first_draw() {
    const auto refused = make(errc::connection_refused, false, written::none);
    idem::retry::idempotent p;
    return static_cast<long long>(p.backoff(failed_attempt{refused, true, 5}).count());
}
} // namespace

TEST_CASE("jitter is seeded per policy: policies built at one place do not back off in step") {
    std::vector<long long> draws;
    for (int i = 0; i < 10; ++i) draws.push_back(first_draw());
    std::sort(draws.begin(), draws.end());
    CHECK(std::unique(draws.begin(), draws.end()) - draws.begin() > 5);
}

TEST_CASE("max_attempts is at least one") {
    CHECK(idem::retry::idempotent{}.max_attempts() == 3);
    CHECK(idem::retry::idempotent{0}.max_attempts() == 1);
    CHECK(idem::retry::idempotent{}.max_attempts(5).max_attempts() == 5);
    CHECK(idem::retry::never{}.max_attempts() == 1);
}

TEST_CASE("Retry-After: delay-seconds and IMF-fixdate (RFC 9110 10.2.3)") {
    auto with = [](const char* value) {
        std::string raw = std::string("HTTP/1.1 503 Busy\r\nRetry-After: ") + value + "\r\nContent-Length: 0\r\n\r\n";
        idem::response r;
        idem::detail::response_reader rd;
        const idem::limits lim;
        rd.start("GET", r, lim);
        REQUIRE(rd.feed(raw.data(), raw.size()).done);
        return r;
    };
    // 1994-11-06 08:49:37 UTC is 784111777 seconds after the epoch.
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777 - 30));
    CHECK(idem::retry_after(with("120"), now) == 120s);
    CHECK(idem::retry_after(with("0"), now) == 0s);
    CHECK(idem::retry_after(with("Sun, 06 Nov 1994 08:49:37 GMT"), now) == 30s);
    CHECK(idem::retry_after(with("Sun, 06 Nov 1994 08:49:37 GMT"), now + 60s) == 0s);
    CHECK(idem::retry_after(with("Sunday, 06-Nov-94 08:49:37 GMT"), now) < 0s);
    CHECK(idem::retry_after(with("-5"), now) < 0s);
    CHECK(idem::retry_after(with("soon"), now) < 0s);
    CHECK(idem::retry_after(with("Sun, 06 Xyz 1994 08:49:37 GMT"), now) < 0s);
    idem::response none;
    CHECK(idem::retry_after(none, now) < 0s);
}
