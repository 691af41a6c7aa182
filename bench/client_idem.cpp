// idem's hot path: one client, one reused response object, keep-alive. Built with
// IDEM_BENCH_POOL (bench/client_pool.cpp), the same loop through idem::pool, on BENCH_THREADS
// threads sharing it. Built with BENCH_TLS, one idem::tls::client over https, trusting the CA
// in $BENCH_CA (bench/tls.py); with BENCH_RECONNECT=1 set, a new connection for every request
// (resuming the server's session unless BENCH_NO_RESUME=1).
#include "common.hpp"

#include <idem/idem.hpp>
#ifdef BENCH_TLS
#include <cstdlib>
#include <idem/tls/openssl.hpp>
#endif

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
#ifdef IDEM_BENCH_POOL
    const int threads = bench_threads();
    idem::pool c{"http://127.0.0.1:" + std::to_string(a.port), {},
                 idem::pool_options{std::size_t(threads), std::size_t(threads)}};
#elif defined(BENCH_TLS)
    const int threads = 1;
    idem::client_options o;
    o.tls.ca_file = std::getenv("BENCH_CA");
    const bool reconnect = std::getenv("BENCH_RECONNECT") != nullptr;
    o.tls.resume_sessions = std::getenv("BENCH_NO_RESUME") == nullptr;
    idem::tls::client c{"https://127.0.0.1:" + std::to_string(a.port), o};
#else
    const int threads = 1; // a basic_client serves one thread
    idem::client c{"http://127.0.0.1:" + std::to_string(a.port)};
#endif
    unsigned long long bytes = 0;
    std::chrono::steady_clock::duration took{};
    const bool ok = run_threads(threads, a.n, [&](int, long count, unsigned long long& got) {
        idem::response out;
        const idem::request req{"GET", a.path, {}, {}};
        for (long i = 0; i < count; ++i) {
            if (!c.send(req, out) || out.status != 200) return false;
            got += out.body.size();
#ifdef BENCH_TLS
            if (reconnect) c.close();
#endif
        }
        return true;
    }, bytes, took);
    if (!ok) return 1;
    report(a.n, took, bytes);
    return 0;
}
