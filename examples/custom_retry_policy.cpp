// A user-written RetryPolicy: idem's safety rules, plus a budget measured in time rather than
// attempts, and a log line for every decision. Any type with these three members works:
//
//   unsigned max_attempts() const;
//   bool should_retry(const idem::failed_attempt&) const;
//   std::chrono::nanoseconds backoff(const idem::failed_attempt&) const;
//
// A type missing one of them fails to compile with a message naming the missing member.
//
//   c++ -std=c++17 -Iinclude examples/custom_retry_policy.cpp -o custom_retry_policy
//   ./custom_retry_policy http://127.0.0.1:8080/
#include <idem/idem.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

class logged_retry {
public:
    unsigned max_attempts() const noexcept { return 5; }

    bool should_retry(const idem::failed_attempt& f) const noexcept {
        // Keep idem's rules: they are what makes a retry safe (RFC 9110 §9.2.2).
        const bool yes = idem::retry::retry_is_safe(f);
        std::fprintf(stderr, "attempt %u failed: %s%s -> %s\n", f.attempt,
                     std::string(idem::to_string(f.err.code())).c_str(),
                     f.err.may_have_executed() ? " (may have executed)" : "",
                     yes ? "retry" : "give up");
        return yes;
    }

    std::chrono::nanoseconds backoff(const idem::failed_attempt& f) const noexcept {
        // A stale keep-alive connection needs no wait; anything else waits 100 ms per attempt.
        if (idem::retry::is_stale_connection(f)) return {};
        return std::chrono::milliseconds(100) * f.attempt;
    }
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s http://host:port/path\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) {
        std::fprintf(stderr, "error: %s\n", url.error().message().c_str());
        return 2;
    }
    idem::basic_client<idem::keep_alive::timeout_bounded, logged_retry> c{url->origin()};
    auto r = c.get(url->target);
    if (!r) {
        std::fprintf(stderr, "error: %s: %s\n", std::string(idem::to_string(r.error().code())).c_str(),
                     r.error().message().c_str());
        return 1;
    }
    std::printf("%d %s\n", r->status, r->body.c_str());
    return 0;
}
