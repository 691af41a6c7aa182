// cpp-httplib: one Client with keep-alive per thread (BENCH_THREADS, default 1).
#include "common.hpp"

#include <httplib.h>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    unsigned long long bytes = 0;
    std::chrono::steady_clock::duration took{};
    const bool ok = run_threads(bench_threads(), a.n, [&](int, long count, unsigned long long& got) {
        httplib::Client c("127.0.0.1", a.port);
        c.set_keep_alive(true);
        for (long i = 0; i < count; ++i) {
            auto r = c.Get(a.path.c_str());
            if (!r || r->status != 200) return false;
            got += r->body.size();
        }
        return true;
    }, bytes, took);
    if (!ok) return 1;
    report(a.n, took, bytes);
    return 0;
}
