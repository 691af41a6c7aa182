// Unix domain sockets: client_options::unix_socket connects to a path or an abstract name while
// the URL still names the origin; keep-alive, the probe and the retry rules work as over TCP.
#include "support/test_idem.hpp"
#include "support/options.hpp"
#include "support/test_server.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::server_config;
using idem_test::test_server;

namespace {

// A name no other test run on this machine uses at the same time.
std::string unique(const char* prefix) {
    return std::string(prefix) + std::to_string(::getpid()) + "-" + std::to_string(std::rand());
}

std::string temp_socket_path() {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/" + unique("idem-") + ".sock";
}

idem::client_options via(const std::string& path) {
    idem::client_options o = idem_test::quick_options();
    o.unix_socket = path;
    return o;
}

server_config listening_at(const std::string& path) {
    server_config cfg;
    cfg.unix_path = path;
    return cfg;
}

} // namespace

TEST_CASE("a Unix socket carries requests; Host comes from the URL") {
    for (const std::string& path : {temp_socket_path(), "@" + unique("idem-abstract-")}) {
        CAPTURE(path);
        test_server s(listening_at(path));
        idem::client c{"http://docker.internal/v1.43", via(path)};
        auto r = c.get("/info");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "ok");
        CHECK(s.last_head().rfind("GET /v1.43/info HTTP/1.1\r\n", 0) == 0);
        CHECK(s.last_head().find("\r\nHost: docker.internal\r\n") != std::string::npos);
        REQUIRE(c.post("/x", "body"));
        CHECK(s.last_body() == "body");
        CHECK(s.connections() == 1); // kept alive
        CHECK(c.stats().reuses == 1);
    }
}

TEST_CASE("over a Unix socket the probe and the retry rules hold") {
    const std::string path = temp_socket_path();
    server_config cfg = listening_at(path);
    cfg.idle_timeout = 100ms;
    test_server s(cfg);
    idem::client c{"http://local", via(path)};
    SUBCASE("the probe sees the server's idle close") {
        REQUIRE(c.get("/"));
        REQUIRE(s.wait_idle_closes(1, 5s));
        REQUIRE(c.post("/", "once"));
        CHECK(s.executed("POST") == 1);
        CHECK(c.stats().stale_probes == 1);
        CHECK(s.connections() == 2);
    }
    SUBCASE("the idle race: a GET is sent again, a POST is not") {
        s.set_idle_timeout(10s);
        REQUIRE(c.get("/"));
        s.push(action::close_before_execute);
        REQUIRE(c.get("/", {{"X-Request-Id", "g"}}));
        CHECK(s.executed_id("g") == 1);
        CHECK(c.stats().retries == 1);
        s.push(action::close_before_execute);
        auto p = c.post("/", "x", {{"X-Request-Id", "p"}});
        REQUIRE(!p);
        CHECK(p.error() == errc::server_closed_idle);
        CHECK(p.error().attempts() == 1);
        CHECK(s.executed_id("p") == 0);
    }
}

TEST_CASE("a Unix socket path that cannot be an address fails every call, sending nothing") {
    const std::string longest(sizeof(sockaddr_un{}.sun_path) - 1, 'p'); // room left for the NUL
    SUBCASE("too long by one") {
        idem::client c{"http://local", via("/" + longest)};
        CHECK(c.init_error() == errc::invalid_socket_path);
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::invalid_socket_path);
        CHECK(r.error().attempts() == 0);
        CHECK(std::string(r.error().reason()).find("longer") != std::string::npos);
    }
    SUBCASE("the longest path is an address (nothing listens there)") {
        idem::client c{"http://local", via(longest)};
        CHECK(c.init_error() == errc{});
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::system_error);
        CHECK(r.error().sys_errno() == ENOENT);
        CHECK(!r.error().may_have_executed());
    }
    SUBCASE("an abstract name may use every byte after the NUL; one more is too long") {
        // sun_path's first byte is the NUL that marks the name abstract; the 107 after it are the name.
        CHECK(idem::client{"http://local", via("@" + longest)}.init_error() == errc{});
        CHECK(idem::client{"http://local", via("@" + longest + "p")}.init_error() == errc::invalid_socket_path);
    }
    SUBCASE("'@' alone, and a NUL inside") {
        CHECK(idem::client{"http://local", via("@")}.init_error() == errc::invalid_socket_path);
        CHECK(idem::client{"http://local", via(std::string("/tmp/a\0b", 8))}.init_error() == errc::invalid_socket_path);
    }
    SUBCASE("a socket nobody listens on is refused") {
        const std::string path = temp_socket_path();
        { test_server s(listening_at(path)); }
        // The server unlinked its path as it stopped; leave a socket file nobody listens on.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        path.copy(a.sun_path, sizeof a.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ::close(fd);
        idem::client c{"http://local", via(path)};
        auto r = c.get("/");
        ::unlink(path.c_str());
        REQUIRE(!r);
        CHECK(r.error() == errc::connection_refused);
    }
}

TEST_CASE("a pool reaches a Unix socket the same way") {
    const std::string path = "@" + unique("idem-pool-");
    test_server s(listening_at(path));
    idem::pool p{"http://local", via(path)};
    auto r = p.get("/");
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(p.get("/"));
    CHECK(s.connections() == 1);
}
