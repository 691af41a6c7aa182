// libcurl's easy interface: one handle reused (it keeps the connection), body into a string.
#include "common.hpp"

#include <curl/curl.h>

namespace {
std::size_t append(char* p, std::size_t size, std::size_t n, void* ctx) {
    static_cast<std::string*>(ctx)->append(p, size * n);
    return size * n;
}
} // namespace

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL* h = curl_easy_init();
    const std::string url = "http://127.0.0.1:" + std::to_string(a.port) + a.path;
    std::string body;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    unsigned long long bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < a.n; ++i) {
        body.clear();
        if (curl_easy_perform(h) != CURLE_OK) return 1;
        bytes += body.size();
    }
    report(a.n, std::chrono::steady_clock::now() - t0, bytes);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
