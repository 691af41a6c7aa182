// Cookbook: a KeepAlivePolicy of your own. This one reuses a connection for at most 20
// requests and 2 s of idleness, never for a non-idempotent request, and logs what the client
// tells it. Any type with these members works (optional ones in the README).
//   ./custom_keep_alive_policy http://127.0.0.1:8080/
#include <idem/idem.hpp>

#include <chrono>
#include <cstdio>

namespace {

struct cautious_keep_alive {
    static constexpr bool persistent = true; // send "Connection: keep-alive"

    bool may_reuse(const idem::idle_connection& c, bool idempotent) const noexcept {
        if (!idempotent) return false;         // POSTs always get a fresh connection
        if (c.exchanges >= 20) return false;   // spread load across backends
        if (c.server_timeout_s >= 0 && c.idle_for >= std::chrono::seconds(c.server_timeout_s) - std::chrono::milliseconds(500))
            return false;                      // the server said when it gives up
        return c.idle_for < std::chrono::seconds(2);
    }

    void on_idle_close(std::chrono::nanoseconds idle_for) noexcept {
        std::fprintf(stderr, "server closed a connection idle for %.0f ms\n", double(idle_for.count()) / 1e6);
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
    idem::basic_client<cautious_keep_alive, idem::retry::idempotent> c{url->origin()};
    for (int i = 0; i < 3; ++i) {
        auto r = c.get(url->target);
        if (!r) {
            std::fprintf(stderr, "error: %s\n", r.error().message().c_str());
            return 1;
        }
    }
    std::printf("3 requests, %lu connections opened\n", c.stats().connections_opened);
    return 0;
}
