// idem's hot path: one client, one reused response object, keep-alive. Built with
// IDEM_BENCH_POOL (bench/client_pool.cpp), the same loop through idem::pool on one thread.
#include "common.hpp"

#include <idem/idem.hpp>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
#ifdef IDEM_BENCH_POOL
    idem::pool c{"http://127.0.0.1:" + std::to_string(a.port)};
#else
    idem::client c{"http://127.0.0.1:" + std::to_string(a.port)};
#endif
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
