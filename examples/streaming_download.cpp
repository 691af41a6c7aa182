// Cookbook: download a body of any size to a file with a fixed amount of memory.
//   ./streaming_download http://127.0.0.1:8080/big.iso big.iso
#include <idem/idem.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s URL FILE\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) return 2;
    std::FILE* f = std::fopen(argv[2], "wb");
    if (!f) return 2;
    idem::client_options o;
    o.deadline = std::chrono::minutes(30); // a big download may take a while
    idem::client c{url->origin(), o};
    idem::response head; // status and fields; the body goes to the sink
    unsigned long long total = 0;
    auto r = c.send(idem::request{"GET", url->target, {}, {}}, head, [&](const char* p, std::size_t n) {
        total += n;
        return std::fwrite(p, 1, n, f) == n; // false stops the transfer: errc::sink_aborted
    });
    const bool closed = std::fclose(f) == 0;
    if (!r) {
        std::fprintf(stderr, "download failed after %llu bytes: %s\n", total, r.error().message().c_str());
        return 1;
    }
    std::printf("%d, %llu bytes\n", head.status, total);
    return closed && head.status == 200 ? 0 : 1;
}
