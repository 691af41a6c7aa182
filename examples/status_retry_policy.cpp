// Cookbook: a RetryPolicy that also retries 429 and 503 responses for idempotent requests,
// waiting what Retry-After says (capped), on top of idem's transport rules.
//   ./status_retry_policy http://127.0.0.1:8080/busy
#include <idem/idem.hpp>

#include <chrono>
#include <cstdio>

namespace {

class status_retry {
public:
    unsigned max_attempts() const noexcept { return 4; }

    // Transport failures: idem's rules (RFC 9110 §9.2.2).
    bool should_retry(const idem::failed_attempt& f) const noexcept { return idem::retry::retry_is_safe(f); }
    std::chrono::nanoseconds backoff(const idem::failed_attempt& f) const noexcept {
        return idem::retry::is_stale_connection(f) ? std::chrono::nanoseconds(0)
                                                   : std::chrono::milliseconds(100) * f.attempt;
    }

    // Complete responses: 429 Too Many Requests and 503 Service Unavailable say "later".
    // Only idempotent requests: a 503 from a proxy may come after the origin acted.
    bool retry_response(const idem::response& r, bool idempotent, unsigned attempt,
                        std::chrono::nanoseconds& wait) const {
        if (!idempotent || (r.status != 429 && r.status != 503)) return false;
        const auto asked = idem::retry_after(r); // negative when absent or invalid
        const std::chrono::nanoseconds fallback = std::chrono::milliseconds(200) * attempt;
        wait = asked.count() < 0 ? fallback : asked;
        return wait <= std::chrono::seconds(10); // a longer wait is the caller's decision
    }
};

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) return 2;
    idem::basic_client<idem::keep_alive::timeout_bounded, status_retry> c{url->origin()};
    auto r = c.get(url->target);
    if (!r) {
        std::fprintf(stderr, "error: %s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("%d after %lu retries\n", r->status, c.stats().retries);
    return 0;
}
