#include "support/test_idem.hpp"

using idem::errc;
using idem::parse_url;

TEST_CASE("valid http URLs") {
    auto u = parse_url("http://example.com");
    REQUIRE(u);
    CHECK(u->host == "example.com");
    CHECK(u->port == 80);
    CHECK(u->target == "/");
    CHECK(u->authority == "example.com");

    u = parse_url("HTTP://127.0.0.1:9000/a/b?x=1#frag");
    REQUIRE(u);
    CHECK(u->host == "127.0.0.1");
    CHECK(u->port == 9000);
    CHECK(u->target == "/a/b?x=1");
    CHECK(u->authority == "127.0.0.1:9000");

    u = parse_url("http://[::1]:8080/x");
    REQUIRE(u);
    CHECK(u->host == "::1");
    CHECK(u->port == 8080);
    CHECK(u->authority == "[::1]:8080");

    u = parse_url("http://[::1]");
    REQUIRE(u);
    CHECK(u->authority == "[::1]");

    u = parse_url("http://h?q");
    REQUIRE(u);
    CHECK(u->target == "/?q");
}

TEST_CASE("schemes other than http and https are unsupported, not crashes") {
    CHECK(parse_url("ftp://example.com/").error() == errc::unsupported_scheme);
    CHECK(parse_url("httpx://example.com/").error() == errc::unsupported_scheme);
}

TEST_CASE("https URLs: port 443 by default, left out of the authority, and the scheme in the origin") {
    auto u = parse_url("HTTPS://Example.com/a?b");
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->port == 443);
    CHECK(u->authority == "Example.com");
    CHECK(u->origin() == "https://Example.com");
    CHECK(u->target == "/a?b");
    u = parse_url("https://h:80/");
    REQUIRE(u);
    CHECK(u->port == 80);
    CHECK(u->authority == "h:80");
    u = parse_url("https://[::1]:443");
    REQUIRE(u);
    CHECK(u->authority == "[::1]");
    u = parse_url("http://h:443/");
    REQUIRE(u);
    CHECK(!u->tls);
    CHECK(u->authority == "h:443");
    CHECK(u->origin() == "http://h:443");
}

TEST_CASE("a client over the core's transport refuses https with a reason that says what to do") {
    idem::client c{"https://example.com/"};
    CHECK(c.init_error() == errc::unsupported_scheme);
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error().reason().find("idem/tls/openssl.hpp") != std::string_view::npos);
    idem::pool p{"https://example.com/"};
    CHECK(p.get("/").error() == errc::unsupported_scheme);
}

TEST_CASE("malformed URLs are invalid_url") {
    const char* bad[] = {
        "", "example.com", "http:/x", "http://", "http://:80", "http://h:", "http://h:0",
        "http://h:65536", "http://h:12a", "http://user@h/", "http://[::1", "http://[zz]/",
        "http://[::1]x", "http://h h/", "http://h/a b", "http://h/\r\nX: y", "://h",
        "1http://h", "http://h:99999999999",
    };
    for (const char* s : bad) {
        CAPTURE(s);
        auto r = parse_url(s);
        CHECK(!r);
        CHECK(r.error() == errc::invalid_url);
    }
}

TEST_CASE("a client built from a bad URL reports it on every call") {
    idem::client c{"https://example.com"};
    CHECK(c.init_error() == errc::unsupported_scheme);
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::unsupported_scheme);
    CHECK(!r.error().may_have_executed());
    CHECK(r.error().attempts() == 0);
}

TEST_CASE("a refused URL says why") {
    const struct {
        const char* url;
        errc code;
        const char* reason;
    } rows[] = {
        {"localhost:8000/x", errc::invalid_url, "the URL has no scheme"},
        {"127.0.0.1", errc::invalid_url, "the URL has no scheme"},
        {"1http://x", errc::invalid_url, "the scheme must start with a letter"},
        {"ftp://example.com/", errc::unsupported_scheme, "only http:// and https:// URLs are supported"},
        {"http://user:pw@host/", errc::invalid_url, "the URL has userinfo"},
        {"http:///path", errc::invalid_url, "the URL has no host"},
        {"http://[::1/", errc::invalid_url, "an IPv6 host needs its closing ']'"},
        {"http://host:/", errc::invalid_url, "the port after ':' is empty"},
        {"http://host:99999/", errc::invalid_url, "the port is not a number from 1 to 65535"},
        {"http://ho st/", errc::invalid_url, "the host has a character"},
        {"http://host/a b", errc::invalid_url, "the URL's path contains a space"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.url);
        const auto u = parse_url(r.url);
        REQUIRE(!u);
        CHECK(u.error() == r.code);
        CHECK(u.error().reason().rfind(r.reason, 0) == 0);
    }
}
