// cpp-httplib: one Client with keep-alive.
#include "common.hpp"

#include <httplib.h>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    httplib::Client c("127.0.0.1", a.port);
    c.set_keep_alive(true);
    unsigned long long bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < a.n; ++i) {
        auto r = c.Get(a.path.c_str());
        if (!r || r->status != 200) return 1;
        bytes += r->body.size();
    }
    report(a.n, std::chrono::steady_clock::now() - t0, bytes);
    return 0;
}
