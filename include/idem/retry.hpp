// idem: retry policies — whether a failed attempt may be sent again, and how long to wait.
#ifndef IDEM_RETRY_HPP
#define IDEM_RETRY_HPP

#include "error.hpp"
#include "response.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace idem {

/// What a RetryPolicy sees after an attempt failed.
struct failed_attempt {
    const error& err;  ///< the failure, with reused / written / response-started facts
    bool idempotent;   ///< idempotent method or Idempotency-Key (RFC 9110 §9.2.2)
    unsigned attempt;  ///< 1 for the first attempt
};

namespace detail {

/// A seed for a retry policy's jitter that differs between objects, processes and runs.
inline std::uint64_t jitter_seed(const void* self) noexcept {
    static std::atomic<std::uint64_t> count{0};
    std::uint64_t x = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    x ^= static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(self)) * 0x9e3779b97f4a7c15ull;
    x ^= (count.fetch_add(1, std::memory_order_relaxed) + 1) * 0xbf58476d1ce4e5b9ull;
    return x ? x : 0x9e3779b97f4a7c15ull; // xorshift must not start at zero
}

} // namespace detail

namespace retry {

/// The failure is a reused connection that the server had already closed: EOF or a reset
/// before any byte of a response (RFC 9112 §9.3.1, the keep-alive race).
constexpr bool is_stale_connection(const failed_attempt& f) noexcept {
    const errc c = f.err.code();
    return f.err.reused_connection() && !f.err.response_started() &&
           (c == errc::server_closed_idle || c == errc::connection_reset ||
            c == errc::broken_pipe || c == errc::unexpected_eof);
}

/// The settings retry_is_safe consults; see retry::idempotent for what each one means.
struct retry_rules {
    bool fresh_failures = true; ///< rule 5: connection failures on a fresh connection
    bool timeouts = false;      ///< rule 6: read and write timeouts after the request went out
};

/// The retry rules of idem, in the order they are decided. Each rule says why it is safe.
constexpr bool retry_is_safe(const failed_attempt& f, retry_rules rules = {}) noexcept {
    const errc c = f.err.code();
    switch (c) {
    // Bad input, a server that answered badly, or a spent deadline: sending again cannot help.
    case errc::invalid_url:
    case errc::unsupported_scheme:
    case errc::invalid_request:
    case errc::malformed_response:
    case errc::header_too_large:
    case errc::too_many_headers:
    case errc::body_too_large:
    case errc::line_too_long:
    case errc::sink_aborted:
    case errc::body_source_failed:
    case errc::invalid_socket_path:
    case errc::too_many_redirects:
    case errc::redirect_loop:
    case errc::invalid_redirect:
    case errc::tls_handshake_failed:
    case errc::certificate_rejected:
    case errc::proxy_refused:
    case errc::deadline_exceeded: return false;
    // The resolver said the name does not exist: it will say so again.
    case errc::resolve_failed:
        if (f.err.name_not_found()) return false;
        break;
    default: break;
    }
    // Rule 1: not one byte reached the kernel (resolve or connect failed, or the first write
    // on a reused connection failed outright). The server cannot have seen the request, so
    // any method may be sent again.
    if (f.err.bytes_written() == written::none && !f.err.response_started()) return true;
    // Rule 2: a response had begun. The server acted; a retry could act twice. Never.
    if (f.err.response_started()) return false;
    // Rule 3: the request may have arrived. RFC 9110 §9.2.2 and RFC 9112 §9.3.1: a client
    // MUST NOT automatically retry a non-idempotent request unless it knows the request is
    // idempotent (an Idempotency-Key), so POST and PATCH stop here and report
    // may_have_executed().
    if (!f.idempotent) return false;
    // Rule 4: the stale-connection race on a reused connection. RFC 9112 §9.3.1 lets a client
    // retry an idempotent request when the connection closed before any response; the next
    // attempt opens a fresh connection.
    if (is_stale_connection(f)) return true;
    const bool connection_failure = c == errc::connection_reset || c == errc::broken_pipe ||
                                    c == errc::server_closed_idle || c == errc::unexpected_eof;
    // Rule 5: a fresh connection broke before any response. Still idempotent, so repeating it
    // changes nothing on the server (RFC 9110 §9.2.2); max_attempts bounds the loop.
    if (connection_failure) return rules.fresh_failures;
    // Rule 6: no answer in time. The server may be overloaded by this very request; sending it
    // again only when asked.
    if (c == errc::read_timeout || c == errc::write_timeout) return rules.timeouts;
    return false;
}

/// Never sends a request twice.
struct never {
    unsigned max_attempts() const noexcept { return 1; }
    bool should_retry(const failed_attempt&) const noexcept { return false; }
    std::chrono::nanoseconds backoff(const failed_attempt&) const noexcept { return {}; }
};

/// Retries only what cannot be executed twice: see retry_is_safe. A stale connection is
/// retried at once; other failures wait with exponential backoff and full jitter.
class idempotent {
public:
    idempotent() noexcept = default;
    explicit idempotent(unsigned max_attempts) noexcept : max_(max_attempts ? max_attempts : 1) {}

    idempotent& max_attempts(unsigned n) noexcept {
        max_ = n ? n : 1;
        return *this;
    }
    /// Backoff before retry k (k = 1, 2, ...) is uniform in [0, min(cap, base * 2^(k-1))].
    idempotent& backoff(std::chrono::nanoseconds base, std::chrono::nanoseconds cap) noexcept {
        base_ = base;
        cap_ = cap;
        return *this;
    }
    /// Retry idempotent requests whose fresh connection broke (EOF, reset) after they were
    /// sent (default on). Off, only the stale-connection race and unsent requests are retried.
    idempotent& retry_fresh_failures(bool on) noexcept {
        rules_.fresh_failures = on;
        return *this;
    }
    /// Retry idempotent requests that timed out after they were sent (default off).
    idempotent& retry_timeouts(bool on) noexcept {
        rules_.timeouts = on;
        return *this;
    }

    unsigned max_attempts() const noexcept { return max_; }
    bool should_retry(const failed_attempt& f) const noexcept { return retry_is_safe(f, rules_); }

    std::chrono::nanoseconds backoff(const failed_attempt& f) const noexcept {
        // The stale race is over as soon as a new connection is open: no reason to wait.
        if (is_stale_connection(f)) return {};
        auto ceiling = base_;
        for (unsigned i = 1; i < f.attempt && ceiling < cap_; ++i) ceiling *= 2;
        if (ceiling > cap_) ceiling = cap_;
        if (ceiling.count() <= 0) return {};
        // Full jitter spreads clients that failed together (xorshift64; quality is not needed).
        // Seeded on first use from the clock, the object's address and a process-wide count,
        // so that clients built at the same place (in one process or many) do not move in step.
        if (seed_ == 0) seed_ = detail::jitter_seed(this);
        seed_ ^= seed_ << 13;
        seed_ ^= seed_ >> 7;
        seed_ ^= seed_ << 17;
        return std::chrono::nanoseconds(
            static_cast<std::int64_t>(seed_ % static_cast<std::uint64_t>(ceiling.count() + 1)));
    }

private:
    unsigned max_ = 3;
    std::chrono::nanoseconds base_ = std::chrono::milliseconds(50);
    std::chrono::nanoseconds cap_ = std::chrono::seconds(2);
    retry_rules rules_;
    mutable std::uint64_t seed_ = 0;
};

} // namespace retry

namespace detail {

constexpr bool two_digits(std::string_view s, std::size_t at, int& out) noexcept {
    if (!is_digit(s[at]) || !is_digit(s[at + 1])) return false;
    out = (s[at] - '0') * 10 + (s[at + 1] - '0');
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
constexpr long days_from_civil(long y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long>(doe) - 719468;
}

// IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT", as seconds since the
// epoch; false for anything else (the obsolete formats included).
inline bool parse_imf_fixdate(std::string_view s, long long& out) noexcept {
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT")
        return false;
    int day = 0, c = 0, y = 0, hh = 0, mm = 0, ss = 0;
    if (!two_digits(s, 5, day) || !two_digits(s, 12, c) || !two_digits(s, 14, y) ||
        !two_digits(s, 17, hh) || !two_digits(s, 20, mm) || !two_digits(s, 23, ss))
        return false;
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i)
        if (s.substr(8, 3) == months[i]) month = i + 1;
    if (month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return false;
    out = days_from_civil(c * 100 + y, month, unsigned(day)) * 86400LL + hh * 3600 + mm * 60 + ss;
    return true;
}

} // namespace detail

/// How long a response's Retry-After field (RFC 9110 §10.2.3) asks to wait: delay-seconds, or
/// an IMF-fixdate measured against `now`. A date in the past gives zero; a missing or invalid
/// field gives a negative duration.
inline std::chrono::nanoseconds retry_after(
    const response& r,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) noexcept {
    const auto v = detail::trim_ows(r.header("Retry-After"));
    std::uint64_t secs = 0;
    if (detail::parse_decimal(v, secs, 9)) return std::chrono::seconds(secs);
    long long when = 0;
    if (!detail::parse_imf_fixdate(v, when)) return std::chrono::nanoseconds(-1);
    const auto delta = std::chrono::seconds(when) - std::chrono::duration_cast<std::chrono::seconds>(
                                                        now.time_since_epoch());
    return delta.count() > 0 ? std::chrono::nanoseconds(delta) : std::chrono::nanoseconds(0);
}

} // namespace idem

#endif
