// idem: basic_client — pick or open a connection, send, parse, and ask the policies.
#ifndef IDEM_CLIENT_HPP
#define IDEM_CLIENT_HPP

#include "body.hpp"
#include "detail/clock.hpp"
#include "detail/connection_state.hpp"
#include "detail/policy_traits.hpp"
#include "detail/socket.hpp"
#include "keep_alive.hpp"
#include "parser.hpp"
#include "proxy.hpp"
#include "reader.hpp"
#include "redirect.hpp"
#include "request.hpp"
#include "response.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "url.hpp"
#include "version.hpp"

#include <atomic>
#include <chrono>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace idem {

/// Timeouts, limits and defaults of a client. A zero deadline means none; durations too large
/// to add to the clock (milliseconds::max()) mean "no limit".
struct client_options {
    std::chrono::milliseconds connect_timeout{10000}; ///< resolving and connecting, all addresses
    std::chrono::milliseconds read_timeout{30000};    ///< per wait for response bytes
    std::chrono::milliseconds write_timeout{30000};   ///< per wait for the socket to take bytes
    std::chrono::milliseconds deadline{120000};       ///< the whole call, retries included
    /// How long one address may try to connect before the next is started alongside
    /// (RFC 8305 §5 "Connection Attempt Delay"; a failure starts the next at once).
    std::chrono::milliseconds connection_attempt_delay{250};
    /// Bodies of at least this many bytes, and bodies of unknown length, ask the server first
    /// (Expect: 100-continue, RFC 9110 §10.1.1) so a refusal costs no upload; the maximum,
    /// body_source::unknown_length, never asks. A request with its own Expect field always does.
    std::uint64_t expect_continue_threshold = 1024 * 1024;
    /// How long to wait for "100 Continue" (or a final answer) before sending the body anyway.
    std::chrono::milliseconds expect_continue_timeout{1000};
    idem::limits limits;
    std::string user_agent = "idem/" IDEM_VERSION_STRING; ///< empty: send none
    /// Resolves host names (numeric hosts never reach it); nullptr means getaddrinfo. It runs on
    /// a helper thread that a call abandons at its deadline; `resolver_context` must outlive it.
    resolver_function resolver = nullptr;
    void* resolver_context = nullptr;
    /// Connect to this Unix domain socket instead of the URL's host and port, which still
    /// name the origin (Host). A leading '@' names a Linux abstract socket. Empty: TCP.
    std::string unix_socket;
    /// Follow redirects (301, 302, 303, 307, 308; see README "Redirects"); a request's own
    /// `redirects` field overrides this for its call.
    bool follow_redirects = false;
    /// The most redirects one call follows; one more is errc::too_many_redirects.
    unsigned max_redirects = 10;
    /// An HTTP proxy for every request ("[http://][user:password@]host[:port]", port 1080 by
    /// default, as curl): requests go to it in absolute-form, with Proxy-Authorization from
    /// the user and password. Empty: none. Not used with unix_socket.
    std::string proxy;
    /// The proxy for https origins when proxy_per_scheme is set ("": none), as curl reads
    /// https_proxy: `proxy` then serves http origins alone. A redirect to the other scheme
    /// takes that scheme's proxy.
    std::string https_proxy;
    bool proxy_per_scheme = false;
    /// Hosts reached without the proxy, as curl reads no_proxy (see no_proxy_matches).
    std::string no_proxy;
    /// How https servers are checked, by a TLS transport (idem/tls/openssl.hpp): the
    /// certificate against the system's CAs (or ca_file, ca_path) and the URL's host.
    tls_options tls;
};

/// Sets the proxies from the environment as curl reads it (proxy_from_environment), one for
/// each scheme: `proxy` for http origins, `https_proxy` for https ones (proxy_per_scheme), and
/// `no_proxy`. idem reads the environment only when asked.
inline client_options& use_proxy_environment(client_options& o) {
    proxy_environment http = proxy_from_environment(nullptr, false);
    o.proxy = std::move(http.proxy);
    o.https_proxy = proxy_from_environment(nullptr, true).proxy;
    o.proxy_per_scheme = true;
    o.no_proxy = std::move(http.no_proxy);
    return o;
}

/// What a client did, for logs and tests (see basic_client::set_event_handler).
enum class event_kind : unsigned char {
    connected,     ///< a new connection is open
    reused,        ///< an idle connection passed the policy and the probe
    idle_expired,  ///< the keep-alive policy declined an idle connection (too old, max=)
    probe_closed,  ///< the probe found an idle connection closed by the server
    stale_failure, ///< a reused connection failed before any response byte
    retry,         ///< the retry policy sends the request again
    closed,        ///< the connection was closed after an exchange
    learned,       ///< the keep-alive policy's bound changed (idle_for: the bound now)
    redirected,    ///< a 3xx is followed (`answer`: that response; its body is not kept)
};

struct event {
    event_kind kind;
    std::chrono::nanoseconds idle_for; ///< the connection's idle age, where it has one; for
                                       ///< `learned`, the bound now in force
    unsigned attempt;                  ///< the attempt it happened in
    errc err;                          ///< the failure behind a retry or stale_failure
    const response* answer = nullptr;  ///< for `redirected`: the 3xx, valid during the call
    std::string_view security{};       ///< for `connected`: how the new connection is protected,
                                       ///< as its transport says (TLS: protocol, cipher suite,
                                       ///< what was verified); empty over plaintext; valid
                                       ///< during the call
};

using event_handler = void (*)(const event&, void* context);

/// Counters over the client's life.
struct client_stats {
    unsigned long connections_opened = 0;
    unsigned long reuses = 0;
    unsigned long retries = 0;
    unsigned long stale_probes = 0;   ///< idle connections the probe found closed
    unsigned long stale_failures = 0; ///< reused connections that failed before a response
};

namespace detail {

/// Where a client's connections go: its origin, or a proxy (the proxy is then part of what a
/// connection is: the client's one origin through that proxy).
struct route {
    bool proxied = false;
    std::string host;
    std::uint16_t port = 0;
    std::string absolute;      ///< "http://authority" before each target, through a proxy
    std::string authorization; ///< the proxy's Proxy-Authorization value, or empty
    std::string tunnel;        ///< https through a proxy: the CONNECT head that opens each connection
};

/// The head that asks a proxy for a tunnel to `u`'s origin (RFC 9110 §9.3.6): the target in
/// authority-form, always with its port (RFC 9112 §3.2.3), the proxy's credentials, if any,
/// here and never inside the tunnel.
inline std::string tunnel_head(const url& u, std::string_view authorization, std::string_view user_agent) {
    std::string hostport = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    hostport.append(":").append(std::to_string(u.port));
    std::string h = "CONNECT " + hostport + " HTTP/1.1\r\nHost: " + hostport + "\r\n";
    if (!user_agent.empty()) h.append("User-Agent: ").append(user_agent).append("\r\n");
    if (!authorization.empty()) h.append("Proxy-Authorization: ").append(authorization).append("\r\n");
    return h.append("\r\n");
}

inline void route_for(const url& u, const client_options& o, route& r, error& err, bool tunnel_capable) {
    r = route{};
    const std::string& proxy = o.proxy_per_scheme && u.tls ? o.https_proxy : o.proxy;
    if (proxy.empty() || !o.unix_socket.empty() || no_proxy_matches(o.no_proxy, u.host, u.port)) return;
    if (u.tls && !tunnel_capable) {
        err = error(errc::unsupported_scheme, "https through a proxy needs a transport that makes CONNECT tunnels (idem::tls::transport does)");
        return;
    }
    auto p = parse_proxy(proxy);
    if (!p) {
        err = p.error().code() == errc::invalid_url
                  ? error(errc::invalid_url, p.error().reason().empty() ? "client_options::proxy (or https_proxy) is not a valid proxy URL"
                                                                        : p.error().reason().data())
                  : p.error();
        return;
    }
    r.proxied = true;
    r.host = std::move(p->host);
    r.port = p->port;
    if (u.tls) { // a tunnel: requests inside it are the origin's, in origin-form
        r.tunnel = tunnel_head(u, p->authorization, o.user_agent);
        return;
    }
    r.authorization = std::move(p->authorization);
    r.absolute = u.origin();
}

/// Reads a client's base URL and checks its options, once for every kind of client: the origin
/// into `u`, the path that prefixes every target into `prefix`, where connections go into `r`,
/// and why not into `err`.
inline void parse_base_url(std::string_view base_url, const client_options& o, url& u,
                           std::string& prefix, error& err, bool tls_capable, bool tunnel_capable,
                           route* r = nullptr) {
    auto parsed = parse_url(base_url);
    if (!parsed) {
        err = parsed.error();
        return;
    }
    u = std::move(*parsed);
    if (u.tls && !tls_capable) {
        err = error(errc::unsupported_scheme, "https needs a TLS transport: include <idem/tls/openssl.hpp> and use idem::tls::client");
        return;
    }
    if (u.target.find('?') != std::string::npos) {
        err = error(errc::invalid_url, "a base URL cannot have a query; give it with each target");
        return;
    }
    prefix = u.target;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    // Everything that reaches the wire is validated, the options included.
    if (field_value_problem(o.user_agent))
        err = error(errc::invalid_request, "client_options::user_agent contains CR, LF or another control");
    else if (!o.unix_socket.empty()) {
        sockaddr_storage a;
        socklen_t len = 0;
        if (const char* why = unix_address(o.unix_socket, a, len)) err = error(errc::invalid_socket_path, why);
    }
    if (err.code() != errc{}) return;
    route checked;
    route_for(u, o, r ? *r : checked, err, tunnel_capable);
}

/// One receive from `conn` into `rbuf`, fed to `reader`. `done` when the response is complete;
/// `stray` counts bytes that followed it. Shared by every client over the same transport.
template <class Transport>
error read_some(Transport& conn, std::string& rbuf, response_reader& reader,
                std::chrono::nanoseconds read_timeout, std::chrono::nanoseconds deadline, bool reused,
                bool& done, std::size_t& stray) {
    std::size_t got = 0;
    const error ge = conn.receive(&rbuf[0], rbuf.size(), read_timeout, deadline, got);
    if (ge.code() != errc{}) return ge;
    if (got == 0) {
        // EOF before any byte on a reused connection is the keep-alive race.
        if (!reader.started() && reused) return error(errc::server_closed_idle, "EOF before any response byte");
        // Over TLS, an EOF without close_notify may be an attacker's (or a proxy's) cut: a
        // response that was still being read is not complete (RFC 8446 §6.1).
        if (reader.started() && !eof_is_clean(conn, has_clean_eof<Transport>{}))
            return error(errc::unexpected_eof, "the TLS connection ended without close_notify: the response may be cut short");
        const errc fe = reader.finish_at_eof();
        if (fe != errc{})
            return error(fe, reader.started() ? "EOF inside the response" : "EOF before any response byte");
        done = true;
        return error(errc{});
    }
    parse_step st;
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
    try {
        st = reader.feed(rbuf.data(), got);
    } catch (const std::bad_alloc&) {
        return error(errc::out_of_memory, "while buffering the response");
    }
#else
    st = reader.feed(rbuf.data(), got);
#endif
    if (st.failed) return error(st.err, st.why);
    if (reader.done()) {
        done = true;
        stray = got - st.consumed;
    }
    return error(errc{});
}

/// Reads until the response is complete.
template <class Transport>
error read_until_done(Transport& conn, std::string& rbuf, response_reader& reader,
                      std::chrono::nanoseconds read_timeout, std::chrono::nanoseconds deadline,
                      bool reused, bool& done, std::size_t& stray) {
    while (!done) {
        const error re = read_some(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
        if (re.code() != errc{}) return re;
    }
    return error(errc{});
}

/// How far an attempt's request got.
struct upload_progress {
    std::size_t sent = 0;      ///< request bytes the kernel took
    bool body_started = false; ///< some of them were body bytes
    bool all_sent = false;     ///< the whole request went out
};

/// One exchange on one connection: sends `head` then the body `pump` hands out, and reads the
/// response into `reader` (started by the caller). With `expect_wait` above zero the head went
/// out with "Expect: 100-continue": the body waits that long for the server's word (RFC 9110
/// §10.1.1). `stray` counts bytes that followed the response. The one piece of code every
/// client runs per attempt.
template <class Transport>
error exchange(Transport& conn, std::string& rbuf, response_reader& reader, const std::string& head,
               body_pump& pump, std::chrono::nanoseconds expect_wait,
               std::chrono::nanoseconds write_timeout, std::chrono::nanoseconds read_timeout,
               std::chrono::nanoseconds deadline, bool reused, upload_progress& up,
               std::size_t& stray) {
    bool done = false;
    std::string_view a = head, b;
    bool awaiting = expect_wait.count() > 0;
    if (!awaiting) {
        const error pe = pump.next(b, deadline);
        if (pe.code() != errc{}) return pe;
    }
    for (;;) {
        std::size_t k = 0; // bytes of a, then b, that went out
        for (;;) {
            bool readable = false;
            const std::size_t before = k;
            const error se = conn.send_all(a.data(), a.size(), b.data(), b.size(), write_timeout,
                                           deadline, k, readable);
            up.sent += k - before;
            up.body_started = up.body_started || k > a.size();
            if (se.code() != errc{}) {
                // A server that answers and closes while a body is still going out (a 413, a
                // 401) resets the connection, but its answer is still in the receive buffer:
                // read it before calling the request failed (RFC 9112 §9.5).
                const bool cut = se.code() == errc::connection_reset || se.code() == errc::broken_pipe;
                if (!cut || up.sent == 0) return se;
                const error re = read_until_done(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
                return re.code() == errc{} && done ? re : se;
            }
            if (!readable) break; // this piece is out
            // The server answers before it has the whole request. An interim response (100
            // Continue) means go on sending; a final one is the answer, and the rest of the
            // request is not sent.
            const error re = read_some(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
            if (re.code() != errc{}) return re;
            if (done || reader.head_done())
                return read_until_done(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
        }
        if (awaiting) {
            awaiting = false;
            // The head is out: wait, bounded, for 100 Continue or a final answer. Silence
            // means send the body anyway (the server may not know the expectation); a final
            // answer means the body is never sent.
            const std::size_t interim = reader.interim_count();
            const auto end = later(now(), expect_wait);
            while (!done && !reader.head_done() && reader.interim_count() == interim) {
                const auto left = end - now();
                if (left.count() <= 0) break;
                const error re = read_some(conn, rbuf, reader, left < read_timeout ? left : read_timeout,
                                           deadline, reused, done, stray);
                if (re.code() == errc::read_timeout) break;
                if (re.code() != errc{}) return re;
            }
            if (done || reader.head_done())
                return read_until_done(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
        }
        a = {};
        const error pe = pump.next(b, deadline);
        if (pe.code() != errc{}) return pe;
        if (b.empty()) break;
    }
    up.all_sent = true;
    return read_until_done(conn, rbuf, reader, read_timeout, deadline, reused, done, stray);
}

/// The request methods every client has, over `Derived::send_to(request_view, response&,
/// body_sink)`: basic_client and basic_pool share them.
template <class Derived> class request_methods {
public:
    result<response> get(std::string_view target, header_list h = {}) { return request("GET", target, {}, h); }
    result<response> head(std::string_view target, header_list h = {}) { return request("HEAD", target, {}, h); }
    result<response> options(std::string_view target, header_list h = {}) { return request("OPTIONS", target, {}, h); }
    result<response> del(std::string_view target, header_list h = {}) { return request("DELETE", target, {}, h); }
    result<response> delete_(std::string_view target, header_list h = {}) { return del(target, h); }
    result<response> post(std::string_view target, std::string_view body, header_list h = {}) {
        return request("POST", target, body, h);
    }
    result<response> put(std::string_view target, std::string_view body, header_list h = {}) {
        return request("PUT", target, body, h);
    }
    result<response> patch(std::string_view target, std::string_view body, header_list h = {}) {
        return request("PATCH", target, body, h);
    }
    /// Sends `body` as it is read (a file, a pipe, a callback: see body_source), with any
    /// method; memory stays bounded whatever the body's size.
    result<response> upload(std::string_view method, std::string_view target,
                            const body_source& body, header_list h = {}) {
        response out;
        auto r = self().send_to(detail::request_view{method, target, h, {}, &body}, out, {});
        if (!r) return r.error();
        return out;
    }

    /// Any method token.
    result<response> request(std::string_view method, std::string_view target,
                             std::string_view body = {}, header_list h = {}) {
        response out;
        auto r = self().send_to(detail::request_view{method, target, h, body}, out, {});
        if (!r) return r.error();
        return out;
    }

    /// Sends `r` and reads the answer into `out`, reusing out's buffers. The hot path: with
    /// a kept-alive connection and a warmed-up `out`, it allocates nothing.
    result<void> send(const idem::request& r, response& out) {
        return self().send_to(detail::request_view(r), out, {});
    }

    /// Like send, but streams the body: `sink(const char* data, std::size_t n)` returns bool and
    /// is called as bytes arrive (returning false stops with errc::sink_aborted); out.body stays
    /// empty, so memory stays bounded whatever the body's size; max_body_bytes does not apply.
    /// The head (status, fields) is in `out` before the first call. Nothing is sent again once
    /// any response byte has arrived, so the sink never sees two bodies. An exception from the
    /// sink leaves the call (and closes the connection).
    template <class Sink> result<void> send(const idem::request& r, response& out, Sink&& sink) {
        using sink_type = std::remove_reference_t<Sink>;
        static_assert(std::is_same<decltype(std::declval<sink_type&>()(
                                       std::declval<const char*>(), std::size_t{})),
                                   bool>::value,
                      "a body sink is called as `bool sink(const char* data, std::size_t n)` and "
                      "returns true to go on, false to stop");
        detail::body_sink s;
        s.context = const_cast<void*>(static_cast<const void*>(&sink));
        s.fn = [](void* ctx, const char* p, std::size_t n) -> bool {
            return (*static_cast<sink_type*>(ctx))(p, n);
        };
        return self().send_to(detail::request_view(r), out, s);
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
};

// A flag that a move leaves behind, so a client stays movable while it counts its callers.
struct busy_flag {
    std::atomic<bool> on{false};
    busy_flag() noexcept = default;
    busy_flag(busy_flag&&) noexcept {}
    busy_flag& operator=(busy_flag&&) noexcept { return *this; }
};
} // namespace detail

template <class KeepAlive, class Retry, class Transport> class basic_pool;

/// A blocking HTTP/1.1 client for one origin, holding at most one connection. `Transport` is
/// the socket layer (detail::connection): a seam for fault injection and, one day, TLS.
/// One call at a time: a call that overlaps another (another thread, or a body sink calling
/// back into its own client) fails at once with errc::client_busy and sends nothing.
template <class KeepAlive = keep_alive::timeout_bounded, class Retry = retry::idempotent,
          class Transport = detail::connection>
class basic_client : public detail::request_methods<basic_client<KeepAlive, Retry, Transport>> {
    static_assert(detail::keep_alive_policy_asserts<KeepAlive>::value, "");
    static_assert(detail::retry_policy_asserts<Retry>::value, "");

public:
    using keep_alive_policy_type = KeepAlive;
    using retry_policy_type = Retry;

    /// A client for the origin of `base_url` ("http://host[:port][/prefix]"). A path is a
    /// prefix of every target: with "http://h/api/v1", get("/users") sends GET /api/v1/users
    /// ("*" is sent as it is). A base URL with a query is refused. A bad URL or option is
    /// reported by every call (and by init_error()).
    explicit basic_client(std::string_view base_url, client_options o = {}, KeepAlive ka = {},
                          Retry rp = {})
        : opts_(std::move(o)), ka_(std::move(ka)), retry_(std::move(rp)) {
        detail::parse_base_url(base_url, opts_, url_, prefix_, init_error_, detail::tls_capable<Transport>::value,
                               detail::tunnel_capable<Transport>::value, &route_);
    }

    /// errc{} when the client was built from a valid URL and options, else why not (the whole
    /// error, with its reason, is what every call returns).
    errc init_error() const noexcept { return init_error_.code(); }
    const url& origin() const noexcept { return url_; }
    /// The path every target is sent under ("" for none), from the base URL.
    const std::string& path_prefix() const noexcept { return prefix_; }
    /// True when requests go through client_options::proxy (set, and the origin not in no_proxy).
    bool uses_proxy() const noexcept { return route_.proxied; }

private:
    template <class, class, class> friend class basic_pool; // its connections are clients
    template <class, class, class> friend class basic_client; // a redirect's hop to another origin
    friend class detail::request_methods<basic_client>;

    // Holds the client for one call; a second caller is turned away, never interleaved.
    struct call_guard {
        std::atomic<bool>& flag;
        bool owned;
        explicit call_guard(std::atomic<bool>& f) noexcept
            : flag(f), owned(!f.exchange(true, std::memory_order_acquire)) {}
        ~call_guard() {
            if (owned) flag.store(false, std::memory_order_release);
        }
    };

    // Closes the connection on every way out of an attempt but the one that keeps it, so a
    // connection left mid-response (an error, an exception from a sink) never carries another
    // request.
    struct close_unless_kept {
        Transport& conn;
        bool keep = false;
        ~close_unless_kept() {
            if (!keep) conn.close();
        }
    };

    // The client's own floor under any RetryPolicy (the README's guarantees): a request that
    // may have reached the server is re-sent only when it is idempotent, and nothing is re-sent
    // once a sink may have seen response bytes. A policy can only be stricter, unless it
    // declares `unsafe_resend_non_idempotent`.
    static bool client_allows_resend(const error& e, bool idempotent, const detail::body_sink& sink) noexcept {
        if (sink.fn && e.response_started()) return false;
        // A body that cannot be produced again is never sent a second time.
        if (e.body_spent()) return false;
        if (!idempotent && e.may_have_executed() && !detail::resends_non_idempotent<Retry>::value)
            return false;
        return true;
    }

    /// When a call that starts now must end, on idem's clock.
    static std::chrono::nanoseconds deadline_from_now(const client_options& o) noexcept {
        return o.deadline.count() > 0 ? detail::later(detail::now(), detail::saturated(o.deadline))
                                      : detail::far_future;
    }

    result<void> send_to(const detail::request_view& r, response& out, detail::body_sink sink) {
        return send_until(r, out, sink, std::chrono::nanoseconds{0});
    }

    // `deadline` 0: from the options, starting now (a pool passes the one its caller started).
    result<void> send_until(const detail::request_view& r, response& out, detail::body_sink sink,
                            std::chrono::nanoseconds deadline) {
        const call_guard held(busy_.on);
        if (!held.owned)
            return error(errc::client_busy, "a call on this client was already in progress");
        if (init_error_.code() != errc{}) return init_error_;
        if (auto v = validate(r); !v) return v.error();
        if (deadline.count() == 0) deadline = deadline_from_now(opts_);
        const bool follow = r.redirects == idem::follow::yes ||
                            (r.redirects == idem::follow::as_client && opts_.follow_redirects);
        if (!follow) return send_attempts(r, out, sink, deadline, prefix_);
        return send_following(r, out, sink, deadline);
    }

    // Holds back the body of a redirect that will be followed from the caller's sink, which
    // sees only the body of the answer the call ends with.
    struct redirect_filter {
        detail::body_sink inner;
        const response* out;
        const detail::body_pump* pump;
        std::string_view method;
        bool has_body;
        static bool pass(void* ctx, const char* p, std::size_t n) {
            auto& f = *static_cast<redirect_filter*>(ctx);
            if (detail::follows(*f.out, f.method, f.has_body, f.pump->spent())) return true;
            return f.inner.fn(f.inner.context, p, n);
        }
        detail::body_sink sink() noexcept { return inner.fn ? detail::body_sink{&pass, this} : inner; }
    };

    // A call that follows redirects (RFC 9110 §15.4): each hop is a new request, under the
    // call's one deadline; the same origin is asked on this client's connection, another on a
    // connection of its own, closed after its answer.
    result<void> send_following(const detail::request_view& r, response& out, detail::body_sink sink,
                                std::chrono::nanoseconds deadline) {
        redirect_filter filter{sink, &out, &pump_, r.method, r.has_body()};
        if (auto first = send_attempts(r, out, filter.sink(), deadline, prefix_); !first) return first;
        if (!detail::follows(out, r.method, r.has_body(), pump_.spent())) return {};

        detail::redirect_chain chain(r, url_, prefix_);
        bool source_read = pump_.touched(); // since its last rewind
        for (unsigned hops = 1;; ++hops) {
            // Every error from here on follows an answered request: it may have executed.
            if (error ce = chain.advance(out, hops, opts_.max_redirects, r.source, source_read,
                                         detail::tls_capable<Transport>::value);
                ce.code() != errc{})
                return ce.set_executed_earlier(true);
            if (handler_) handler_(event{event_kind::redirected, {}, hops, errc{}, &out}, handler_ctx_);
            const detail::request_view hop = chain.hop(r);
            filter.method = chain.method();
            filter.has_body = chain.with_body();
            result<void> got;
            bool spent = false;
            if (detail::same_origin(chain.at(), url_)) {
                filter.pump = &pump_;
                got = send_attempts(hop, out, filter.sink(), deadline, {});
                source_read = pump_.touched();
                spent = pump_.spent();
            } else {
                basic_client<keep_alive::disabled, Retry, Transport> away{chain.at().origin(), opts_, {}, retry_};
                if (away.init_error_.code() != errc{}) return error(away.init_error_).set_executed_earlier(true);
                away.set_event_handler(handler_, handler_ctx_);
                filter.pump = &away.pump_;
                got = away.send_attempts(hop, out, filter.sink(), deadline, {});
                source_read = away.pump_.touched();
                spent = away.pump_.spent();
                filter.pump = &pump_;
                add_stats(away.stats_);
            }
            if (!got) return error(got.error()).set_executed_earlier(true);
            if (!detail::follows(out, chain.method(), chain.with_body(), spent)) {
                out.redirects = hops;
                out.url = chain.at().origin() + chain.at().target;
                return {};
            }
        }
    }

    void add_stats(const client_stats& s) noexcept {
        stats_.connections_opened += s.connections_opened;
        stats_.reuses += s.reuses;
        stats_.retries += s.retries;
        stats_.stale_probes += s.stale_probes;
        stats_.stale_failures += s.stale_failures;
    }

    // Sends a validated request, retrying as the policies allow; `prefix` goes before its target.
    result<void> send_attempts(const detail::request_view& r, response& out, detail::body_sink sink,
                               std::chrono::nanoseconds deadline, std::string_view prefix) {
        const bool idempotent = is_idempotent(r);
        bool expect = wants_expect(r);
        write_request_head(r, expect, prefix);
        pump_.start(r.body, r.source, ubuf_);
        bool executed_earlier = false;
        for (unsigned attempt = 1;; ++attempt) {
            error e;
            if (attempt > 1) {
                const error we = pump_.rewind();
                if (we.code() != errc{}) return error(we).set_attempts(attempt).set_executed_earlier(executed_earlier);
            }
            if (attempt_once(r, idempotent, attempt, expect, out, deadline, sink, e)) {
                // 417: the server will not take the expectation, and the body never left; send
                // it once more without asking (RFC 9110 §10.1.1).
                if (expect && out.status == 417 && !last_body_started_ && !pump_.spent()) {
                    expect = false;
                    write_request_head(r, false, prefix);
                    ++stats_.retries;
                    emit(event_kind::retry, {}, attempt, errc{});
                    continue;
                }
                // A policy may ask to send again after a complete response (429, 503 with
                // Retry-After). Never with a sink, which has been handed this body; never for a
                // request that is not idempotent, since the server has acted on it.
                std::chrono::nanoseconds wait{0};
                if (sink.fn || pump_.spent() || attempt >= retry_.max_attempts() ||
                    (!idempotent && !detail::resends_non_idempotent<Retry>::value) ||
                    !detail::ask_retry_response(retry_, out, idempotent, attempt, wait,
                                                detail::has_retry_response<Retry>{}))
                    return {};
                wait = detail::saturated(wait);
                if (wait >= deadline - detail::now()) return {};
                executed_earlier = true; // the server answered: it may well have acted
                ++stats_.retries;
                emit(event_kind::retry, {}, attempt, errc{});
                detail::sleep_for(wait);
                continue;
            }
            e.set_attempts(attempt).set_executed_earlier(executed_earlier).set_body_spent(pump_.spent());
            executed_earlier = e.may_have_executed(); // includes the earlier attempts
            const failed_attempt f{e, idempotent, attempt};
            if (attempt >= retry_.max_attempts() || !client_allows_resend(e, idempotent, sink) ||
                !retry_.should_retry(f))
                return e;
            const std::chrono::nanoseconds wait = detail::saturated(retry_.backoff(f));
            // Nothing is sent after the deadline: a backoff that would end past it ends the call.
            if (wait >= deadline - detail::now()) return e;
            ++stats_.retries;
            emit(event_kind::retry, {}, attempt, e.code());
            detail::sleep_for(wait);
        }
    }

public:
    KeepAlive& keep_alive_policy() noexcept { return ka_; }
    Retry& retry_policy() noexcept { return retry_; }
    const client_options& settings() const noexcept { return opts_; }
    const client_stats& stats() const noexcept { return stats_; }
    /// What a learning KeepAlivePolicy believes (all zero for one that does not learn).
    learned_bound learned() const { return detail::learned_of(ka_, detail::has_learned<KeepAlive>{}); }

    /// Calls `h(event, context)` for each connection decision; nullptr turns it off.
    void set_event_handler(event_handler h, void* context) noexcept {
        handler_ = h;
        handler_ctx_ = context;
    }

    /// The transport, for tests that script its faults.
    Transport& transport() noexcept { return conn_; }

    /// True while an idle connection is kept for the next request.
    bool has_idle_connection() const noexcept { return conn_.is_open(); }
    /// Closes the idle connection, if any.
    void close() noexcept { conn_.close(); }

private:
    // Expect: 100-continue for a request that asks for it, and for large or unknown bodies.
    bool wants_expect(const detail::request_view& r) const noexcept {
        if (detail::has_header(r.headers, "Expect")) return true;
        if (!r.has_body() || opts_.expect_continue_threshold == body_source::unknown_length) return false;
        return r.body_size() >= opts_.expect_continue_threshold;
    }

    void write_request_head(const detail::request_view& r, bool expect, std::string_view prefix) {
        wbuf_.clear();
        detail::write_head(wbuf_, r, url_.authority, KeepAlive::persistent ? "keep-alive" : "close",
                           opts_.user_agent, prefix, expect, route_.absolute, route_.authorization);
    }

    void emit(event_kind k, std::chrono::nanoseconds idle, unsigned attempt, errc e = errc{}) {
        if (handler_) handler_(event{k, idle, attempt, e}, handler_ctx_);
    }

    // Returns an idle connection to use if the policy and the probe allow; closes it if not.
    bool take_idle_connection(bool idempotent, std::chrono::nanoseconds idle_for, unsigned attempt) {
        if (!ka_.may_reuse(state_.facts(idle_for), idempotent)) {
            conn_.close();
            emit(event_kind::idle_expired, idle_for, attempt);
            return false;
        }
        if (detail::probes_before_reuse<KeepAlive>::value) {
            const detail::liveness l = conn_.probe();
            if (l != detail::liveness::alive) {
                conn_.close();
                ++stats_.stale_probes;
                // EOF or a reset before anything was written is the server's idle close; bytes
                // nobody asked for (a 408, garbage) say nothing about its timeout.
                emit(event_kind::probe_closed, idle_for, attempt);
                if (l != detail::liveness::stray_bytes) teach_idle_close(idle_for, attempt);
                return false;
            }
        }
        ++stats_.reuses;
        emit(event_kind::reused, idle_for, attempt);
        return true;
    }

    error open_connection(std::chrono::nanoseconds deadline) {
        detail::dial_settings d;
        const auto by_timeout = detail::later(detail::now(), detail::saturated(opts_.connect_timeout));
        d.deadline_binds = deadline <= by_timeout;
        d.connect_end = d.deadline_binds ? deadline : by_timeout;
        d.attempt_delay = detail::saturated(opts_.connection_attempt_delay);
        d.resolver = opts_.resolver;
        d.resolver_context = opts_.resolver_context;
        d.unix_socket = opts_.unix_socket;
        d.tls = url_.tls;
        d.server_name = url_.host;
        d.server_port = url_.port;
        d.tls_settings = &opts_.tls;
        d.tunnel = route_.tunnel;
        if (route_.proxied) return conn_.open(route_.host, route_.port, d);
        return conn_.open(url_.host, url_.port, d);
    }

    // One attempt. On failure fills `e` with the cause and the facts of how far it got.
    bool attempt_once(const detail::request_view& r, bool idempotent, unsigned attempt, bool expect,
                      response& out, std::chrono::nanoseconds deadline, detail::body_sink sink, error& e) {
        bool reused = false;
        std::chrono::nanoseconds idle_for{0};
        if (conn_.is_open()) {
            idle_for = state_.idle_for(detail::now());
            reused = take_idle_connection(idempotent, idle_for, attempt);
        }
        if (!reused) {
            const auto dial_start = detail::now();
            const error ce = open_connection(deadline);
            if (ce.code() != errc{}) {
                e = ce;
                return false;
            }
            ++stats_.connections_opened;
            state_.opened(detail::now() - dial_start);
            if (handler_) {
                event ev{event_kind::connected, {}, attempt, errc{}};
                ev.security = detail::security_of(conn_, detail::has_security<Transport>{});
                handler_(ev, handler_ctx_);
            }
        }
        close_unless_kept guard{conn_};
        if (rbuf_.size() < initial_buffer) rbuf_.resize(initial_buffer);
        reader_.start(r.method, out, opts_.limits, sink);

        detail::upload_progress up;
        std::size_t stray = 0;
        const auto exchange_start = detail::now();
        const error xe = detail::exchange(
            conn_, rbuf_, reader_, wbuf_, pump_,
            expect ? detail::saturated(opts_.expect_continue_timeout) : std::chrono::nanoseconds{0},
            detail::saturated(opts_.write_timeout), detail::saturated(opts_.read_timeout), deadline,
            reused, up, stray);
        last_body_started_ = up.body_started;
        if (xe.code() != errc{}) {
            e = xe;
            e.set_reused(reused)
                .set_written(up.sent == 0 ? written::none : up.all_sent ? written::all : written::partial)
                .set_response_started(reader_.started())
                .set_body_started(up.body_started);
            fail_connection(e, idle_for, detail::now() - exchange_start, attempt);
            return false;
        }

        if (reused) {
            detail::notify_reused(ka_, idle_for, detail::has_on_reused<KeepAlive>{});
            report_learning(attempt);
        }
        // A server may say it closes in the same breath as the answer (a TLS close_notify
        // already read): that connection is not kept, and its close teaches nothing.
        if (detail::connection_state::exchange_allows_reuse(KeepAlive::persistent, r, out, reader_,
                                                            up.all_sent, stray) &&
            !detail::is_closing(conn_, detail::has_closing<Transport>{})) {
            guard.keep = true;
            state_.kept(out, detail::now());
        } else {
            conn_.close();
            emit(event_kind::closed, {}, attempt);
        }
        return true;
    }

    // Closes a failed connection. A reused one that died before any response byte, within a
    // few round trips of the request going out, was closed by the server while idle: teach the
    // keep-alive policy that age. One that died later died of something else (a crash while
    // processing) and teaches nothing.
    void fail_connection(const error& e, std::chrono::nanoseconds idle_for,
                         std::chrono::nanoseconds after_write, unsigned attempt) {
        conn_.close();
        const failed_attempt f{e, true, attempt};
        if (retry::is_stale_connection(f)) {
            ++stats_.stale_failures;
            emit(event_kind::stale_failure, idle_for, attempt, e.code());
            if (after_write <= state_.idle_close_window()) teach_idle_close(idle_for, attempt);
        }
    }

    void teach_idle_close(std::chrono::nanoseconds idle_for, unsigned attempt) {
        ka_.on_idle_close(idle_for);
        report_learning(attempt);
    }

    // One `learned` event per change of a learning policy's bound.
    void report_learning(unsigned attempt) {
        const learned_bound l = detail::learned_of(ka_, detail::has_learned<KeepAlive>{});
        if (l.changes == learned_changes_) return;
        learned_changes_ = l.changes;
        emit(event_kind::learned, l.bound, attempt);
    }

    static constexpr std::size_t initial_buffer = 16 * 1024;

    client_options opts_;
    KeepAlive ka_;
    Retry retry_;
    url url_;
    detail::route route_;
    error init_error_{errc{}};
    std::string prefix_;
    Transport conn_;
    detail::connection_state state_;
    std::string wbuf_;
    std::string rbuf_;
    std::string ubuf_; // a streamed body's piece, allocated on the first streamed request
    detail::body_pump pump_;
    bool last_body_started_ = false;
    detail::response_reader reader_;
    client_stats stats_;
    event_handler handler_ = nullptr;
    void* handler_ctx_ = nullptr;
    unsigned long learned_changes_ = 0;
    detail::busy_flag busy_;
};

/// The client with idem's defaults: timeout-bounded keep-alive, idempotency-aware retries.
using client = basic_client<>;

} // namespace idem

#endif
