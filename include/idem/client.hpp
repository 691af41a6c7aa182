// idem: basic_client — pick or open a connection, send, parse, and ask the policies.
#ifndef IDEM_CLIENT_HPP
#define IDEM_CLIENT_HPP

#include "detail/clock.hpp"
#include "detail/policy_traits.hpp"
#include "detail/socket.hpp"
#include "keep_alive.hpp"
#include "parser.hpp"
#include "reader.hpp"
#include "request.hpp"
#include "response.hpp"
#include "result.hpp"
#include "retry.hpp"
#include "url.hpp"
#include "version.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace idem {

/// Timeouts, limits and defaults of a client. A zero deadline means none.
struct client_options {
    std::chrono::milliseconds connect_timeout{10000}; ///< per address tried
    std::chrono::milliseconds read_timeout{30000};    ///< per wait for response bytes
    std::chrono::milliseconds write_timeout{30000};   ///< per wait for the socket to take bytes
    std::chrono::milliseconds deadline{120000};       ///< the whole call, retries included
    idem::limits limits;
    std::string_view user_agent = "idem/" IDEM_VERSION_STRING; ///< empty: send none
};

/// What a client did, for logs and tests (see basic_client::set_event_handler).
enum class event_kind : unsigned char {
    connected,     ///< a new connection is open
    reused,        ///< an idle connection passed the policy and the probe
    idle_expired,  ///< the keep-alive policy declined an idle connection (too old, max=)
    probe_closed,  ///< the probe found an idle connection closed by the server
    stale_failure, ///< a reused connection failed before any response byte
    retry,         ///< the retry policy sends the request again
    closed,        ///< the connection was closed after an exchange
};

struct event {
    event_kind kind;
    std::chrono::nanoseconds idle_for; ///< the connection's idle age, where it has one
    unsigned attempt;                  ///< the attempt it happened in
    errc err;                          ///< the failure behind a retry or stale_failure
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

/// A blocking HTTP/1.1 client for one origin, holding at most one connection. `Transport` is
/// the socket layer (detail::connection): a seam for fault injection and, one day, TLS.
template <class KeepAlive = keep_alive::timeout_bounded, class Retry = retry::idempotent,
          class Transport = detail::connection>
class basic_client {
    static_assert(detail::keep_alive_policy_asserts<KeepAlive>::value, "");
    static_assert(detail::retry_policy_asserts<Retry>::value, "");

public:
    using keep_alive_policy_type = KeepAlive;
    using retry_policy_type = Retry;

    /// A client for the origin of `base_url` ("http://host[:port]"); any path is ignored.
    /// An invalid URL is reported by every call (and by init_error()).
    explicit basic_client(std::string_view base_url, client_options o = {}, KeepAlive ka = {},
                          Retry rp = {})
        : opts_(o), ka_(std::move(ka)), retry_(std::move(rp)) {
        auto u = parse_url(base_url);
        if (u) url_ = std::move(*u);
        else init_error_ = u.error().code();
    }

    /// errc{} when the client was built from a valid URL, else why not.
    errc init_error() const noexcept { return init_error_; }
    const url& origin() const noexcept { return url_; }

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

    /// Any method token.
    result<response> request(std::string_view method, std::string_view target,
                             std::string_view body = {}, header_list h = {}) {
        response out;
        auto r = send(idem::request{method, target, h, body}, out);
        if (!r) return r.error();
        return out;
    }

    /// Sends `r` and reads the answer into `out`, reusing out's buffers. The hot path: with
    /// a kept-alive connection and a warmed-up `out`, it allocates nothing.
    result<void> send(const idem::request& r, response& out) { return send_to(r, out, {}); }

    /// Like send, but streams the body: `sink(const char* data, std::size_t n)` is called as
    /// bytes arrive (returning false stops with errc::sink_aborted) and out.body stays empty,
    /// so memory stays bounded whatever the body's size; max_body_bytes does not apply. The
    /// head (status, fields) is in `out` before the first call. A retry happens only before any
    /// response byte, so the sink never sees two bodies.
    template <class Sink> result<void> send(const idem::request& r, response& out, Sink&& sink) {
        using sink_type = std::remove_reference_t<Sink>;
        detail::body_sink s;
        s.context = const_cast<void*>(static_cast<const void*>(&sink));
        s.fn = [](void* ctx, const char* p, std::size_t n) -> bool {
            return (*static_cast<sink_type*>(ctx))(p, n);
        };
        return send_to(r, out, s);
    }

private:
    result<void> send_to(const idem::request& r, response& out, detail::body_sink sink) {
        if (init_error_ != errc{}) return init_error_;
        if (auto v = validate(r); !v) return v.error();
        const auto start = detail::now();
        const auto deadline = opts_.deadline.count() > 0
                                  ? start + std::chrono::nanoseconds(opts_.deadline)
                                  : std::chrono::nanoseconds::max() / 2;
        const bool idempotent = is_idempotent(r);
        wbuf_.clear();
        detail::write_head(wbuf_, r, url_.authority, KeepAlive::persistent ? "keep-alive" : "close",
                           opts_.user_agent);
        bool executed_earlier = false;
        for (unsigned attempt = 1;; ++attempt) {
            error e;
            if (attempt_once(r, idempotent, attempt, out, deadline, sink, e)) {
                // A policy may ask to send again after a complete response (429, 503 with
                // Retry-After); it sees whether the request is idempotent and decides. Not
                // with a sink, which has already been handed this response's body.
                std::chrono::nanoseconds wait{0};
                if (sink.fn || attempt >= retry_.max_attempts() ||
                    !detail::ask_retry_response(retry_, out, idempotent, attempt, wait,
                                                detail::has_retry_response<Retry>{}) ||
                    detail::now() + wait >= deadline)
                    return {};
                executed_earlier = true; // the server answered: it may well have acted
                ++stats_.retries;
                emit(event_kind::retry, {}, attempt, errc{});
                detail::sleep_for(wait);
                continue;
            }
            e.set_attempts(attempt).set_executed_earlier(executed_earlier);
            executed_earlier = e.may_have_executed(); // includes the earlier attempts
            const failed_attempt f{e, idempotent, attempt};
            if (attempt >= retry_.max_attempts() || !retry_.should_retry(f)) return e;
            const std::chrono::nanoseconds wait = retry_.backoff(f);
            if (detail::now() + wait >= deadline) return e;
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
    void emit(event_kind k, std::chrono::nanoseconds idle, unsigned attempt, errc e = errc{}) {
        if (handler_) handler_(event{k, idle, attempt, e}, handler_ctx_);
    }

    // Returns an idle connection to use if the policy and the probe allow; closes it if not.
    bool take_idle_connection(bool idempotent, std::chrono::nanoseconds idle_for, unsigned attempt) {
        const idle_connection facts{idle_for, exchanges_, hint_.timeout_s, hint_.max, max_first_};
        if (!ka_.may_reuse(facts, idempotent)) {
            conn_.close();
            emit(event_kind::idle_expired, idle_for, attempt);
            return false;
        }
        if (detail::probes_before_reuse<KeepAlive>::value &&
            conn_.probe() != detail::liveness::alive) {
            conn_.close();
            ++stats_.stale_probes;
            ka_.on_idle_close(idle_for);
            emit(event_kind::probe_closed, idle_for, attempt);
            return false;
        }
        ++stats_.reuses;
        emit(event_kind::reused, idle_for, attempt);
        return true;
    }

    // One attempt. On failure fills `e` with the cause and the facts of how far it got.
    bool attempt_once(const idem::request& r, bool idempotent, unsigned attempt, response& out,
                      std::chrono::nanoseconds deadline, detail::body_sink sink, error& e) {
        bool reused = false;
        std::chrono::nanoseconds idle_for{0};
        if (conn_.is_open()) {
            idle_for = detail::now() - idle_since_;
            reused = take_idle_connection(idempotent, idle_for, attempt);
        }
        if (!reused) {
            const error ce = conn_.open(url_.host, url_.port, opts_.connect_timeout, deadline);
            if (ce.code() != errc{}) {
                e = ce;
                return false;
            }
            ++stats_.connections_opened;
            exchanges_ = 0;
            hint_ = {};
            max_first_ = -1;
            emit(event_kind::connected, {}, attempt);
        }

        std::size_t sent = 0;
        const std::size_t total = wbuf_.size() + r.body.size();
        const error se = conn_.send_all(wbuf_.data(), wbuf_.size(), r.body.data(), r.body.size(),
                                        opts_.write_timeout, deadline, sent);
        const written w = sent == 0 ? written::none : sent < total ? written::partial : written::all;
        if (se.code() != errc{}) {
            e = se;
            e.set_reused(reused).set_written(w);
            fail_connection(e, idle_for, attempt);
            return false;
        }

        bool started = false;
        std::size_t stray = 0;
        const error re = read_response(r, out, deadline, sink, reused, started, stray);
        if (re.code() != errc{}) {
            e = re;
            e.set_reused(reused).set_written(written::all).set_response_started(started);
            fail_connection(e, idle_for, attempt);
            return false;
        }

        // RFC 9112 §9.3: keep the connection only if both sides allow it, the body ended by
        // its framing (not by EOF) and nothing follows it — bytes after a complete response
        // are never read as the next one.
        const bool keep = KeepAlive::persistent && !reader_.ended_by_eof() && stray == 0 &&
                          detail::response_allows_reuse(out, reader_.framing()) &&
                          !detail::list_has_token(header_value(r.headers, "Connection"), "close");
        if (reused) detail::notify_reused(ka_, idle_for, detail::has_on_reused<KeepAlive>{});
        if (keep) {
            idle_since_ = detail::now();
            ++exchanges_;
            if (auto ka = detail::field_value(out, detail::field_kind::keep_alive); !ka.empty()) {
                hint_ = detail::parse_keep_alive(ka);
                if (max_first_ < 0) max_first_ = hint_.max;
            }
        } else {
            conn_.close();
            emit(event_kind::closed, {}, attempt);
        }
        return true;
    }

    static std::string_view header_value(const header_list& h, std::string_view name) noexcept {
        for (const auto& f : h)
            if (detail::iequals(f.name, name)) return f.value;
        return {};
    }

    // Closes a failed connection. A reused one that died before any response byte was closed
    // by the server while idle: teach the keep-alive policy that age.
    void fail_connection(const error& e, std::chrono::nanoseconds idle_for, unsigned attempt) {
        conn_.close();
        const failed_attempt f{e, true, attempt};
        if (retry::is_stale_connection(f)) {
            ++stats_.stale_failures;
            ka_.on_idle_close(idle_for);
            emit(event_kind::stale_failure, idle_for, attempt, e.code());
        }
    }

    // Reads the response into `out`. `stray` counts bytes that followed it.
    error read_response(const idem::request& r, response& out, std::chrono::nanoseconds deadline,
                        detail::body_sink sink, bool reused, bool& started, std::size_t& stray) {
        if (rbuf_.size() < initial_buffer) rbuf_.resize(initial_buffer);
        reader_.start(r.method, out, opts_.limits, sink);
        for (;;) {
            std::size_t got = 0;
            const error ge = conn_.receive(&rbuf_[0], rbuf_.size(), opts_.read_timeout, deadline, got);
            started = reader_.started();
            if (ge.code() != errc{}) return ge;
            if (got == 0) {
                // EOF before any byte on a reused connection is the keep-alive race.
                if (!reader_.started() && reused) return error(errc::server_closed_idle);
                const errc fe = reader_.finish_at_eof();
                return error(fe);
            }
            const auto st = reader_.feed(rbuf_.data(), got);
            started = true;
            if (st.failed) return error(st.err);
            if (reader_.done()) {
                stray = got - st.consumed;
                return error(errc{});
            }
        }
    }

    static constexpr std::size_t initial_buffer = 16 * 1024;

    client_options opts_;
    KeepAlive ka_;
    Retry retry_;
    url url_;
    errc init_error_ = errc{};
    Transport conn_;
    std::chrono::nanoseconds idle_since_{0};
    unsigned exchanges_ = 0;
    detail::keep_alive_hint hint_;
    long max_first_ = -1;
    std::string wbuf_;
    std::string rbuf_;
    detail::response_reader reader_;
    client_stats stats_;
    event_handler handler_ = nullptr;
    void* handler_ctx_ = nullptr;
};

/// The client with idem's defaults: timeout-bounded keep-alive, idempotency-aware retries.
using client = basic_client<>;

} // namespace idem

#endif
