// Shared by the benchmark clients: arguments and the one line each prints.
//   CLIENT PORT PATH N  ->  "requests=N ns=ELAPSED bytes=TOTAL_BODY_BYTES"
#ifndef IDEM_BENCH_COMMON_HPP
#define IDEM_BENCH_COMMON_HPP

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

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

#endif
