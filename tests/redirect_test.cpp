// Following redirects: which answers are followed, what the next request is, where a Location
// points, what never travels to another origin, and how a chain ends.
#include "support/test_idem.hpp"
#include "support/bodies.hpp"
#include "support/options.hpp"
#include "support/test_server.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using idem::errc;
using idem_test::action;
using idem_test::field;
using idem_test::has_field;
using idem_test::request_line;
using idem_test::step;
using idem_test::test_server;

namespace {

idem::client_options following() {
    idem::client_options o = idem_test::quick_options();
    o.follow_redirects = true;
    return o;
}

// A redirect with a small body of its own, on a connection the server keeps.
step redirect(int code, const std::string& location) {
    return step{action::raw,
                "HTTP/1.1 " + std::to_string(code) + " Moved\r\nLocation: " + location +
                    "\r\nContent-Length: 5\r\n\r\nmoved",
                0ms, false};
}

} // namespace

TEST_CASE("a Location resolves against the URL that answered (RFC 3986 §5.2)") {
    idem::url base;
    base.host = "h";
    base.port = 8080;
    base.authority = "h:8080";
    base.target = "/a/b/c?q";
    const auto at = [&](const std::string& loc) {
        idem::url next;
        const idem::error e = idem::detail::resolve_location(base, loc, next);
        REQUIRE(e.code() == errc{});
        return next.origin() + next.target;
    };
    CHECK(at("/x") == "http://h:8080/x");
    CHECK(at("x") == "http://h:8080/a/b/x");
    CHECK(at("./x") == "http://h:8080/a/b/x");
    CHECK(at("../x") == "http://h:8080/a/x");
    CHECK(at("../../../../x") == "http://h:8080/x");
    CHECK(at("/a/./b/../c") == "http://h:8080/a/c");
    CHECK(at("?y") == "http://h:8080/a/b/c?y");
    CHECK(at("") == "http://h:8080/a/b/c?q");
    CHECK(at("#frag") == "http://h:8080/a/b/c?q");
    CHECK(at("x#frag") == "http://h:8080/a/b/x");
    CHECK(at("//other/p") == "http://other/p");
    CHECK(at("http://other:81") == "http://other:81/");
    CHECK(at("HTTP://Other/p/../q") == "http://Other/q");
    CHECK(at("  /padded  ") == "http://h:8080/padded");
    CHECK(at("/a b") == "http://h:8080/a%20b");      // servers do send spaces
    CHECK(at("/caf\xc3\xa9") == "http://h:8080/caf%C3%A9"); // and raw UTF-8
    CHECK(at("/%41") == "http://h:8080/%41");        // an escape stays as it is

    idem::url next;
    REQUIRE(idem::detail::resolve_location(base, "https://h/x", next).code() == errc{});
    CHECK(next.tls);
    CHECK(next.origin() + next.target == "https://h/x");
    idem::url secure = base;
    secure.tls = true;
    REQUIRE(idem::detail::resolve_location(secure, "//other/p", next).code() == errc{});
    CHECK(next.origin() + next.target == "https://other/p"); // the base's scheme
    CHECK(!idem::detail::same_origin(secure, base));           // the scheme is part of an origin
    CHECK(idem::detail::resolve_location(base, "ftp://h/x", next).code() == errc::unsupported_scheme);
    CHECK(idem::detail::resolve_location(base, "mailto:a@b", next).code() == errc::unsupported_scheme);
    CHECK(idem::detail::resolve_location(base, "http://u:p@h/x", next).code() == errc::invalid_redirect);
    CHECK(idem::detail::resolve_location(base, "http://[::1/x", next).code() == errc::invalid_redirect);
    CHECK(idem::detail::resolve_location(base, "http:///x", next).code() == errc::invalid_redirect);
    CHECK(idem::detail::resolve_location(base, "/a\tb", next).code() == errc::invalid_redirect);
}

TEST_CASE("the next method: 303 asks for GET (HEAD stays), a POST under 301 or 302 becomes GET") {
    using idem::detail::next_method;
    for (int code : {301, 302}) {
        CHECK(next_method(code, "POST").method == "GET");
        CHECK(!next_method(code, "POST").keeps_body);
        CHECK(next_method(code, "PUT").method == "PUT");
        CHECK(next_method(code, "PUT").keeps_body);
        CHECK(next_method(code, "GET").method == "GET");
    }
    CHECK(next_method(303, "POST").method == "GET");
    CHECK(next_method(303, "PUT").method == "GET");
    CHECK(next_method(303, "DELETE").method == "GET");
    CHECK(next_method(303, "HEAD").method == "HEAD");
    CHECK(!next_method(303, "PUT").keeps_body);
    for (int code : {307, 308}) {
        CHECK(next_method(code, "POST").method == "POST");
        CHECK(next_method(code, "POST").keeps_body);
    }
    for (int code : {300, 304, 305, 306, 200, 400}) CHECK(!idem::detail::is_redirect_status(code));
}

TEST_CASE("redirects are not followed unless asked") {
    test_server s;
    idem::client c{s.url(), idem_test::quick_options()};
    s.push(redirect(302, "/b"));
    auto r = c.get("/a");
    REQUIRE(r);
    CHECK(r->status == 302);
    CHECK(r->header("Location") == "/b");
    CHECK(r->body == "moved");
    CHECK(r->redirects == 0);
    CHECK(r->url.empty());
    CHECK(s.requests_seen() == 1);

    SUBCASE("a call asks for itself") {
        s.push(redirect(302, "/b"));
        idem::request q{"GET", "/a"};
        q.redirects = idem::follow::yes;
        idem::response out;
        REQUIRE(c.send(q, out));
        CHECK(out.status == 200);
        CHECK(out.redirects == 1);
        CHECK(request_line(s.last_head()) == "GET /b HTTP/1.1");
    }
    SUBCASE("a call of a following client declines") {
        idem::client f{s.url(), following()};
        s.push(redirect(302, "/b"));
        idem::request q{"GET", "/a"};
        q.redirects = idem::follow::no;
        idem::response out;
        REQUIRE(f.send(q, out));
        CHECK(out.status == 302);
        CHECK(s.requests_seen() == 2);
    }
}

TEST_CASE("a chain through every redirect code ends at its answer, on one connection") {
    test_server s;
    idem::client c{s.url(), following()};
    const std::string origin = s.url();
    s.push(redirect(301, "/one/two"));
    s.push(redirect(302, "three"));                    // relative: /one/three
    s.push(redirect(303, "?four"));                    // /one/three?four
    s.push(redirect(307, origin + "/five"));           // absolute, same origin
    s.push(redirect(308, "//" + origin.substr(7) + "/six")); // scheme-relative
    auto r = c.get("/start", {{"Authorization", "Bearer t"}, {"X-Trace", "1"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "ok");
    CHECK(r->redirects == 5);
    CHECK(r->url == origin + "/six");
    const auto heads = s.heads();
    REQUIRE(heads.size() == 6);
    const char* lines[] = {"GET /start HTTP/1.1", "GET /one/two HTTP/1.1", "GET /one/three HTTP/1.1",
                           "GET /one/three?four HTTP/1.1", "GET /five HTTP/1.1", "GET /six HTTP/1.1"};
    for (std::size_t i = 0; i < heads.size(); ++i) {
        CAPTURE(i);
        CHECK(request_line(heads[i]) == lines[i]);
        CHECK(field(heads[i], "Authorization") == "Bearer t"); // the same origin all along
        CHECK(field(heads[i], "X-Trace") == "1");
    }
    CHECK(s.connections() == 1);
    CHECK(c.stats().connections_opened == 1);
    CHECK(c.stats().retries == 0);
}

namespace {
// What an event handler saw of the redirects a call followed: each 3xx's status and Location.
struct hops_seen {
    std::vector<std::string> hops;
    static void on(const idem::event& e, void* ctx) {
        if (e.kind != idem::event_kind::redirected) return;
        REQUIRE(e.answer != nullptr);
        auto& self = *static_cast<hops_seen*>(ctx);
        self.hops.push_back(std::to_string(e.attempt) + " " + std::to_string(e.answer->status) + " " +
                            std::string(e.answer->header("Location")));
    }
};
} // namespace

TEST_CASE("the event handler sees each redirect followed, with its response, and no other") {
    test_server s;
    hops_seen seen;
    SUBCASE("a client") {
        idem::client c{s.url(), following()};
        c.set_event_handler(&hops_seen::on, &seen);
        s.push(redirect(301, "/one"));
        s.push(redirect(307, "/two"));
        auto r = c.get("/start");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(seen.hops == std::vector<std::string>{"1 301 /one", "2 307 /two"});
        seen.hops.clear();
        s.push(redirect(302, "/three")); // not followed: the call returns the 3xx, no event
        idem::request q{"GET", "/start"};
        q.redirects = idem::follow::no;
        idem::response n;
        REQUIRE(c.send(q, n));
        CHECK(n.status == 302);
        CHECK(seen.hops.empty());
        s.push(redirect(302, "/four")); // refused by the chain (past max_redirects): not followed
        idem::client_options one = following();
        one.max_redirects = 0;
        idem::client z{s.url(), one};
        z.set_event_handler(&hops_seen::on, &seen);
        auto t = z.get("/start");
        CHECK(t.error() == errc::too_many_redirects);
        CHECK(seen.hops.empty());
    }
    SUBCASE("a pool") {
        idem::pool p{s.url(), following()};
        p.set_event_handler(&hops_seen::on, &seen);
        s.push(redirect(308, "/moved"));
        auto r = p.get("/x");
        REQUIRE(r);
        CHECK(seen.hops == std::vector<std::string>{"1 308 /moved"});
    }
}

TEST_CASE("a client's path prefix is not put before a Location") {
    test_server s;
    idem::client c{s.url() + "/api/v1", following()};
    s.push(redirect(302, "/elsewhere"));
    s.push(redirect(302, "next"));
    auto r = c.get("/users");
    REQUIRE(r);
    const auto heads = s.heads();
    REQUIRE(heads.size() == 3);
    CHECK(request_line(heads[0]) == "GET /api/v1/users HTTP/1.1");
    CHECK(request_line(heads[1]) == "GET /elsewhere HTTP/1.1");
    CHECK(request_line(heads[2]) == "GET /next HTTP/1.1");
}

TEST_CASE("the method and body of the next request follow the code") {
    test_server s;
    idem::client c{s.url(), following()};
    struct row {
        int code;
        const char* method;
        const char* next;
        bool body;
    } rows[] = {
        {301, "POST", "GET", false}, {302, "POST", "GET", false}, {303, "POST", "GET", false},
        {303, "PUT", "GET", false},  {303, "HEAD", "HEAD", false}, {301, "PUT", "PUT", true},
        {302, "DELETE", "DELETE", true}, {307, "POST", "POST", true}, {308, "PUT", "PUT", true},
        {307, "PATCH", "PATCH", true},
    };
    for (const auto& w : rows) {
        CAPTURE(w.code);
        CAPTURE(w.method);
        const std::size_t before = s.heads().size();
        s.push(redirect(w.code, "/to"));
        const bool has_body = std::string(w.method) != "HEAD";
        auto r = c.request(w.method, "/from", has_body ? "the body" : "",
                           {{"Content-Type", "text/plain"}, {"Content-Language", "en"}, {"X-Other", "kept"}});
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->redirects == 1);
        const auto heads = s.heads();
        const auto bodies = s.bodies();
        REQUIRE(heads.size() == before + 2);
        const std::string& h = heads.back();
        CHECK(request_line(h) == std::string(w.next) + " /to HTTP/1.1");
        CHECK(field(h, "X-Other") == "kept");
        if (w.body) {
            CHECK(bodies.back() == "the body");
            CHECK(field(h, "Content-Type") == "text/plain");
        } else {
            CHECK(bodies.back().empty());
            CHECK(!has_field(h, "Content-Type"));     // the body's fields went with it
            CHECK(!has_field(h, "Content-Language"));
            CHECK(!has_field(h, "Content-Length"));
        }
    }
}

TEST_CASE("307 and 308 re-send a body only when it can be produced again") {
    test_server s;
    idem::client_options o = following();
    o.expect_continue_threshold = idem::body_source::unknown_length; // the body goes out at once
    idem::client c{s.url(), o};
    const std::string content = idem_test::pattern(200 * 1024 + 3);

    SUBCASE("a regular file is read again") {
        idem_test::temp_file f(content);
        s.push(redirect(307, "/again"));
        auto r = c.upload("POST", "/up", idem::body_source::file(f.fd));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->redirects == 1);
        const auto bodies = s.bodies();
        REQUIRE(bodies.size() == 2);
        CHECK(bodies[0] == content);
        CHECK(bodies[1] == content);
    }
    SUBCASE("a callback with a rewind starts again") {
        idem_test::string_feed feed{content};
        s.push(redirect(308, "/again"));
        auto r = c.upload("PUT", "/up", idem::body_source::callback(&idem_test::string_feed::read, &feed,
                                                                    content.size(), &idem_test::string_feed::rewind));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(feed.rewinds == 1);
        CHECK(s.last_body() == content);
    }
    SUBCASE("a pipe that was read is not: the 307 is the answer") {
        idem_test::pipe_feed p(content);
        s.push(redirect(307, "/again"));
        auto r = c.upload("POST", "/up", idem::body_source::file(p.fd()));
        REQUIRE(r);
        CHECK(r->status == 307);
        CHECK(r->body == "moved");
        CHECK(r->redirects == 0);
        CHECK(s.requests_seen() == 1);
    }
    SUBCASE("a 303 after a pipe was read asks for GET, without the body") {
        idem_test::pipe_feed p(content);
        s.push(redirect(303, "/result"));
        auto r = c.upload("POST", "/up", idem::body_source::file(p.fd()));
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(request_line(s.last_head()) == "GET /result HTTP/1.1");
        CHECK(!has_field(s.last_head(), "Transfer-Encoding"));
    }
}

TEST_CASE("a pipe's body the server redirected before reading (Expect) goes to the new location") {
    test_server s;
    idem::client c{s.url(), following()};
    const std::string content = idem_test::pattern(100 * 1024);
    idem_test::pipe_feed p(content);
    // Asked with Expect: 100-continue, the server answers 307 on the head alone: nothing of the
    // pipe was read, so it can still go, once, to where the server points.
    s.push(step{action::raw_before_body,
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: /there\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                0ms, true});
    s.push(action::continue_first);
    auto r = c.upload("POST", "/here", idem::body_source::file(p.fd()));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->redirects == 1);
    CHECK(request_line(s.last_head()) == "POST /there HTTP/1.1");
    CHECK(s.last_body() == content);
    CHECK(s.bodies_read() == 1);
}

TEST_CASE("a chain is bounded, and a loop is an error") {
    test_server s;
    idem::client_options o = following();
    o.max_redirects = 3;
    idem::client c{s.url(), o};

    SUBCASE("exactly the limit is followed") {
        for (int i = 1; i <= 3; ++i) s.push(redirect(302, "/r" + std::to_string(i)));
        auto r = c.get("/");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->redirects == 3);
    }
    SUBCASE("one more is too many") {
        for (int i = 1; i <= 4; ++i) s.push(redirect(302, "/r" + std::to_string(i)));
        idem::response out;
        auto r = c.send(idem::request{"GET", "/"}, out);
        REQUIRE(!r);
        CHECK(r.error() == errc::too_many_redirects);
        CHECK(r.error().may_have_executed());
        CHECK(out.status == 302); // the last answer stays for the caller to see
        CHECK(out.header("Location") == "/r4");
        CHECK(s.requests_seen() == 4);
    }
    SUBCASE("back to a URL already asked") {
        s.push(redirect(302, "/b"));
        s.push(redirect(302, "/a"));
        auto r = c.get("/a");
        REQUIRE(!r);
        CHECK(r.error() == errc::redirect_loop);
        CHECK(s.requests_seen() == 2);
    }
    SUBCASE("to itself") {
        s.push(redirect(307, ""));
        auto r = c.get("/self");
        REQUIRE(!r);
        CHECK(r.error() == errc::redirect_loop);
        CHECK(s.requests_seen() == 1);
    }
    SUBCASE("the same URL with another method is not a loop") {
        s.push(redirect(303, "/form")); // POST /form, then GET /form
        auto r = c.post("/form", "x");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->redirects == 1);
    }
}

TEST_CASE("credentials never go to another origin, and are not restored when the chain returns") {
    test_server a, b;
    idem::client c{a.url(), following()};
    a.push(redirect(302, b.url() + "/there"));
    b.push(redirect(302, a.url() + "/back"));
    auto r = c.get("/start", {{"Authorization", "Bearer secret"}, {"Cookie", "s=1"},
                              {"Proxy-Authorization", "Basic eA=="}, {"Host", "custom"}, {"X-Trace", "7"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->redirects == 2);
    CHECK(r->url == a.url() + "/back");
    const auto ah = a.heads();
    const auto bh = b.heads();
    REQUIRE(ah.size() == 2);
    REQUIRE(bh.size() == 1);
    CHECK(field(ah[0], "Authorization") == "Bearer secret");
    CHECK(field(ah[0], "Host") == "custom");
    for (const std::string* h : {&bh[0], &ah[1]}) {
        CHECK(!has_field(*h, "Authorization"));
        CHECK(!has_field(*h, "Cookie"));
        CHECK(!has_field(*h, "Proxy-Authorization"));
        CHECK(field(*h, "X-Trace") == "7");
    }
    CHECK(field(bh[0], "Host") == b.url().substr(7));
    CHECK(field(ah[1], "Host") == a.url().substr(7));
    // The other origin's connection was its own, closed after its answer; this client's
    // connection to its origin carried both of its requests.
    CHECK(field(bh[0], "Connection") == "close");
    CHECK(b.wait_all_closed(2s));
    CHECK(a.connections() == 1);
    CHECK(c.has_idle_connection());
    CHECK(c.stats().connections_opened == 2);
}

TEST_CASE("a redirect that cannot be followed is an error that names why") {
    test_server s;
    idem::client c{s.url(), following()};
    SUBCASE("https needs TLS") {
        s.push(redirect(301, "https://example.com/secure"));
        idem::response out;
        auto r = c.send(idem::request{"GET", "/"}, out);
        REQUIRE(!r);
        CHECK(r.error() == errc::unsupported_scheme);
        CHECK(r.error().message().find("https") != std::string::npos);
        CHECK(out.header("Location") == "https://example.com/secure");
        CHECK(s.requests_seen() == 1);
    }
    SUBCASE("a Location that is not a URL") {
        s.push(redirect(302, "http://user@host/x"));
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::invalid_redirect);
        CHECK(std::error_code(r.error()) == std::errc::bad_message);
    }
    SUBCASE("a redirect without a Location is the answer") {
        s.push(step{action::raw, "HTTP/1.1 302 Found\r\nContent-Length: 2\r\n\r\nno", 0ms, false});
        auto r = c.get("/");
        REQUIRE(r);
        CHECK(r->status == 302);
        CHECK(r->body == "no");
        CHECK(r->redirects == 0);
    }
    SUBCASE("a refused hop fails the call, which had reached the server") {
        test_server gone;
        const std::string dead = gone.url();
        gone.stop();
        s.push(redirect(302, dead + "/x"));
        auto r = c.get("/");
        REQUIRE(!r);
        CHECK(r.error() == errc::connection_refused);
        CHECK(r.error().may_have_executed()); // the first request was answered
    }
}

TEST_CASE("a sink sees only the body of the answer the chain ends with") {
    test_server s;
    idem::client c{s.url(), following()};
    std::string seen;
    auto sink = [&](const char* p, std::size_t n) {
        seen.append(p, n);
        return true;
    };
    idem::response out;
    s.push(redirect(302, "/b"));
    REQUIRE(c.send(idem::request{"GET", "/a"}, out, sink));
    CHECK(out.status == 200);
    CHECK(seen == "ok");
    SUBCASE("and the body of a 3xx that is not followed") {
        seen.clear();
        idem_test::pipe_feed p(std::string(1000, 'p'));
        idem::request q{"POST", "/a"};
        q.source = idem::body_source::file(p.fd());
        s.push(redirect(307, "/b"));
        idem::client_options o = following();
        o.expect_continue_threshold = idem::body_source::unknown_length;
        idem::client d{s.url(), o};
        REQUIRE(d.send(q, out, sink));
        CHECK(out.status == 307);
        CHECK(seen == "moved");
    }
}

TEST_CASE("the whole chain runs under the call's one deadline") {
    test_server s;
    idem::client_options o = following();
    o.deadline = 400ms;
    idem::client c{s.url(), o};
    s.push(redirect(302, "/slow"));
    s.push(step{action::delay, {}, 3000ms, false});
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.get("/");
    REQUIRE(!r);
    CHECK(r.error() == errc::deadline_exceeded);
    CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
}

TEST_CASE("a pool follows redirects on its own connections") {
    test_server s;
    idem::pool p{s.url(), following()};
    s.push(redirect(308, "/moved"));
    auto r = p.put("/x", "data");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->redirects == 1);
    CHECK(s.last_body() == "data");
    CHECK(request_line(s.last_head()) == "PUT /moved HTTP/1.1");
    CHECK(s.connections() == 1);
}

TEST_CASE("with no practical limit, a long chain of distinct URLs is followed to its end") {
    test_server s;
    idem::client_options o = following();
    o.max_redirects = ~0u;
    idem::client c{s.url(), o};
    for (int i = 1; i <= 100; ++i) s.push(redirect(307, "/hop" + std::to_string(i)));
    auto r = c.get("/");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->redirects == 100);
    CHECK(r->url == s.url() + "/hop100");
    CHECK(s.connections() == 1);
}

TEST_CASE("a sink that throws on a hop to another origin: the exception leaves the call, the hop's connection is closed, the client stays usable") {
    test_server a, b;
    idem::client c{a.url(), following()};
    a.push(redirect(302, b.url() + "/there"));
    idem::response out;
    bool thrown = false;
    try {
        (void)c.send(idem::request{"GET", "/start", {}, {}}, out, [](const char*, std::size_t) -> bool {
            throw std::runtime_error("sink failed");
        });
    } catch (const std::runtime_error&) {
        thrown = true;
    }
    CHECK(thrown);
    CHECK(b.requests_seen() == 1);
    CHECK(b.wait_all_closed(2s)); // the hop's client closed its connection as the exception passed
    // The call guard went with the exception: the next call runs.
    auto r = c.get("/after");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(a.requests_seen() == 2);
}

TEST_CASE("a second thread during a chain gets client_busy, also while a hop to another origin runs") {
    test_server a, b;
    idem::client c{a.url(), following()};
    a.push(redirect(302, b.url() + "/slow"));
    b.push(step{action::delay, {}, 600ms, false});
    idem::result<idem::response> chain = idem::error(errc{});
    std::thread t([&] { chain = c.get("/start"); });
    REQUIRE(b.wait_requests_seen(1, 5s)); // the chain is on its hop now
    auto busy = c.get("/other");
    t.join();
    REQUIRE(!busy);
    CHECK(busy.error() == errc::client_busy);
    CHECK(!busy.error().may_have_executed());
    REQUIRE(chain);
    CHECK(chain->status == 200);
    CHECK(chain->redirects == 1);
    CHECK(a.requests_seen() == 1); // the busy call sent nothing
}
