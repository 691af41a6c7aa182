// libFuzzer target: the response reader (head, 1xx, framing, body) on arbitrary bytes.
// Property: feeding the input whole and split at pseudo-random points gives the same outcome,
// and a complete body is never larger than the input. Byte 0 picks the method and the splits.
#include <idem/idem.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

struct outcome {
    bool done = false;
    idem::errc err = idem::errc{};
    std::size_t stray = 0;
    int status = 0;
    std::string body;
    std::size_t fields = 0;
};

bool same(const outcome& a, const outcome& b) {
    if (a.done != b.done || a.err != b.err) return false;
    if (!a.done) return true;
    return a.stray == b.stray && a.status == b.status && a.body == b.body && a.fields == b.fields;
}

outcome run(const char* p, std::size_t n, const char* method, std::uint32_t seed) {
    idem::limits lim;
    lim.max_head_bytes = 4096;
    lim.max_line_bytes = 1024;
    lim.max_headers = 32;
    lim.max_body_bytes = 1 << 20;
    idem::response r;
    idem::detail::response_reader rd;
    rd.start(method, r, lim);
    outcome o;
    std::size_t off = 0;
    while (off < n) {
        std::size_t piece = n - off;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % 17;
            if (piece > n - off) piece = n - off;
        }
        const auto st = rd.feed(p + off, piece);
        if (st.failed) {
            o.err = st.err;
            return o;
        }
        if (st.consumed > piece) __builtin_trap();
        if (rd.done()) {
            o.done = true;
            o.stray = (n - off) - st.consumed;
            break;
        }
        off += piece;
    }
    if (!o.done) {
        o.err = rd.finish_at_eof();
        o.done = o.err == idem::errc{};
    }
    o.status = r.status;
    o.body = r.body;
    o.fields = r.header_count();
    for (std::size_t i = 0; i < r.header_count(); ++i) (void)r.header(r.header_at(i).name);
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const char* method = (data[0] & 1) ? "HEAD" : "GET";
    const std::uint32_t seed = data[0] | 0x100u;
    const char* p = reinterpret_cast<const char*>(data + 1);
    const std::size_t n = size - 1;
    const outcome whole = run(p, n, method, 0);
    const outcome split = run(p, n, method, seed);
    if (!same(whole, split)) __builtin_trap();
    if (whole.done && whole.body.size() > n) __builtin_trap();
    return 0;
}
