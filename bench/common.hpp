// Shared by the benchmark clients: arguments and the one line each prints.
//   CLIENT PORT PATH N  ->  "requests=N ns=ELAPSED bytes=TOTAL_BODY_BYTES"
// BENCH_THREADS=T in the environment splits the N requests over T threads (clients that can
// share across threads: idem::pool, libcurl with a shared connection cache, cpp-httplib with
// a client per thread).
#ifndef IDEM_BENCH_COMMON_HPP
#define IDEM_BENCH_COMMON_HPP

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

struct bench_args {
    int port = 0;
    std::string path;
    long n = 0;
};

inline bench_args parse_bench_args(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s PORT PATH N\n", argv[0]);
        std::exit(2);
    }
    return {std::atoi(argv[1]), argv[2], std::atol(argv[3])};
}

inline void report(long n, std::chrono::steady_clock::duration d, unsigned long long bytes) {
    std::printf("requests=%ld ns=%lld bytes=%llu\n", n,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
                bytes);
}

inline int bench_threads() {
    const char* v = std::getenv("BENCH_THREADS");
    const int t = v != nullptr ? std::atoi(v) : 1;
    return t > 0 ? t : 1;
}

/// Runs `per_thread(count, bytes)` on `threads` threads, `n` requests in all; the elapsed time
/// covers them all. Returns false if any thread did.
template <class F> bool run_threads(int threads, long n, F per_thread, unsigned long long& bytes,
                                    std::chrono::steady_clock::duration& took) {
    std::vector<unsigned long long> got(std::size_t(threads), 0);
    std::vector<char> ok(std::size_t(threads), 0);
    std::vector<std::thread> ts;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
        const long count = n / threads + (t < n % threads ? 1 : 0);
        ts.emplace_back([&, t, count] { ok[std::size_t(t)] = per_thread(t, count, got[std::size_t(t)]); });
    }
    for (auto& th : ts) th.join();
    took = std::chrono::steady_clock::now() - t0;
    bytes = 0;
    bool all = true;
    for (int t = 0; t < threads; ++t) {
        bytes += got[std::size_t(t)];
        all = all && ok[std::size_t(t)];
    }
    return all;
}

#endif
