// cpp-httplib: one Client with keep-alive per thread (BENCH_THREADS, default 1). Built with
// BENCH_TLS (and Debian's CPPHTTPLIB_OPENSSL_SUPPORT), an SSLClient trusting $BENCH_CA.
#include "common.hpp"

#include <cstdlib>

#include <httplib.h>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    unsigned long long bytes = 0;
    std::chrono::steady_clock::duration took{};
    const bool ok = run_threads(bench_threads(), a.n, [&](int, long count, unsigned long long& got) {
#ifdef BENCH_TLS
        httplib::SSLClient c("127.0.0.1", a.port);
        c.set_ca_cert_path(std::getenv("BENCH_CA"));
#else
        httplib::Client c("127.0.0.1", a.port);
#endif
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
