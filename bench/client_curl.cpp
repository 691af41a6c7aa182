// libcurl's easy interface: a handle per thread (BENCH_THREADS, default 1), each reused (it
// keeps its connection); with several threads they share one connection cache through CURLSH.
// Bodies go into strings. Built with BENCH_TLS: https, trusting the CA in $BENCH_CA.
#include "common.hpp"

#include <cstdlib>

#include <curl/curl.h>

#include <mutex>

namespace {
std::size_t append(char* p, std::size_t size, std::size_t n, void* ctx) {
    static_cast<std::string*>(ctx)->append(p, size * n);
    return size * n;
}

std::mutex share_locks[CURL_LOCK_DATA_LAST];
void lock(CURL*, curl_lock_data d, curl_lock_access, void*) { share_locks[d].lock(); }
void unlock(CURL*, curl_lock_data d, void*) { share_locks[d].unlock(); }
} // namespace

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const int threads = bench_threads();
    CURLSH* share = nullptr; // one thread: the plain easy interface, as the counted figures use
    if (threads > 1) {
        share = curl_share_init();
        curl_share_setopt(share, CURLSHOPT_LOCKFUNC, lock);
        curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, unlock);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
#ifdef BENCH_TLS
    const std::string url = "https://127.0.0.1:" + std::to_string(a.port) + a.path;
#else
    const std::string url = "http://127.0.0.1:" + std::to_string(a.port) + a.path;
#endif
    unsigned long long bytes = 0;
    std::chrono::steady_clock::duration took{};
    const bool ok = run_threads(threads, a.n, [&](int, long count, unsigned long long& got) {
        CURL* h = curl_easy_init();
        std::string body;
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        if (share != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share);
#ifdef BENCH_TLS
        curl_easy_setopt(h, CURLOPT_CAINFO, std::getenv("BENCH_CA"));
#endif
        bool fine = true;
        for (long i = 0; i < count && fine; ++i) {
            body.clear();
            fine = curl_easy_perform(h) == CURLE_OK;
            got += body.size();
        }
        curl_easy_cleanup(h);
        return fine;
    }, bytes, took);
    if (share != nullptr) curl_share_cleanup(share);
    curl_global_cleanup();
    if (!ok) return 1;
    report(a.n, took, bytes);
    return 0;
}
