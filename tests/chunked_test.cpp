#include "support/test_idem.hpp"

#include <cstdint>
#include <string>

using idem::errc;
using idem::detail::body_decoder;
using idem::detail::body_kind;
using idem::detail::framing;

namespace {

struct decoded {
    std::string out;
    bool done = false;
    bool failed = false;
    errc err = errc{};
    std::size_t consumed = 0;
};

decoded decode(const std::string& in, std::size_t piece, std::size_t max_trailer = 1024) {
    body_decoder d;
    framing f;
    f.kind = body_kind::chunked;
    d.start(f, max_trailer);
    decoded r;
    for (std::size_t off = 0; off < in.size() && !r.done;) {
        const std::size_t n = in.size() - off < piece ? in.size() - off : piece;
        const auto st = d.feed(in.data() + off, n, [&](const char* p, std::size_t k) {
            r.out.append(p, k);
            return true;
        });
        if (st.failed) {
            r.failed = true;
            r.err = st.err;
            return r;
        }
        r.consumed += st.consumed;
        r.done = st.done;
        off += st.consumed;
        if (!st.done && st.consumed != n) {
            r.failed = true; // the decoder must take every byte until it is done
            return r;
        }
    }
    return r;
}

} // namespace

TEST_CASE("chunked decoding is the same for every piece size") {
    const std::string body = "4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
    for (std::size_t piece = 1; piece <= body.size(); ++piece) {
        CAPTURE(piece);
        const auto r = decode(body, piece);
        REQUIRE(!r.failed);
        CHECK(r.done);
        CHECK(r.out == "Wikipedia in\r\n\r\nchunks.");
        CHECK(r.consumed == body.size());
    }
}

TEST_CASE("chunked decoding stops at the end of the body") {
    const auto r = decode("1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", 1000);
    CHECK(r.done);
    CHECK(r.consumed == 11);
}

TEST_CASE("chunk size overflow is caught at the first digit that does not fit") {
    // 64 bits on every target: a 32-bit build reads chunk sizes past 2^32 too.
    const std::string max_digits(sizeof(std::uint64_t) * 2, 'f');
    CHECK(decode(max_digits + "f\r\n", 1000).err == errc::malformed_response);
    // The largest size that fits is accepted as a size (the body then never arrives).
    const auto fits = decode(max_digits + "\r\nabc", 1000);
    CHECK(!fits.failed);
    CHECK(!fits.done);
}

TEST_CASE("leading zeros and uppercase hex are valid sizes") {
    const auto r = decode("000A\r\n0123456789\r\n0\r\n\r\n", 3);
    CHECK(r.done);
    CHECK(r.out == "0123456789");
}

TEST_CASE("the trailer section is bounded") {
    const std::string trailer = "0\r\nX: " + std::string(200, 'a') + "\r\n\r\n";
    CHECK(decode(trailer, 7, 100).err == errc::header_too_large);
    CHECK(decode(trailer, 7, 1000).done);
}

TEST_CASE("control bytes in a chunk extension are rejected") {
    CHECK(decode(std::string("1;a\0b\r\nx\r\n0\r\n\r\n", 15), 1000).err == errc::malformed_response);
}

TEST_CASE("a sink that refuses stops decoding with body_too_large") {
    body_decoder d;
    framing f;
    f.kind = body_kind::length;
    f.length = 10;
    d.start(f, 0);
    const auto st = d.feed("0123456789", 10, [](const char*, std::size_t) { return false; });
    CHECK(st.failed);
    CHECK(st.err == errc::body_too_large);
}
