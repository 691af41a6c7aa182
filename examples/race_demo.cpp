// race_demo: the keep-alive race, shown. Starts a loopback server with a short idle timeout and
// sends GETs and POSTs around that timeout with a naive client, with keep-alive disabled, and
// with idem's defaults; then repeats with a server that resets connections after executing.
//
//   c++ -std=c++17 -O2 -Iinclude examples/race_demo.cpp -o race_demo && ./race_demo
//
// `race_demo --serve IDLE_MS [RESET_EVERY]` only runs the server: it prints its URL, serves
// until interrupted (Ctrl-C, SIGINT or SIGTERM: `kill %1`), then prints how often requests were
// executed (used by the fetch tests); with RESET_EVERY, it resets each connection after
// executing its Nth request. Its standard input is not read, so it serves in the background.
#include <idem/idem.hpp>

#include <csignal>
#include <pthread.h>
#include <signal.h>

#include "../tests/support/test_server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using idem_test::action;
using idem_test::test_server;

// What most clients do: reuse any kept connection, never look before reusing.
struct naive_keep_alive {
    static constexpr bool persistent = true;
    static constexpr bool probe_before_reuse = false;
    bool may_reuse(const idem::idle_connection&, bool) const noexcept { return true; }
    void on_idle_close(std::chrono::nanoseconds) noexcept {}
};

// The naive fix: retry every failure, whatever the method, whatever was sent. idem's client
// refuses to re-send a POST that may have executed whatever a policy says; this one declares
// the opt-out so that the table shows what the naive fix costs.
struct retry_everything {
    static constexpr bool unsafe_resend_non_idempotent = true;
    unsigned max_attempts() const noexcept { return 3; }
    bool should_retry(const idem::failed_attempt&) const noexcept { return true; }
    std::chrono::nanoseconds backoff(const idem::failed_attempt&) const noexcept { return {}; }
};

struct row_result {
    unsigned requests = 0, failed = 0, posts_twice = 0, connections = 0;
    double median_ms = 0;
};

struct scenario {
    std::chrono::milliseconds idle_timeout;
    int requests;
    int interval_lo_ms, interval_hi_ms;
    int reset_every; // 0: never; else the server resets after executing every Nth request
};

template <class KeepAlive, class Retry> row_result run_row(const scenario& sc, unsigned seed) {
    idem_test::server_config cfg;
    cfg.idle_timeout = sc.idle_timeout;
    test_server server(cfg);
    idem::client_options o;
    o.read_timeout = 2s;
    o.deadline = 5s;
    idem::basic_client<KeepAlive, Retry> c{server.url(), o};
    std::mt19937 rng(seed); // every row sees the same schedule
    std::vector<double> ms;
    row_result r;
    for (int i = 0; i < sc.requests; ++i) {
        if (i > 0) {
            std::uniform_int_distribution<int> d(sc.interval_lo_ms, sc.interval_hi_ms);
            std::this_thread::sleep_for(std::chrono::milliseconds(d(rng)));
        }
        if (sc.reset_every > 0 && i % sc.reset_every == sc.reset_every - 1)
            server.push(action::rst_after_execute);
        const bool post = i % 2 == 1;
        const std::string id = (post ? "post-" : "get-") + std::to_string(i);
        const auto t0 = std::chrono::steady_clock::now();
        auto res = post ? c.post("/order", "{\"item\":1}", {{"X-Request-Id", id}})
                        : c.get("/status", {{"X-Request-Id", id}});
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        ++r.requests;
        if (!res) ++r.failed;
    }
    std::sort(ms.begin(), ms.end());
    r.median_ms = ms.empty() ? 0 : ms[ms.size() / 2];
    r.posts_twice = server.ids_executed_at_least("post-", 2);
    r.connections = server.connections();
    return r;
}

void print_row(const char* name, const row_result& r) {
    std::printf("| %-44s | %8u | %6u | %19u | %11u | %9.2f |\n", name, r.requests, r.failed,
                r.posts_twice, r.connections, r.median_ms);
}

void print_header(const char* title) {
    std::printf("\n%s\n\n", title);
    std::printf("| %-44s | %8s | %6s | %19s | %11s | %9s |\n", "client", "requests", "failed",
                "POSTs executed twice", "connections", "median ms");
    std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(10, '-').c_str(),
                std::string(8, '-').c_str(), std::string(21, '-').c_str(),
                std::string(13, '-').c_str(), std::string(11, '-').c_str());
}

int serve(long idle_ms, long reset_every) {
    // The signals that stop it are waited for, not handled: block them in every thread (the
    // server's inherit the mask) and take them with sigwait. A shell starts background jobs
    // with SIGINT ignored, and an ignored signal is never delivered: restore the default first.
    std::signal(SIGINT, SIG_DFL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    idem_test::server_config cfg;
    cfg.idle_timeout = std::chrono::milliseconds(idle_ms);
    cfg.rst_after_every = unsigned(reset_every);
    test_server server(cfg);
    std::printf("%s\n", server.url().c_str());
    std::fflush(stdout);
    int got = 0;
    sigwait(&stop, &got);
    std::printf("executed GET=%u POST=%u max_per_id=%u idle_closes=%u connections=%u\n",
                server.executed("GET"), server.executed("POST"), server.max_executions_per_id(),
                server.idle_closes(), server.connections());
    std::fflush(stdout);
    server.stop();
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    int requests = 20;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--serve") == 0 && i + 1 < argc)
            return serve(std::atol(argv[i + 1]), i + 2 < argc ? std::atol(argv[i + 2]) : 0);
        if (std::strcmp(argv[i], "--requests") == 0 && i + 1 < argc) requests = std::max(2, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: race_demo [--requests N] | --serve IDLE_MS [RESET_EVERY]\n");
            return 2;
        }
    }
    using idem::keep_alive::disabled;
    using idem::keep_alive::timeout_bounded;
    using idem::retry::idempotent;
    using idem::retry::never;

    const scenario idle{300ms, requests, 200, 400, 0};
    print_header("1. A server that closes connections idle for 300 ms; requests every 200-400 ms,\n"
                 "   alternating GET and POST.");
    print_row("naive keep-alive (reuse blindly, no retry)", run_row<naive_keep_alive, never>(idle, 7));
    print_row("keep-alive disabled", run_row<disabled, idempotent>(idle, 7));
    print_row("idem defaults", run_row<timeout_bounded, idempotent>(idle, 7));

    const scenario resets{5000ms, requests * 2, 2, 5, 5};
    print_header("2. A server that resets the connection after executing every 5th request (a\n"
                 "   crashing worker, a proxy); requests every 2-5 ms.");
    print_row("naive keep-alive + retry everything", run_row<naive_keep_alive, retry_everything>(resets, 11));
    print_row("idem defaults", run_row<timeout_bounded, idempotent>(resets, 11));

    std::printf("\nReading the tables. \"failed\" counts requests whose caller got an error, and for\n"
                "idem it is the honest number: a POST that may have reached the server is never\n"
                "sent again, so one the server executed and then reset is reported as failed, with\n"
                "may_have_executed() true, and the caller decides. A client that retries everything\n"
                "hides such failures by sending the POST again; \"POSTs executed twice\" counts\n"
                "what that cost. GETs are retried on a fresh connection. In table 1, idem's first\n"
                "race teaches it the server's idle timeout, so later requests avoid it.\n"
                "\"connections\" is what each client paid: every new connection costs a handshake\n"
                "(a round trip; with TLS, several) and server resources, so keep-alive disabled is\n"
                "safe but expensive.\n"
                "See README.md.\n");
    return 0;
}
