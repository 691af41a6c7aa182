// idem: compile-time checks that a KeepAlivePolicy or RetryPolicy has what the client calls.
#ifndef IDEM_DETAIL_POLICY_TRAITS_HPP
#define IDEM_DETAIL_POLICY_TRAITS_HPP

#include "../keep_alive.hpp"
#include "../retry.hpp"

#include <chrono>
#include <type_traits>
#include <utility>

namespace idem {
namespace detail {

template <class...> using void_t = void;

template <class P, class = void> struct has_persistent : std::false_type {};
template <class P>
struct has_persistent<P, void_t<decltype(bool{P::persistent})>> : std::true_type {};

template <class P, class = void> struct has_may_reuse : std::false_type {};
template <class P>
struct has_may_reuse<P, void_t<decltype(std::declval<P&>().may_reuse(
                            std::declval<const idle_connection&>(), true))>>
    : std::is_convertible<decltype(std::declval<P&>().may_reuse(
                              std::declval<const idle_connection&>(), true)),
                          bool> {};

template <class P, class = void> struct has_on_idle_close : std::false_type {};
template <class P>
struct has_on_idle_close<P, void_t<decltype(std::declval<P&>().on_idle_close(
                                std::declval<std::chrono::nanoseconds>()))>> : std::true_type {};

// Optional: `static constexpr bool probe_before_reuse = false` skips the liveness probe.
template <class P, class = void> struct probes_before_reuse : std::true_type {};
template <class P>
struct probes_before_reuse<P, void_t<decltype(bool{P::probe_before_reuse})>>
    : std::integral_constant<bool, P::probe_before_reuse> {};

// Optional: `void on_reused(std::chrono::nanoseconds idle_for)`, told when a reused connection
// delivered a response — evidence that the server keeps connections at least that long.
template <class P, class = void> struct has_on_reused : std::false_type {};
template <class P>
struct has_on_reused<P, void_t<decltype(std::declval<P&>().on_reused(
                            std::declval<std::chrono::nanoseconds>()))>> : std::true_type {};

template <class P> void notify_reused(P& p, std::chrono::nanoseconds idle_for, std::true_type) {
    p.on_reused(idle_for);
}
template <class P> void notify_reused(P&, std::chrono::nanoseconds, std::false_type) {}

// Optional: `learned_bound learned() const`, what a learning policy believes; the client
// reports each change of its bound as an event.
template <class P, class = void> struct has_learned : std::false_type {};
template <class P>
struct has_learned<P, void_t<decltype(std::declval<const P&>().learned())>>
    : std::is_same<decltype(std::declval<const P&>().learned()), learned_bound> {};

template <class P> learned_bound learned_of(const P& p, std::true_type) { return p.learned(); }
template <class P> learned_bound learned_of(const P&, std::false_type) { return {}; }

template <class P, class = void> struct has_max_attempts : std::false_type {};
template <class P>
struct has_max_attempts<P, void_t<decltype(std::declval<const P&>().max_attempts())>>
    : std::is_convertible<decltype(std::declval<const P&>().max_attempts()), unsigned> {};

template <class P, class = void> struct has_should_retry : std::false_type {};
template <class P>
struct has_should_retry<P, void_t<decltype(std::declval<const P&>().should_retry(
                               std::declval<const failed_attempt&>()))>>
    : std::is_convertible<decltype(std::declval<const P&>().should_retry(
                              std::declval<const failed_attempt&>())),
                          bool> {};

template <class P, class = void> struct has_backoff : std::false_type {};
template <class P>
struct has_backoff<P, void_t<decltype(std::declval<const P&>().backoff(
                          std::declval<const failed_attempt&>()))>>
    : std::is_convertible<decltype(std::declval<const P&>().backoff(
                              std::declval<const failed_attempt&>())),
                          std::chrono::nanoseconds> {};

// Optional: `bool retry_response(const response&, bool idempotent, unsigned attempt,
// std::chrono::nanoseconds& wait) const` — retry after a complete response (429, 503, ...).
template <class P, class = void> struct has_retry_response : std::false_type {};
template <class P>
struct has_retry_response<P, void_t<decltype(std::declval<const P&>().retry_response(
                                 std::declval<const response&>(), true, 1u,
                                 std::declval<std::chrono::nanoseconds&>()))>> : std::true_type {};

template <class P>
bool ask_retry_response(const P& p, const response& r, bool idempotent, unsigned attempt,
                        std::chrono::nanoseconds& wait, std::true_type) {
    return p.retry_response(r, idempotent, attempt, wait);
}
template <class P>
bool ask_retry_response(const P&, const response&, bool, unsigned, std::chrono::nanoseconds&,
                        std::false_type) {
    return false;
}

// Optional: `static constexpr bool unsafe_resend_non_idempotent = true` lets the policy's
// should_retry and retry_response re-send a request that is not idempotent after it may have
// reached the server. Off unless declared: without it the client refuses whatever the policy says.
template <class P, class = void> struct resends_non_idempotent : std::false_type {};
template <class P>
struct resends_non_idempotent<P, void_t<decltype(bool{P::unsafe_resend_non_idempotent})>>
    : std::integral_constant<bool, P::unsafe_resend_non_idempotent> {};

// Whether a policy has a member of a name at all (any signature), so that an optional member
// with a wrong signature is a compile error instead of a member silently never called.
template <class P, class = void> struct names_on_reused : std::false_type {};
template <class P> struct names_on_reused<P, void_t<decltype(&P::on_reused)>> : std::true_type {};
template <class P, class = void> struct names_learned : std::false_type {};
template <class P> struct names_learned<P, void_t<decltype(&P::learned)>> : std::true_type {};
template <class P, class = void> struct names_retry_response : std::false_type {};
template <class P>
struct names_retry_response<P, void_t<decltype(&P::retry_response)>> : std::true_type {};
// An optional constant is either absent or a bool.
template <class P, class = void> struct probe_before_reuse_is_bool : std::true_type {};
template <class P>
struct probe_before_reuse_is_bool<P, void_t<decltype(P::probe_before_reuse)>>
    : std::is_same<std::remove_cv_t<decltype(P::probe_before_reuse)>, bool> {};
template <class P, class = void> struct unsafe_resend_is_bool : std::true_type {};
template <class P>
struct unsafe_resend_is_bool<P, void_t<decltype(P::unsafe_resend_non_idempotent)>>
    : std::is_same<std::remove_cv_t<decltype(P::unsafe_resend_non_idempotent)>, bool> {};

template <class P> constexpr bool is_keep_alive_policy() {
    return has_persistent<P>::value && has_may_reuse<P>::value && has_on_idle_close<P>::value;
}
template <class P> constexpr bool is_retry_policy() {
    return has_max_attempts<P>::value && has_should_retry<P>::value && has_backoff<P>::value;
}

/// One message per missing member, each spelling the signature to write.
template <class P> struct keep_alive_policy_asserts {
    static_assert(has_persistent<P>::value,
                  "KeepAlivePolicy needs `static constexpr bool persistent` (false: send "
                  "Connection: close and never keep a connection)");
    static_assert(has_may_reuse<P>::value,
                  "KeepAlivePolicy needs `bool may_reuse(const idem::idle_connection&, bool "
                  "idempotent)` (const or not)");
    static_assert(has_on_idle_close<P>::value,
                  "KeepAlivePolicy needs `void on_idle_close(std::chrono::nanoseconds idle_for)` "
                  "(called when the server closed an idle connection)");
    static_assert(!names_on_reused<P>::value || has_on_reused<P>::value,
                  "KeepAlivePolicy::on_reused must be `void on_reused(std::chrono::nanoseconds "
                  "idle_for)` (optional; called when a reused connection delivered a response)");
    static_assert(!names_learned<P>::value || has_learned<P>::value,
                  "KeepAlivePolicy::learned must be `idem::learned_bound learned() const` "
                  "(optional; what a learning policy believes)");
    static_assert(probe_before_reuse_is_bool<P>::value,
                  "KeepAlivePolicy::probe_before_reuse must be `static constexpr bool` (optional)");
    static constexpr bool value = true;
};

template <class P> struct retry_policy_asserts {
    static_assert(has_max_attempts<P>::value,
                  "RetryPolicy needs `unsigned max_attempts() const` (1 = never retry)");
    static_assert(has_should_retry<P>::value,
                  "RetryPolicy needs `bool should_retry(const idem::failed_attempt&) const`");
    static_assert(has_backoff<P>::value,
                  "RetryPolicy needs `std::chrono::nanoseconds backoff(const "
                  "idem::failed_attempt&) const` (how long to wait before the next attempt)");
    static_assert(!names_retry_response<P>::value || has_retry_response<P>::value,
                  "RetryPolicy::retry_response must be `bool retry_response(const idem::response&, "
                  "bool idempotent, unsigned attempt, std::chrono::nanoseconds& wait) const` "
                  "(optional; retry after a complete response)");
    static_assert(unsafe_resend_is_bool<P>::value,
                  "RetryPolicy::unsafe_resend_non_idempotent must be `static constexpr bool` (optional)");
    static constexpr bool value = true;
};

} // namespace detail
} // namespace idem

#endif
