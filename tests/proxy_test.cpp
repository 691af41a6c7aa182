// HTTP proxies: the proxy URL, absolute-form targets, credentials that go to the proxy only,
// no_proxy as curl reads it, and the environment read only when asked.
#include "support/test_idem.hpp"
#include "support/options.hpp"
#include "support/test_server.hpp"

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::field;
using idem_test::has_field;
using idem_test::request_line;
using idem_test::step;
using idem_test::test_server;

namespace {

// The server plays the proxy: it records what it is asked and answers.
idem::client_options via(const test_server& proxy, const std::string& userinfo = {}) {
    idem::client_options o = idem_test::quick_options();
    o.proxy = "http://" + userinfo + proxy.url().substr(7);
    return o;
}

} // namespace

TEST_CASE("a proxy URL is read as curl reads one") {
    auto p = idem::parse_proxy("proxy.example:3128");
    REQUIRE(p);
    CHECK(p->host == "proxy.example");
    CHECK(p->port == 3128);
    CHECK(p->authorization.empty());
    p = idem::parse_proxy("http://proxy.example");
    REQUIRE(p);
    CHECK(p->port == 1080); // curl's default, not 80
    p = idem::parse_proxy("HTTP://[::1]:8080/");
    REQUIRE(p);
    CHECK(p->host == "::1");
    CHECK(p->port == 8080);
    p = idem::parse_proxy("http://Aladdin:open%20sesame@p:1");
    REQUIRE(p);
    CHECK(p->authorization == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="); // RFC 7617 §2's example
    p = idem::parse_proxy("http://user@p:1");
    REQUIRE(p);
    CHECK(p->authorization == "Basic dXNlcjo=");
    p = idem::parse_proxy("http://a:b%40c@p:1"); // an escaped '@' is part of the password
    REQUIRE(p);
    CHECK(p->host == "p");
    CHECK(p->authorization == "Basic YTpiQGM=");

    CHECK(idem::parse_proxy("https://p:443").error() == errc::unsupported_scheme);
    CHECK(idem::parse_proxy("socks5://p:1080").error() == errc::unsupported_scheme);
    CHECK(idem::parse_proxy("http://p:1/path").error() == errc::invalid_url);
    CHECK(idem::parse_proxy("http://p:99999").error() == errc::invalid_url);
    CHECK(idem::parse_proxy("").error() == errc::invalid_url);
    CHECK(idem::parse_proxy("http://u:%0d%0aX:@p").error() == errc::invalid_url); // no header injection
    CHECK(idem::parse_proxy("http://u:%zz@p").error() == errc::invalid_url);
}

TEST_CASE("no_proxy matches hosts as curl does") {
    using idem::no_proxy_matches;
    CHECK(no_proxy_matches("*", "anything", 80));
    CHECK(no_proxy_matches("example.com", "example.com", 80));
    CHECK(no_proxy_matches("example.com", "www.example.com", 80));
    CHECK(no_proxy_matches("example.com", "WWW.Example.COM", 80));
    CHECK(!no_proxy_matches("example.com", "notexample.com", 80));
    CHECK(!no_proxy_matches("example.com", "example.com.org", 80));
    CHECK(no_proxy_matches(".example.com", "example.com", 80)); // the leading dot is dropped
    CHECK(no_proxy_matches(".example.com", "a.b.example.com", 80));
    CHECK(no_proxy_matches("a.org, b.org,c.org", "b.org", 80));
    CHECK(no_proxy_matches("a.org b.org", "b.org", 80));
    CHECK(no_proxy_matches(",,  ,a.org,", "a.org", 80));
    CHECK(!no_proxy_matches("", "a.org", 80));
    CHECK(!no_proxy_matches(" , ", "a.org", 80));
    CHECK(no_proxy_matches("a.org:8080", "a.org", 8080));
    CHECK(!no_proxy_matches("a.org:8080", "a.org", 80));
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1", 1234));
    CHECK(!no_proxy_matches("127.0.0.1", "127.0.0.10", 1234));
    CHECK(no_proxy_matches("::1", "::1", 80));
    CHECK(no_proxy_matches("[::1]", "::1", 80));
    CHECK(no_proxy_matches("[::1]:81", "::1", 81));
    CHECK(!no_proxy_matches("[::1]:81", "::1", 80));
    CHECK(!no_proxy_matches("*.example.com", "www.example.com", 80)); // "*" is a whole entry only
}

TEST_CASE("the environment is read as curl reads it, and only when asked") {
    struct env {
        static const char* lower(const char* n) {
            const std::string k = n;
            if (k == "http_proxy") return "http://lower:1";
            if (k == "HTTP_PROXY") return "http://upper:2";
            if (k == "ALL_PROXY") return "http://all:3";
            if (k == "NO_PROXY") return "internal";
            return nullptr;
        }
        static const char* upper_only(const char* n) {
            const std::string k = n;
            if (k == "HTTP_PROXY") return "http://upper:2"; // httpoxy: never read
            return nullptr;
        }
        static const char* all(const char* n) { return std::string(n) == "ALL_PROXY" ? "http://all:3" : nullptr; }
        static const char* https(const char* n) {
            const std::string k = n;
            if (k == "https_proxy") return "http://tls-lower:4";
            if (k == "HTTPS_PROXY") return "http://tls-upper:5";
            return lower(n);
        }
        static const char* https_upper(const char* n) { return std::string(n) == "https_proxy" ? nullptr : https(n); }
    };
    // Each scheme its own variable, never the other's; all_proxy for both.
    CHECK(idem::proxy_from_environment(&env::https, true).proxy == "http://tls-lower:4");
    CHECK(idem::proxy_from_environment(&env::https_upper, true).proxy == "http://tls-upper:5");
    CHECK(idem::proxy_from_environment(&env::https, false).proxy == "http://lower:1");
    CHECK(idem::proxy_from_environment(&env::lower, true).proxy == "http://all:3");
    CHECK(idem::proxy_from_environment(&env::upper_only, true).proxy.empty());
    auto e = idem::proxy_from_environment(&env::lower);
    CHECK(e.proxy == "http://lower:1");
    CHECK(e.no_proxy == "internal");
    CHECK(idem::proxy_from_environment(&env::upper_only).proxy.empty());
    CHECK(idem::proxy_from_environment(&env::all).proxy == "http://all:3");

    // A client that was not asked does not look.
    for (const char* v : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) ::unsetenv(v);
    ::setenv("http_proxy", "http://127.0.0.1:9", 1);
    idem::client_options o;
    CHECK(!idem::client{"http://example.com", o}.uses_proxy());
    idem::use_proxy_environment(o);
    CHECK(o.proxy == "http://127.0.0.1:9");
    CHECK(idem::client{"http://example.com", o}.uses_proxy());
    // Where each scheme's connections go (a transport that tunnels assumed for https).
    const auto route = [](const char* u, const idem::client_options& opts) {
        idem::detail::route r;
        idem::error err(errc{});
        idem::detail::route_for(*idem::parse_url(u), opts, r, err, true);
        REQUIRE(err.code() == errc{});
        return r.proxied ? r.host + ":" + std::to_string(r.port) : std::string("direct");
    };
    // An https origin never goes through http_proxy: https_proxy (or all_proxy), else direct,
    // which is also what a redirect from http to https meets.
    CHECK(o.proxy_per_scheme);
    CHECK(route("http://example.com", o) == "127.0.0.1:9");
    CHECK(route("HTTPS://example.com", o) == "direct");
    ::setenv("https_proxy", "http://127.0.0.1:10", 1);
    idem::use_proxy_environment(o);
    CHECK(o.https_proxy == "http://127.0.0.1:10");
    CHECK(route("https://example.com", o) == "127.0.0.1:10");
    CHECK(route("http://example.com", o) == "127.0.0.1:9");
    // Without proxy_per_scheme, `proxy` serves every scheme (curl's -x).
    o.proxy_per_scheme = false;
    CHECK(route("https://example.com", o) == "127.0.0.1:9");
    ::unsetenv("https_proxy");
    ::unsetenv("http_proxy");
}

TEST_CASE("through a proxy, targets are absolute and the proxy's credentials go to it") {
    test_server proxy;
    idem::client c{"http://origin.example:8080/api", via(proxy, "me:pw@")};
    REQUIRE(c.init_error() == errc{});
    CHECK(c.uses_proxy());
    auto r = c.get("/users?x=1", {{"Authorization", "Bearer origin-token"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    const std::string h = proxy.last_head();
    CHECK(request_line(h) == "GET http://origin.example:8080/api/users?x=1 HTTP/1.1");
    CHECK(field(h, "Host") == "origin.example:8080");
    CHECK(field(h, "Proxy-Authorization") == "Basic bWU6cHc=");
    CHECK(field(h, "Authorization") == "Bearer origin-token");
    // Kept alive: the connection is the client's one origin through that proxy.
    REQUIRE(c.post("/users", "x"));
    CHECK(request_line(proxy.last_head()) == "POST http://origin.example:8080/api/users HTTP/1.1");
    CHECK(proxy.connections() == 1);
    CHECK(c.stats().reuses == 1);

    SUBCASE("OPTIONS * names the authority alone (RFC 9112 §3.2.4)") {
        REQUIRE(c.send(idem::request{"OPTIONS", "*"}, *r));
        CHECK(request_line(proxy.last_head()) == "OPTIONS http://origin.example:8080 HTTP/1.1");
    }
    SUBCASE("a caller's own Proxy-Authorization replaces the URL's") {
        REQUIRE(c.get("/", {{"Proxy-Authorization", "Bearer p"}}));
        CHECK(field(proxy.last_head(), "Proxy-Authorization") == "Bearer p");
    }
}

TEST_CASE("a host in no_proxy is reached directly, and no proxy credentials go to it") {
    test_server proxy, origin;
    idem::client_options o = via(proxy, "me:pw@");
    o.no_proxy = "localhost, 127.0.0.1";
    idem::client c{origin.url(), o};
    CHECK(!c.uses_proxy());
    auto r = c.get("/direct");
    REQUIRE(r);
    CHECK(request_line(origin.last_head()) == "GET /direct HTTP/1.1");
    CHECK(!has_field(origin.last_head(), "Proxy-Authorization"));
    CHECK(proxy.requests_seen() == 0);
}

TEST_CASE("a redirect through a proxy stays with the proxy, and credentials stay with their origin") {
    test_server proxy;
    idem::client_options o = via(proxy, "me:pw@");
    o.follow_redirects = true;
    idem::client c{"http://a.example", o};
    proxy.push(step{action::raw, "HTTP/1.1 302 Found\r\nLocation: http://b.example/next\r\nContent-Length: 0\r\n\r\n", 0ms, false});
    auto r = c.get("/start", {{"Authorization", "Bearer for-a"}});
    REQUIRE(r);
    CHECK(r->redirects == 1);
    CHECK(r->url == "http://b.example/next");
    const auto heads = proxy.heads();
    REQUIRE(heads.size() == 2);
    CHECK(request_line(heads[0]) == "GET http://a.example/start HTTP/1.1");
    CHECK(request_line(heads[1]) == "GET http://b.example/next HTTP/1.1");
    CHECK(field(heads[1], "Host") == "b.example");
    CHECK(!has_field(heads[1], "Authorization"));
    CHECK(field(heads[1], "Proxy-Authorization") == "Basic bWU6cHc="); // the proxy's, to the proxy
}

TEST_CASE("a bad proxy is reported by every call, and nothing is sent") {
    idem::client_options o = idem_test::quick_options();
    o.proxy = "https://secure-proxy:443";
    idem::client c{"http://example.com", o};
    CHECK(c.init_error() == errc::unsupported_scheme);
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::unsupported_scheme);
    CHECK(r.error().message().find("proxy") != std::string::npos);
    o.proxy = "http://p:1/x";
    CHECK(idem::pool{"http://example.com", o}.init_error() == errc::invalid_url);
}

TEST_CASE("a refusing proxy is a connect failure, retried like any other") {
    test_server gone;
    idem::client_options o = via(gone);
    gone.stop();
    idem::client c{"http://example.com", o};
    auto r = c.post("/x", "once");
    REQUIRE(!r);
    CHECK(r.error() == errc::connection_refused);
    CHECK(!r.error().may_have_executed());
}
