#include "support/test_idem.hpp"

#include <string>
#include <vector>

using idem::errc;
using idem::request;
using idem::validate;

TEST_CASE("idempotent methods per RFC 9110 9.2.2, and Idempotency-Key") {
    for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
        CAPTURE(m);
        CHECK(idem::is_idempotent_method(m));
    }
    for (const char* m : {"POST", "PATCH", "CONNECT", "get", "PURGE"}) {
        CAPTURE(m);
        CHECK(!idem::is_idempotent_method(m));
    }
    CHECK(!idem::is_idempotent(request{"POST", "/", {}, "x"}));
    CHECK(idem::is_idempotent(request{"POST", "/", {{"idempotency-key", "k1"}}, "x"}));
}

TEST_CASE("request validation refuses what would corrupt the wire") {
    CHECK(validate(request{"GET", "/", {}, {}}));
    CHECK(validate(request{"OPTIONS", "*", {}, {}}));
    CHECK(validate(request{"M-SEARCH", "/a?b=c", {{"X", "tab\tok"}}, {}}));
    CHECK(validate(request{"POST", "/", {{"Content-Length", "2"}}, "ab"}));
    struct row {
        std::string_view method, target;
        std::vector<idem::header> headers;
        std::string_view body;
        const char* reason; // each failure says which rule, which part
    };
    const row bad[] = {
        {"", "/", {}, {}, "the method is empty"},
        {"GE T", "/", {}, {}, "the method is not a token"},
        {"GET\r\n", "/", {}, {}, "the method is not a token"},
        {"GET", "", {}, {}, "the target is empty"},
        {"GET", "x", {}, {}, "the target must start with '/'"},
        {"GET", "/a b", {}, {}, "the target contains a space"},
        {"GET", "/a\r\nX: y", {}, {}, "the target contains a control"},
        {"GET", "/a#frag", {}, {}, "the target contains '#'"},
        {"GET", "/", {{"X", "a\r\nInjected: 1"}}, {}, "a header value contains CR"},
        {"GET", "/", {{"X", "a\nb"}}, {}, "a header value contains LF"},
        {"GET", "/", {{"X", std::string_view("a\0b", 3)}}, {}, "a header value contains NUL"},
        {"GET", "/", {{"X", "a\x01"}}, {}, "a header value contains a control character"},
        {"GET", "/", {{"X:Y", "v"}}, {}, "a header name is not a token"},
        {"GET", "/", {{"", "v"}}, {}, "a header name is empty"},
        {"GET", "/", {{"X\r", "v"}}, {}, "a header name contains CR or LF"},
        {"POST", "/", {{"Transfer-Encoding", "chunked"}}, "x", "Transfer-Encoding is idem's to set"},
        {"POST", "/", {{"Content-Length", "5"}}, "ab", "Content-Length differs from the body's size"},
        {"POST", "/", {{"Content-Length", "2x"}}, "ab", "Content-Length is not a decimal number"},
    };
    for (const auto& b : bad) {
        CAPTURE(b.reason);
        auto v = validate(request{b.method, b.target, b.headers, b.body});
        REQUIRE(!v);
        CHECK(v.error() == errc::invalid_request);
        CHECK(v.error().reason().rfind(b.reason, 0) == 0);
        CHECK(v.error().message().find(b.reason) != std::string::npos);
    }
}

TEST_CASE("the request head carries Host, User-Agent, Connection and Content-Length") {
    std::string out;
    idem::detail::write_head(out, request{"POST", "/p", {{"X-A", "1"}}, "body"}, "h:81", "keep-alive", "ua/1");
    CHECK(out == "POST /p HTTP/1.1\r\nHost: h:81\r\nUser-Agent: ua/1\r\nConnection: keep-alive\r\n"
                 "X-A: 1\r\nContent-Length: 4\r\n\r\n");
    out.clear();
    idem::detail::write_head(out, request{"GET", "/", {}, {}}, "h", "close", "");
    CHECK(out == "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    out.clear();
    // An empty POST still says how long it is; a caller's own fields replace the defaults.
    idem::detail::write_head(out, request{"POST", "/", {{"host", "other"}, {"Connection", "close"}}, {}}, "h", "keep-alive", "ua");
    CHECK(out == "POST / HTTP/1.1\r\nUser-Agent: ua\r\nhost: other\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("header_list views a vector too") {
    std::vector<idem::header> v = {{"A", "1"}, {"B", "2"}};
    idem::header_list l = v;
    CHECK(l.size() == 2);
    CHECK(l.begin()[1].value == "2");
}

TEST_CASE("header_fields keep every field right while their storage grows") {
    // Short names and values live inside the string objects, so when the storage grows and
    // moves them, every view must be made anew. The freed storage is written over before
    // each check, so a stale view reads the filler instead of its field.
    idem::header_fields f;
    std::vector<std::string> names, values;
    for (int i = 0; i < 100; ++i) {
        names.push_back("N" + std::to_string(i));
        values.push_back("v" + std::to_string(i * 7));
        f.add(names.back(), values.back());
        std::vector<std::string> filler;
        for (std::size_t bytes = 16; bytes <= 8192; bytes += 16) filler.emplace_back(bytes, 'Z');
        REQUIRE(f.size() == std::size_t(i + 1));
        bool same = true;
        std::size_t k = 0;
        for (const auto& h : f) {
            same = same && h.name == names[k] && h.value == values[k];
            ++k;
        }
        CAPTURE(i);
        CHECK(same);
    }
}
