// https over idem/tls/openssl.hpp, against a TLS front (tests/support/tls_relay.hpp) on the
// scripted test_server: certificates checked and refused with their reasons, the liveness
// probe over TLS (close_notify, a bare EOF, session tickets and KeyUpdates while idle), the
// idle race and the retry rules as over plaintext, and a body cut short without close_notify.
#include "support/test_idem.hpp"
#include "support/events.hpp"
#include "support/bodies.hpp"
#include "support/connect_proxy.hpp"
#include "support/options.hpp"
#include "support/resolver.hpp"
#include "support/stall.hpp"
#include "support/test_server.hpp"
#include "support/tls_relay.hpp"

#include <idem/tls/openssl.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::connect_proxy;
using idem_test::action;
using idem_test::event_log;
using idem_test::idle_after;
using idem_test::relay_config;
using idem_test::scripted_resolver;
using idem_test::server_config;
using idem_test::signal_ticker;
using idem_test::step;
using idem_test::test_certs;
using idem_test::test_server;
using idem_test::tls_relay;

namespace {

// What the connected events said of each new connection's protection.
struct security_log {
    std::vector<std::string> said;
    static void record(const idem::event& e, void* ctx) {
        if (e.kind == idem::event_kind::connected) static_cast<security_log*>(ctx)->said.emplace_back(e.security);
    }
};

idem::client_options trusting() {
    idem::client_options o = idem_test::quick_options();
    o.tls.ca_file = test_certs::get().ca_file;
    return o;
}

// A TLS transport that cannot make CONNECT tunnels, as a user's own might be.
struct no_tunnels : idem::tls::transport {
    static constexpr bool tunnel_capable = false;
};

relay_config serving(const idem_test::key_and_cert& id) {
    relay_config r;
    r.identity = &id;
    return r;
}

} // namespace

TEST_CASE("https: a verified connection, by name and by address, kept alive") {
    test_server s;
    tls_relay t(s.port());
    for (const char* host : {"localhost", "127.0.0.1"}) {
        CAPTURE(host);
        idem::tls::client c{t.url(host), trusting()};
        REQUIRE(c.init_error() == errc{});
        security_log log;
        c.set_event_handler(&security_log::record, &log);
        auto a = c.get("/a");
        REQUIRE(a);
        CHECK(a->status == 200);
        CHECK(a->body == "ok");
        CHECK(c.transport().secure());
        // The connected event says how: protocol, cipher suite, what the certificate proved.
        REQUIRE(log.said.size() == 1);
        CHECK(log.said[0].rfind("TLSv1.", 0) == 0);
        CHECK(log.said[0].find(", TLS_") != std::string::npos);
        const std::string proved = std::string(host) == "localhost" ? "certificate verified for the name"
                                                                    : "certificate verified for the address";
        CHECK(log.said[0].find(proved) != std::string::npos);
        auto b = c.post("/b", "payload");
        REQUIRE(b);
        CHECK(s.last_body() == "payload");
        CHECK(c.stats().connections_opened == 1);
        CHECK(c.stats().reuses == 1);
    }
    CHECK(t.handshakes() == 2);
    // The Host field carries no :443 for the default port, and the authority otherwise.
    CHECK(s.last_head().find("\r\nHost: 127.0.0.1:" + std::to_string(t.port()) + "\r\n") != std::string::npos);
}

TEST_CASE("every certificate that does not prove the host is refused, with OpenSSL's reason, and never retried") {
    test_server s;
    const test_certs& certs = test_certs::get();
    struct row {
        const idem_test::key_and_cert* id;
        const char* host;
        bool own_ca;
        const char* reason;
    } rows[] = {
        {&certs.wrong_name, "localhost", true, "hostname mismatch"},
        {&certs.wrong_name, "127.0.0.1", true, "IP address mismatch"},
        {&certs.expired, "localhost", true, "certificate has expired"},
        {&certs.self_signed, "localhost", true, "self-signed certificate"},
        {&certs.good, "localhost", false, "unable to get local issuer certificate"}, // the system's CAs
    };
    for (const auto& r : rows) {
        CAPTURE(r.reason);
        tls_relay t(s.port(), serving(*r.id));
        idem::client_options o = r.own_ca ? trusting() : idem_test::quick_options();
        const unsigned seen = s.requests_seen();
        const std::string url = "https://" + std::string(r.host) + ":" + std::to_string(t.port());
        idem::tls::client c{url, o};
        auto got = c.get("/");
        REQUIRE(!got);
        CHECK(got.error() == errc::certificate_rejected);
        CHECK(got.error().message().find(r.reason) != std::string::npos);
        CHECK(got.error().attempts() == 1);
        CHECK(!got.error().may_have_executed());
        CHECK(std::error_code(got.error()) == std::errc::permission_denied);
        CHECK(s.requests_seen() == seen);

        // The loudly named opt-out takes any of them.
        idem::client_options loose = idem_test::quick_options();
        loose.tls.insecure_skip_verify = true;
        idem::tls::client l{url, loose};
        security_log log;
        l.set_event_handler(&security_log::record, &log);
        auto ok = l.get("/");
        REQUIRE(ok);
        CHECK(ok->status == 200);
        REQUIRE(log.said.size() == 1);
        CHECK(log.said[0].find("certificate not verified (insecure_skip_verify)") != std::string::npos);
    }
}

TEST_CASE("a CA file that cannot be read, and a server that does not speak TLS, are typed errors") {
    test_server s;
    tls_relay t(s.port());
    idem::client_options o = idem_test::quick_options();
    o.tls.ca_file = "/nonexistent/ca.pem";
    auto r = idem::tls::client{t.url(), o}.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::certificate_rejected);
    CHECK(r.error().message().find("ca_file") != std::string::npos);

    // A plaintext server on an https URL: its answer is not a TLS record.
    idem::tls::client plain{"https://127.0.0.1:" + std::to_string(s.port()), trusting()};
    auto p = plain.get("/");
    REQUIRE(!p);
    CHECK(p.error() == errc::tls_handshake_failed);
    CHECK(p.error().attempts() == 1);
    CHECK(!p.error().may_have_executed());
}

TEST_CASE("the same transport takes http URLs in plaintext") {
    test_server s;
    idem::tls::client c{s.url(), idem_test::quick_options()};
    security_log log;
    c.set_event_handler(&security_log::record, &log);
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(!c.transport().secure());
    REQUIRE(log.said.size() == 1);
    CHECK(log.said[0].empty()); // plaintext claims no protection
}

TEST_CASE("a reconnect resumes the server's session, only with the server and the checks that made it") {
    test_server s;
    for (int version : {0, TLS1_2_VERSION}) {
        CAPTURE(version);
        relay_config rc;
        rc.max_version = version;
        tls_relay t(s.port(), rc);
        idem::tls::client c{t.url("localhost"), trusting()};
        security_log log;
        c.set_event_handler(&security_log::record, &log);
        // Three connections in turn: the first makes a session, each later one resumes one
        // (TLS 1.3: a fresh ticket each time; TLS 1.2: the same session again).
        for (int i = 0; i < 3; ++i) {
            REQUIRE(c.get("/"));
            c.close();
        }
        CHECK(t.handshakes() == 3);
        CHECK(t.resumed() == 2);
        REQUIRE(log.said.size() == 3);
        CHECK(log.said[0].find("session resumed") == std::string::npos);
        CHECK(log.said[1].find("certificate verified for the name, session resumed") != std::string::npos);
        CHECK(log.said[2].find("session resumed") != std::string::npos);
        if (version == TLS1_2_VERSION) CHECK(log.said[1].rfind("TLSv1.2, ", 0) == 0);

        // Another name for the same server, or other trust settings: a full handshake.
        idem::tls::client by_address{t.url("127.0.0.1"), trusting()};
        REQUIRE(by_address.get("/"));
        idem::client_options loose = idem_test::quick_options();
        loose.tls.insecure_skip_verify = true;
        idem::tls::client skipping{t.url("localhost"), loose};
        REQUIRE(skipping.get("/"));
        CHECK(t.resumed() == 2);
        // And a verifying client never takes what a skipping one was given.
        skipping.close();
        idem::tls::client after{t.url("localhost"), trusting()};
        security_log after_log;
        after.set_event_handler(&security_log::record, &after_log);
        REQUIRE(after.get("/"));
        REQUIRE(after_log.said.size() == 1);
        CHECK(after_log.said[0].find("not verified") == std::string::npos);
    }
    // Turned off: every connection does a full handshake.
    tls_relay t(s.port());
    idem::client_options o = trusting();
    o.tls.resume_sessions = false;
    idem::tls::client c{t.url("localhost"), o};
    for (int i = 0; i < 3; ++i) {
        REQUIRE(c.get("/"));
        c.close();
    }
    CHECK(t.handshakes() == 3);
    CHECK(t.resumed() == 0);
}

TEST_CASE("the handshake is bounded by the connect timeout and the deadline") {
    idem_test::silent_reader l; // never answers the ClientHello
    const std::string url = "https://127.0.0.1:" + std::to_string(l.port());
    idem::client_options o = trusting();
    o.connect_timeout = 200ms;
    {
        idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never, idem::tls::transport> c{url, o};
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::connect_timeout);
    }
    o.connect_timeout = 10s;
    o.deadline = 300ms;
    {
        idem::tls::client c{url, o};
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::deadline_exceeded);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
}

// What a busy process and a hostile network do to a TLS call: the same bounds as plaintext
// (tests/socket_test.cpp, tests/guarantees_test.cpp), now with OpenSSL between the client and
// the socket.
TEST_CASE("over TLS, signals cannot stretch a wait, a hung resolver cannot hold a call, a throwing sink leaves no connection") {
    using once_client = idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never, idem::tls::transport>;
    using idem_test::seconds_since;
    auto waits = [] {
        idem::client_options o = idem_test::short_waits();
        o.tls.ca_file = test_certs::get().ca_file;
        return o;
    };
    SUBCASE("a 20 ms signal through a handshake the server never answers") {
        idem_test::silent_reader l;
        once_client c{"https://127.0.0.1:" + std::to_string(l.port()), waits()};
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::connect_timeout);
        CHECK(!r.error().may_have_executed());
        CHECK(signal_ticker::ticks() >= 5);
        CHECK(took < 1.5);
    }
    SUBCASE("a 20 ms signal through a read the server never answers") {
        test_server s;
        s.push(step{action::delay, {}, 3000ms, false});
        tls_relay t(s.port());
        once_client c{t.url(), waits()};
        signal_ticker tick(20ms);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        REQUIRE(!r);
        CHECK(r.error() == errc::read_timeout);
        CHECK(r.error().may_have_executed());
        CHECK(signal_ticker::ticks() >= 5);
        CHECK(took < 1.5);
    }
    SUBCASE("a resolver that never answers, for a name the certificate holds") {
        static scripted_resolver res; // outlives the abandoned resolution by design
        res.hang = true;
        res.released = false;
        res.answer.count = 0;
        res.add("127.0.0.1");
        auto o = waits();
        o.connect_timeout = 10s;
        o.deadline = 300ms;
        idem_test::use(o, res);
        once_client c{"https://localhost:9", o};
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.get("/");
        const double took = seconds_since(t0);
        res.release_and_wait();
        REQUIRE(!r);
        CHECK(r.error() == errc::deadline_exceeded);
        CHECK(r.error().message().find("resolving") != std::string::npos);
        CHECK(!r.error().may_have_executed());
        CHECK(took < 1.5);
        CHECK(res.finished == res.calls);
    }
    SUBCASE("a sink that throws mid-body: the connection is closed behind it, the next call is a new one") {
        test_server s;
        tls_relay t(s.port());
        idem::tls::client c{t.url(), trusting()};
        // The body drips, so its tail is still on the way when the sink throws.
        s.push(step{action::drip, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhelloworld", 3ms, false});
        CHECK(idem_test::get_into_throwing_sink(c));
        CHECK(!c.has_idle_connection());
        auto next = c.get("/");
        REQUIRE(next);
        CHECK(next->body == "ok");
        CHECK(t.handshakes() == 2);
    }
}

TEST_CASE("the probe over TLS: an idle close, with close_notify or without, through a tunnel or not, is found before reuse and learned") {
    // Directly, and through a CONNECT tunnel, which passes the close on.
    for (const std::pair<bool, bool>& row : {std::pair<bool, bool>{true, false}, {false, false}, {true, true}}) {
        const bool notify = row.first, proxied = row.second;
        CAPTURE(notify);
        CAPTURE(proxied);
        test_server s(idle_after(150ms));
        relay_config rc;
        rc.close_notify = notify;
        tls_relay t(s.port(), rc);
        connect_proxy p;
        idem::client_options o = trusting();
        if (proxied) o.proxy = p.url();
        idem::tls::client c{t.url(), o};
        event_log log;
        c.set_event_handler(&event_log::record, &log);
        REQUIRE(c.get("/"));
        REQUIRE(t.wait_ended(1, 5s));
        if (proxied) REQUIRE(p.wait_backend_closes(1, 5s)); // and the proxy passed the close on
        auto r = c.post("/", "once");
        REQUIRE(r);
        CHECK(s.executed("POST") == 1);
        CHECK(c.stats().stale_probes == 1);
        CHECK(log.count(idem::event_kind::probe_closed) == 1);
        CHECK(c.stats().retries == 0);
        CHECK(c.keep_alive_policy().bound() < c.keep_alive_policy().initial_bound());
        CHECK(p.tunnels() == (proxied ? 2u : 0u));
    }
}

TEST_CASE("session tickets and KeyUpdates on an idle connection leave it idle: it is reused") {
    for (int kind : {0, 1}) {
        CAPTURE(kind);
        test_server s;
        relay_config rc;
        (kind == 0 ? rc.idle_tickets_after_ms : rc.idle_key_update_after_ms) = 20;
        tls_relay t(s.port(), rc);
        idem::tls::client c{t.url(), trusting()};
        REQUIRE(c.get("/"));
        // The relay sends it 20 ms into the idle spell: wait for the record itself (the
        // client's socket turns readable), then make sure it was that record.
        pollfd pf{c.transport().fd(), POLLIN, 0};
        REQUIRE(::poll(&pf, 1, 5000) == 1);
        REQUIRE((kind == 0 ? t.tickets_sent() : t.key_updates_sent()) >= 1);
        auto r = c.get("/again");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(c.stats().reuses == 1);
        CHECK(c.stats().stale_probes == 0);
        CHECK(c.stats().connections_opened == 1);
        CHECK(t.handshakes() == 1);
        REQUIRE(c.get("/third")); // after a KeyUpdate the client's keys changed too
        CHECK(c.stats().reuses == 2);
    }
}

TEST_CASE("a TLS 1.2 server asking to renegotiate on an idle connection: the probe finds it idle, the handshake completes, the connection is reused") {
    test_server s;
    relay_config rc;
    rc.max_version = TLS1_2_VERSION;
    rc.idle_renegotiate_after_ms = 20;
    tls_relay t(s.port(), rc);
    idem::tls::client c{t.url(), trusting()};
    REQUIRE(c.get("/"));
    // Wait for the HelloRequest itself: the client's socket turns readable.
    pollfd pf{c.transport().fd(), POLLIN, 0};
    REQUIRE(::poll(&pf, 1, 5000) == 1);
    CHECK(t.renegotiations_asked() == 1);
    for (const char* target : {"/again", "/third"}) {
        auto r = c.get(target);
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    CHECK(c.stats().reuses == 2);
    CHECK(c.stats().stale_probes == 0);
    CHECK(c.stats().connections_opened == 1);
}

TEST_CASE("bytes nobody asked for on an idle TLS connection: it is not reused") {
    test_server s;
    tls_relay t(s.port());
    idem::tls::client c{t.url(), trusting()};
    s.push(step{action::respond_then_raw, "HTTP/1.1 408 Request Timeout\r\n\r\n", 10ms, false});
    event_log log;
    c.set_event_handler(&event_log::record, &log);
    REQUIRE(c.get("/"));
    REQUIRE(c.has_idle_connection());
    // Wait for the stray record itself: the client's socket turns readable.
    pollfd pf{c.transport().fd(), POLLIN, 0};
    REQUIRE(::poll(&pf, 1, 5000) == 1);
    auto r = c.get("/next");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.stats().connections_opened == 2);
    CHECK(c.stats().stale_probes == 1);
    CHECK(log.count(idem::event_kind::probe_closed) == 1);
}

TEST_CASE("the idle race over TLS: a GET is retried, a POST is reported, never sent twice") {
    for (bool notify : {true, false}) {
        CAPTURE(notify);
        test_server s;
        relay_config rc;
        rc.close_notify = notify;
        tls_relay t(s.port(), rc);
        idem::tls::client c{t.url(), trusting()};
        REQUIRE(c.get("/"));
        s.push(action::close_before_execute);
        auto g = c.get("/", {{"X-Request-Id", "g1"}});
        REQUIRE(g);
        CHECK(s.executed_id("g1") == 1);
        CHECK(c.stats().retries == 1);
        CHECK(c.stats().stale_failures == 1);

        s.push(action::close_before_execute);
        auto p = c.post("/", "pay", {{"X-Request-Id", "p1"}});
        REQUIRE(!p);
        CHECK(p.error() == errc::server_closed_idle);
        CHECK(p.error().may_have_executed());
        CHECK(p.error().attempts() == 1);
        CHECK(s.executed_id("p1") == 0);

        REQUIRE(c.get("/"));
        s.push(action::rst_after_execute);
        auto x = c.post("/", "pay", {{"X-Request-Id", "p2"}});
        REQUIRE(!x);
        CHECK(x.error().may_have_executed());
        CHECK(s.executed_id("p2") == 1); // executed once, and not sent again
    }
}

TEST_CASE("a body that runs to EOF is complete only with close_notify") {
    for (bool notify : {true, false}) {
        CAPTURE(notify);
        test_server s;
        relay_config rc;
        rc.close_notify = notify;
        tls_relay t(s.port(), rc);
        idem::tls::client c{t.url(), trusting()};
        s.push(step{action::raw, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe whole body", 0ms, true});
        auto r = c.get("/");
        if (notify) {
            REQUIRE(r);
            CHECK(r->body == "the whole body");
        } else {
            REQUIRE(!r);
            CHECK(r.error() == errc::unexpected_eof);
            CHECK(r.error().message().find("close_notify") != std::string::npos);
        }
    }
    // A framed body needs no close_notify: its length says where it ends.
    test_server s;
    relay_config rc;
    rc.close_notify = false;
    tls_relay t(s.port(), rc);
    idem::tls::client c{t.url(), trusting()};
    s.push(step{action::raw, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfour", 0ms, true});
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->body == "four");
}

TEST_CASE("a close_notify that came with the answer closes the connection at once, and teaches nothing") {
    test_server s;
    relay_config rc;
    rc.cork = true; // the answer and the close_notify reach the client together
    tls_relay t(s.port(), rc);
    idem::tls::client c{t.url(), trusting()};
    event_log log;
    c.set_event_handler(&event_log::record, &log);
    // An unannounced close right after a framed answer (a server reloading).
    s.push(step{action::raw, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0ms, true});
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->body == "hi");
    CHECK(!c.transport().is_open());
    CHECK(log.count(idem::event_kind::closed) == 1);
    REQUIRE(c.get("/next"));
    CHECK(c.stats().stale_probes == 0);
    CHECK(c.keep_alive_policy().bound() == c.keep_alive_policy().initial_bound());
}

TEST_CASE("an early answer during an upload over TLS is returned, and the body is not re-sent") {
    test_server s;
    tls_relay t(s.port());
    idem::client_options o = trusting();
    o.expect_continue_threshold = idem::body_source::unknown_length; // never ask first
    idem::tls::client c{t.url(), o};
    s.push(step{action::raw_before_body, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                0ms, true});
    const std::string big(8 << 20, 'x');
    auto r = c.post("/upload", big);
    const std::string why = r ? std::string() : r.error().message();
    INFO(why);
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(c.stats().retries == 0);
}

TEST_CASE("a pool over TLS: threads share the origin, each call on a verified connection of its own") {
    test_server s;
    tls_relay t(s.port());
    idem::tls::pool p{t.url(), trusting()};
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] {
            for (int k = 0; k < 10; ++k)
                if (auto r = p.get("/"); r && r->status == 200) ++ok;
        });
    for (auto& th : threads) th.join();
    CHECK(ok == 40);
    CHECK(t.handshakes() <= 4);
}

TEST_CASE("redirects between http and https, with TLS, and credentials kept from the other scheme") {
    test_server s;
    tls_relay t(s.port());
    idem::client_options o = trusting();
    o.follow_redirects = true;
    idem::tls::client c{s.url(), o};
    s.push(step{action::raw, "HTTP/1.1 301 Moved\r\nLocation: " + t.url("localhost") + "/secure\r\nContent-Length: 0\r\n\r\n",
                0ms, false});
    auto r = c.get("/start", {{"Authorization", "Bearer t"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->redirects == 1);
    CHECK(r->url == t.url("localhost") + "/secure");
    CHECK(s.last_head().find("Authorization") == std::string::npos); // another origin: the scheme differs
    CHECK(t.handshakes() == 1);

    // Over the core's transport, the same redirect is unsupported_scheme, named as such.
    idem::client plain{s.url(), o};
    s.push(step{action::raw, "HTTP/1.1 301 Moved\r\nLocation: " + t.url() + "/secure\r\nContent-Length: 0\r\n\r\n",
                0ms, false});
    auto p = plain.get("/start");
    REQUIRE(!p);
    CHECK(p.error() == errc::unsupported_scheme);
    CHECK(p.error().message().find("idem/tls/openssl.hpp") != std::string::npos);
}

TEST_CASE("with a proxy for each scheme, a redirect from http to https takes https's proxy, or none") {
    test_server s;
    tls_relay t(s.port());
    test_server http_proxy; // answers the http request, sent to it in absolute-form, with a 301 to https
    http_proxy.push(step{action::raw, "HTTP/1.1 301 Moved\r\nLocation: " + t.url("localhost") + "/secure\r\nContent-Length: 0\r\n\r\n",
                         0ms, false});
    idem::client_options o = trusting();
    o.follow_redirects = true;
    o.proxy = http_proxy.url();
    o.proxy_per_scheme = true; // as use_proxy_environment sets it: curl's http_proxy and https_proxy
    SUBCASE("no https proxy: the hop goes straight to the origin") {
        idem::tls::client c{"http://origin.invalid/", o};
        auto r = c.get("/start");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->redirects == 1);
        CHECK(http_proxy.requests_seen() == 1);
        CHECK(t.handshakes() == 1);
    }
    SUBCASE("an https proxy: the hop is a tunnel through it") {
        connect_proxy p;
        o.https_proxy = p.url();
        idem::tls::client c{"http://origin.invalid/", o};
        auto r = c.get("/start");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(http_proxy.requests_seen() == 1);
        CHECK(p.tunnels() == 1);
        CHECK(t.handshakes() == 1);
    }
}

TEST_CASE("https through a proxy: a CONNECT tunnel to the origin, its credentials for the proxy alone, kept alive") {
    test_server s;
    tls_relay t(s.port());
    for (auto answer : {idem_test::proxy_answer::tunnel, idem_test::proxy_answer::interim_then_tunnel}) {
        CAPTURE(int(answer));
        connect_proxy p(answer);
        idem::client_options o = trusting();
        o.proxy = p.url("Aladdin:open%20sesame@");
        idem::tls::client c{t.url("localhost") + "/base", o};
        REQUIRE(c.init_error() == errc{});
        CHECK(c.uses_proxy());
        security_log log;
        c.set_event_handler(&security_log::record, &log);
        auto a = c.get("/a");
        REQUIRE(a);
        CHECK(a->status == 200);
        auto b = c.post("/b", "payload");
        REQUIRE(b);
        CHECK(b->status == 200);
        // One tunnel, one handshake, both requests through it.
        CHECK(p.connections() == 1);
        CHECK(p.tunnels() == 1);
        CHECK(c.stats().connections_opened == 1);
        CHECK(c.stats().reuses == 1);
        const auto heads = p.heads();
        REQUIRE(heads.size() == 1);
        // RFC 9110 §9.3.6: authority-form, the port always there; the credentials go here.
        const std::string hostport = "localhost:" + std::to_string(t.port());
        CHECK(idem_test::request_line(heads[0]) == "CONNECT " + hostport + " HTTP/1.1");
        CHECK(idem_test::field(heads[0], "Host") == hostport);
        CHECK(idem_test::field(heads[0], "Proxy-Authorization") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        // Inside the tunnel: the origin's request in origin-form, nothing for the proxy.
        const std::string inner = s.last_head();
        CHECK(idem_test::request_line(inner) == "POST /base/b HTTP/1.1");
        CHECK(!idem_test::has_field(inner, "Proxy-Authorization"));
        CHECK(idem_test::field(inner, "Host") == hostport);
        // The certificate was checked for the origin's name, not the proxy's address.
        REQUIRE(log.said.size() == 1);
        CHECK(log.said[0].find("certificate verified for the name") != std::string::npos);
    }
    // A pool tunnels each of its connections, and IPv6 literals go in brackets.
    connect_proxy p;
    idem::client_options o = trusting();
    o.proxy = p.url();
    idem::tls::pool pl{t.url(), o};
    REQUIRE(pl.get("/"));
    CHECK(p.tunnels() == 1);
    CHECK(idem::detail::tunnel_head(*idem::parse_url("https://[::1]:8443/"), "", "")
              .rfind("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 0) == 0);
    CHECK(idem::detail::tunnel_head(*idem::parse_url("https://example.com/"), "", "ua/1") ==
          "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: ua/1\r\n\r\n");
}

TEST_CASE("through a tunnel, a throwing sink closes the connection and a second thread is turned away") {
    SUBCASE("a sink that throws mid-body: the tunnel is closed behind it, the next call opens another") {
        test_server s;
        tls_relay t(s.port());
        connect_proxy p;
        idem::client_options o = trusting();
        o.proxy = p.url();
        idem::tls::client c{t.url(), o};
        s.push(step{action::drip, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhelloworld", 3ms, false});
        CHECK(idem_test::get_into_throwing_sink(c));
        CHECK(!c.has_idle_connection());
        auto next = c.get("/");
        REQUIRE(next);
        CHECK(next->body == "ok");
        CHECK(p.tunnels() == 2);
        CHECK(t.handshakes() == 2);
    }
    SUBCASE("a second thread while the first waits for the proxy's answer gets client_busy, nothing sent") {
        connect_proxy p(idem_test::proxy_answer::silent);
        idem::client_options o = trusting();
        o.proxy = p.url();
        o.connect_timeout = 1s;
        // one attempt, so that every connection the proxy saw is the first thread's
        idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never, idem::tls::transport> c{"https://localhost:1", o};
        errc first{};
        std::thread a([&] {
            auto r = c.get("/");
            first = r ? errc{} : r.error().code();
        });
        const bool asked = p.wait_heads(1, 5s);
        auto busy = c.get("/");
        a.join();
        REQUIRE(asked);
        REQUIRE(!busy);
        CHECK(busy.error() == errc::client_busy);
        CHECK(!busy.error().may_have_executed());
        CHECK(first == errc::connect_timeout);
        CHECK(p.connections() == 1);
    }
}

TEST_CASE("a proxy that refuses or misbehaves is a typed error, never retried; one that never answers is bounded") {
    struct row {
        idem_test::proxy_answer answer;
        errc expected;
        const char* says;
    };
    const row rows[] = {
        {idem_test::proxy_answer::refuse_407, errc::proxy_refused, "407"},
        {idem_test::proxy_answer::not_http, errc::malformed_response, "not an HTTP response"},
        {idem_test::proxy_answer::bytes_after, errc::malformed_response, "bytes after its answer"},
        // a head that never ends, on a connection that stays open: cut at the bound, not read on
        {idem_test::proxy_answer::endless_head, errc::header_too_large, "16 KiB"},
    };
    for (const row& w : rows) {
        CAPTURE(w.says);
        test_server s;
        tls_relay t(s.port());
        connect_proxy p(w.answer);
        idem::client_options o = trusting();
        o.proxy = p.url();
        idem::tls::client c{t.url(), o};
        auto r = c.post("/", "x");
        REQUIRE(!r);
        CHECK(r.error() == w.expected);
        CHECK(r.error().message().find(w.says) != std::string::npos);
        CHECK(!r.error().may_have_executed());
        CHECK(r.error().attempts() == 1);
        CHECK(p.connections() == 1);
        CHECK(t.handshakes() == 0);
        CHECK(s.requests_seen() == 0);
        CHECK(!c.has_idle_connection());
    }
    // A proxy that never answers is bounded by the connect timeout, and by the deadline.
    connect_proxy p(idem_test::proxy_answer::silent);
    idem::client_options o = trusting();
    o.proxy = p.url();
    o.connect_timeout = 200ms;
    {
        idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never, idem::tls::transport> c{"https://localhost:1", o};
        const auto t0 = std::chrono::steady_clock::now();
        idem_test::signal_ticker ticks(20ms); // and a signal cannot stretch the wait
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::connect_timeout);
        CHECK(r.error().message().find("CONNECT") != std::string::npos);
        CHECK(idem_test::seconds_since(t0) < 2.0);
    }
    o.connect_timeout = 10s;
    o.deadline = 300ms;
    idem::tls::client c{"https://localhost:1", o};
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::deadline_exceeded);
    // A TLS transport that makes no tunnels is not sent to a proxy for https: refused, named.
    idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::idempotent, no_tunnels> bare{"https://localhost:1", o};
    CHECK(bare.init_error() == errc::unsupported_scheme);
    idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::idempotent, no_tunnels> direct{"http://localhost:1", o};
    CHECK(direct.init_error() == errc{});
}
