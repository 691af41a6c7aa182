// idem's hot path: one client, one reused response object, keep-alive.
#include "common.hpp"

#include <idem/idem.hpp>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    idem::client c{"http://127.0.0.1:" + std::to_string(a.port)};
    idem::response out;
    const idem::request req{"GET", a.path, {}, {}};
    unsigned long long bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < a.n; ++i) {
        if (!c.send(req, out) || out.status != 200) return 1;
        bytes += out.body.size();
    }
    report(a.n, std::chrono::steady_clock::now() - t0, bytes);
    return 0;
}
