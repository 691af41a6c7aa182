// Cookbook: a POST that is safe to retry. Without a key, idem never re-sends a POST that may
// have reached the server; with an Idempotency-Key (the server deduplicates on it) it retries
// the stale-connection race like any idempotent request.
//   ./post_idempotency_key http://127.0.0.1:8080/orders
#include <idem/idem.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) return 2;
    idem::client c{url->origin()};
    // One key per logical operation, reused by every retry of it (here: time-based, for show).
    const std::string key =
        "order-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    auto r = c.post(url->target, R"({"item": 42, "quantity": 1})",
                    {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
    if (!r) {
        const idem::error& e = r.error();
        std::fprintf(stderr, "POST failed after %u attempt(s): %s%s\n", e.attempts(),
                     e.message().c_str(),
                     e.may_have_executed() ? " (it may have been executed: retry with the same key)" : "");
        return 1;
    }
    std::printf("%d %s\n", r->status, r->body.c_str());
    return 0;
}
