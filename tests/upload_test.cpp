// Request bodies that are read while they go out (files, pipes, callbacks), the retry rules
// that consult whether they can be produced again, and Expect: 100-continue.
#include "support/test_idem.hpp"
#include "support/options.hpp"
#include "support/test_server.hpp"
#include "support/bodies.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::step;
using idem_test::test_server;

using idem_test::pattern;
using idem_test::pipe_feed;
using idem_test::string_feed;
using idem_test::temp_file;

namespace {

idem::client_options quick() { return idem_test::quick_options(); }

bool has_field(const std::string& head, const std::string& line) {
    return head.find("\r\n" + line + "\r\n") != std::string::npos;
}

} // namespace

TEST_CASE("a regular file goes out with its length, read in pieces, and arrives intact") {
    test_server s;
    idem::client_options o = quick();
    o.expect_continue_threshold = idem::body_source::unknown_length; // this test is not about it
    idem::client c{s.url(), o};
    const std::string content = pattern(300 * 1024 + 7); // several pieces, an odd tail
    temp_file f(content);
    ::lseek(f.fd, 5, SEEK_SET); // from the descriptor's offset on
    auto r = c.upload("PUT", "/f", idem::body_source::file(f.fd));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(s.last_body() == content.substr(5));
    CHECK(has_field(s.last_head(), "Content-Length: " + std::to_string(content.size() - 5)));
    CHECK(s.last_head().find("Transfer-Encoding") == std::string::npos);
    CHECK(::lseek(f.fd, 0, SEEK_CUR) == 5); // pread: the offset did not move
    // The connection is kept: the whole request went out.
    REQUIRE(c.get("/"));
    CHECK(s.connections() == 1);
    SUBCASE("a range of it") {
        REQUIRE(c.upload("POST", "/f", idem::body_source::file_range(f.fd, 100, 70000)));
        CHECK(s.last_body() == content.substr(100, 70000));
    }
    SUBCASE("a file shorter than the range fails, and the connection is not reused") {
        auto bad = c.upload("POST", "/f", idem::body_source::file_range(f.fd, content.size() - 10, 20));
        REQUIRE(!bad);
        CHECK(bad.error() == errc::body_source_failed);
        CHECK(bad.error().reason() == "the body's source ended before its length");
        CHECK(bad.error().body_started());
        CHECK(!c.has_idle_connection());
    }
}

TEST_CASE("a pipe, or a callback of unknown length, goes out chunked") {
    test_server s;
    idem::client c{s.url(), quick()};
    const std::string content = pattern(200000);
    SUBCASE("a pipe") {
        pipe_feed p(content);
        idem::request rq("POST", "/p");
        rq.source = idem::body_source::file(p.fd());
        CHECK(!rq.source.rewindable());
        CHECK(!rq.source.known_length());
        idem::response out;
        REQUIRE(c.send(rq, out));
        CHECK(s.last_body() == content);
    }
    SUBCASE("a callback") {
        string_feed f{content};
        f.piece = 777;
        REQUIRE(c.upload("POST", "/p", idem::body_source::callback(&string_feed::read, &f)));
        CHECK(s.last_body() == content);
    }
    SUBCASE("an empty one") {
        string_feed f{""};
        REQUIRE(c.upload("POST", "/p", idem::body_source::callback(&string_feed::read, &f)));
        CHECK(s.last_body().empty());
        CHECK(s.bodies_read() == 1);
    }
    CHECK(has_field(s.last_head(), "Transfer-Encoding: chunked"));
    CHECK(s.last_head().find("Content-Length") == std::string::npos);
    REQUIRE(c.get("/")); // the chunked body ended properly: the connection carries on
    CHECK(s.connections() == 1);
}

TEST_CASE("a callback that fails or lies about its length fails the call") {
    test_server s;
    idem::client c{s.url(), quick()};
    string_feed f{pattern(5000)};
    SUBCASE("it fails") {
        f.fail_at = 2000;
        auto r = c.upload("PUT", "/", idem::body_source::callback(&string_feed::read, &f));
        REQUIRE(!r);
        CHECK(r.error() == errc::body_source_failed);
        CHECK(r.error().attempts() == 1); // never worth sending again
    }
    SUBCASE("it ends before its length") {
        f.end_at = 3000;
        auto r = c.upload("PUT", "/", idem::body_source::callback(&string_feed::read, &f, 5000));
        REQUIRE(!r);
        CHECK(r.error() == errc::body_source_failed);
        CHECK(r.error().bytes_written() == idem::written::partial);
    }
    CHECK(!c.has_idle_connection());
    CHECK(s.bodies_read() == 0);
}

TEST_CASE("a pipe that stalls ends the call by its deadline") {
    test_server s;
    idem::client_options o = quick();
    o.deadline = 300ms;
    o.expect_continue_threshold = idem::body_source::unknown_length;
    idem::client c{s.url(), o};
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "some, then nothing", 18) == 18); // the writer end stays open
    auto r = c.upload("POST", "/stall", idem::body_source::file(fds[0]));
    ::close(fds[0]);
    ::close(fds[1]);
    REQUIRE(!r);
    CHECK(r.error() == errc::deadline_exceeded);
    CHECK(r.error().body_spent());
    CHECK(r.error().attempts() == 1);
    CHECK(!c.has_idle_connection()); // half a body went out: never reused
}

TEST_CASE("a body that cannot be produced again is never sent twice, even in the idle race") {
    test_server s;
    idem::client_options o = quick();
    o.expect_continue_threshold = idem::body_source::unknown_length;
    idem::client c{s.url(), o};
    const std::string content = pattern(3000);
    REQUIRE(c.get("/"));
    s.push(action::close_before_execute); // the server closes the reused connection
    SUBCASE("a pipe: the PUT is idempotent, but its body is gone") {
        pipe_feed p(content);
        idem::request rq("PUT", "/x", {{"X-Request-Id", "u1"}});
        rq.source = idem::body_source::file(p.fd());
        idem::response out;
        auto r = c.send(rq, out);
        REQUIRE(!r);
        CHECK(r.error() == errc::server_closed_idle);
        CHECK(r.error().body_spent());
        CHECK(r.error().attempts() == 1);
        CHECK(s.executed_id("u1") == 0);
    }
    SUBCASE("a callback without a rewind") {
        string_feed f{content};
        auto r = c.upload("PUT", "/x", idem::body_source::callback(&string_feed::read, &f, content.size()),
                          {{"X-Request-Id", "u1"}});
        REQUIRE(!r);
        CHECK(r.error().body_spent());
        CHECK(r.error().attempts() == 1);
        CHECK(s.executed_id("u1") == 0);
    }
    SUBCASE("a callback with a rewind is read again from the start, once") {
        string_feed f{content};
        auto r = c.upload("PUT", "/x",
                          idem::body_source::callback(&string_feed::read, &f, content.size(), &string_feed::rewind),
                          {{"X-Request-Id", "u1"}});
        REQUIRE(r);
        CHECK(f.rewinds == 1);
        CHECK(s.executed_id("u1") == 1);
        CHECK(s.last_body() == content);
    }
    SUBCASE("a regular file is read again") {
        temp_file f(content);
        auto r = c.upload("PUT", "/x", idem::body_source::file(f.fd), {{"X-Request-Id", "u1"}});
        REQUIRE(r);
        CHECK(s.executed_id("u1") == 1);
        CHECK(s.last_body() == content);
        CHECK(c.stats().retries == 1);
    }
}

namespace {
// Retries every 503 of an idempotent request at once: the client alone must refuse a spent body.
struct retry_any_503 : idem::retry::idempotent {
    bool retry_response(const idem::response& r, bool idempotent, unsigned, std::chrono::nanoseconds& wait) const {
        wait = std::chrono::nanoseconds{0};
        return r.status == 503 && idempotent;
    }
};
} // namespace

TEST_CASE("a policy that retries a 503 gets a body that can be produced again, and only that") {
    test_server s;
    idem::client_options o = quick();
    o.expect_continue_threshold = idem::body_source::unknown_length;
    idem::basic_client<idem::keep_alive::timeout_bounded, retry_any_503> c{s.url(), o};
    const std::string content = pattern(2000);
    s.push(step{action::raw, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 0ms, false});
    SUBCASE("a pipe: the 503 is the answer") {
        pipe_feed p(content);
        auto r = c.upload("PUT", "/x", idem::body_source::file(p.fd()), {{"X-Request-Id", "s1"}});
        REQUIRE(r);
        CHECK(r->status == 503);
        CHECK(s.executed_id("s1") == 1);
        CHECK(c.stats().retries == 0);
    }
    SUBCASE("a callback with a rewind is sent again") {
        string_feed f{content};
        auto r = c.upload("PUT", "/x",
                          idem::body_source::callback(&string_feed::read, &f, content.size(), &string_feed::rewind),
                          {{"X-Request-Id", "s1"}});
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(s.executed_id("s1") == 2);
        CHECK(f.rewinds == 1);
        CHECK(s.last_body() == content);
    }
}

TEST_CASE("Expect: 100-continue") {
    test_server s;
    idem::client_options o = quick();
    o.expect_continue_threshold = 1000;
    o.expect_continue_timeout = 5s; // long: a test that waits it out fails by its deadline
    const std::string content = pattern(4000);
    SUBCASE("the body waits for 100 Continue, then goes") {
        idem::client c{s.url(), o};
        s.push(action::continue_first);
        string_feed f{content};
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(c.upload("POST", "/e", idem::body_source::callback(&string_feed::read, &f, content.size())));
        CHECK(std::chrono::steady_clock::now() - t0 < 4s); // it went on the 100, not the timeout
        CHECK(has_field(s.last_head(), "Expect: 100-continue"));
        CHECK(s.last_body() == content);
    }
    SUBCASE("a memory body below the threshold does not ask") {
        idem::client c{s.url(), o};
        REQUIRE(c.post("/e", content.substr(0, 999)));
        CHECK(s.last_head().find("Expect") == std::string::npos);
    }
    SUBCASE("a server that says nothing gets the body after the wait") {
        o.expect_continue_timeout = 150ms;
        idem::client c{s.url(), o};
        REQUIRE(c.post("/e", content));
        CHECK(has_field(s.last_head(), "Expect: 100-continue"));
        CHECK(s.last_body() == content);
    }
    SUBCASE("a final answer before 100: the body is never read, the connection is closed") {
        idem::client c{s.url(), o};
        s.push(step{action::raw_before_body, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n", 0ms, false});
        string_feed f{content};
        auto r = c.upload("POST", "/e", idem::body_source::callback(&string_feed::read, &f, content.size()));
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(f.reads == 0);
        CHECK(!c.has_idle_connection());
    }
    SUBCASE("417: sent once more without the expectation, even a body that cannot rewind") {
        idem::client c{s.url(), o};
        s.push(step{action::raw_before_body, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n", 0ms, false});
        pipe_feed p(content);
        auto r = c.upload("POST", "/e", idem::body_source::file(p.fd()));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(s.last_head().find("Expect") == std::string::npos);
        CHECK(s.last_body() == content);
        CHECK(s.connections() == 2);
    }
    SUBCASE("a close after the head: the error says the head went and the body did not") {
        idem::client c{s.url(), o};
        s.push(step{action::raw_before_body, "", 0ms, true});
        string_feed f{content};
        auto r = c.upload("POST", "/e", idem::body_source::callback(&string_feed::read, &f, content.size()));
        REQUIRE(!r);
        CHECK(r.error().bytes_written() == idem::written::partial);
        CHECK(!r.error().body_started());
        CHECK(!r.error().body_spent());
        CHECK(f.reads == 0);
    }
    SUBCASE("a caller's own Expect field asks whatever the size") {
        idem::client c{s.url(), o};
        s.push(action::continue_first);
        REQUIRE(c.post("/e", "tiny", {{"Expect", "100-continue"}}));
        CHECK(has_field(s.last_head(), "Expect: 100-continue"));
        CHECK(s.last_head().find("Expect", s.last_head().find("Expect") + 1) == std::string::npos);
        CHECK(s.last_body() == "tiny");
    }
}

TEST_CASE("body sources are validated before anything is sent") {
    test_server s;
    idem::client c{s.url(), quick()};
    idem::request rq("POST", "/");
    SUBCASE("a body and a source") {
        rq.body = "x";
        rq.source = idem::body_source::callback(&string_feed::read, nullptr);
    }
    SUBCASE("a closed descriptor") { rq.source = idem::body_source::file(-1); }
    SUBCASE("no read function") { rq.source = idem::body_source::callback(nullptr, nullptr); }
    SUBCASE("Content-Length for a body of unknown length") {
        rq.source = idem::body_source::callback(&string_feed::read, nullptr);
        rq.headers.add("Content-Length", "5");
    }
    SUBCASE("an expectation other than 100-continue") {
        rq.body = "x";
        rq.headers.add("Expect", "something-else");
    }
    idem::response out;
    auto r = c.send(rq, out);
    REQUIRE(!r);
    CHECK(r.error() == errc::invalid_request);
    CHECK(!r.error().reason().empty());
    CHECK(s.connections() == 0);
}
