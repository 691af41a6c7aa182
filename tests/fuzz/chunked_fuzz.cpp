// libFuzzer target: the chunked decoder on arbitrary bytes. Property: decoding whole and one
// byte at a time agree on the output, the bytes consumed, and the error; the output is never
// longer than the input.
#include <idem/idem.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

struct outcome {
    std::string out;
    std::size_t consumed = 0;
    bool done = false, failed = false;
    idem::errc err = idem::errc{};
};

outcome run(const char* p, std::size_t n, std::size_t piece) {
    idem::detail::body_decoder d;
    idem::detail::framing f;
    f.kind = idem::detail::body_kind::chunked;
    d.start(f, 256, 128);
    outcome o;
    while (o.consumed < n && !o.done) {
        const std::size_t k = n - o.consumed < piece ? n - o.consumed : piece;
        const auto st = d.feed(p + o.consumed, k, [&](const char* b, std::size_t m) {
            o.out.append(b, m);
            return o.out.size() <= (1u << 20);
        });
        if (st.failed) {
            o.failed = true;
            o.err = st.err;
            return o;
        }
        if (st.consumed > k || (!st.done && st.consumed != k)) __builtin_trap();
        o.consumed += st.consumed;
        o.done = st.done;
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const char* p = reinterpret_cast<const char*>(data);
    const outcome whole = run(p, size, size ? size : 1);
    const outcome bytes = run(p, size, 1);
    if (whole.failed != bytes.failed || whole.err != bytes.err) __builtin_trap();
    if (!whole.failed && (whole.out != bytes.out || whole.consumed != bytes.consumed ||
                          whole.done != bytes.done))
        __builtin_trap();
    if (whole.out.size() > size) __builtin_trap();
    return 0;
}
