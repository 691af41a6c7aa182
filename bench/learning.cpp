// The economy benchmark's loopback server and idem clients; bench/learning.py runs them.
//
//   learning serve idle=MS [change_after=N change_to=MS] [ACTION=ID ...]
//       serves on loopback, prints its URL, serves until standard input closes, then prints
//       "posts_twice=N executed=E". ACTION is what the server does with the first request
//       carrying "X-Request-Id: ID": rst (reset before executing, the idle race), kill (execute,
//       then reset), crash (execute, reset 1 s later), reload (answer, then close unannounced).
//       change_after: once N requests have run, the idle timeout becomes change_to.
//   learning client KIND URL SCHEDULE
//       KIND: idem (the defaults), fixed (learning off), disabled (no keep-alive). SCHEDULE has
//       one request a line, "METHOD GAP_MS ID" (sleep GAP_MS, then send), and "mark" lines.
//       Prints "requests= get_failures= post_failures= connections= get_connections=
//       reuse_after_mark=": get_connections are those GETs opened; the last is how many
//       requests after the last mark the first reuse came (-1: none).
#include <idem/idem.hpp>

#include "../tests/support/test_server.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using idem_test::action;
using idem_test::step;
using idem_test::test_server;

int serve(int argc, char** argv) {
    idem_test::server_config cfg;
    long change_after = -1, change_to = 0;
    std::vector<std::pair<std::string, step>> script;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        const auto eq = a.find('=');
        if (eq == std::string::npos) return 2;
        const std::string k = a.substr(0, eq), v = a.substr(eq + 1);
        if (k == "idle") cfg.idle_timeout = std::chrono::milliseconds(std::atol(v.c_str()));
        else if (k == "change_after") change_after = std::atol(v.c_str());
        else if (k == "change_to") change_to = std::atol(v.c_str());
        else if (k == "rst") script.push_back({v, step{action::rst_before_execute, "", 0ms, false}});
        else if (k == "kill") script.push_back({v, step{action::rst_after_execute, "", 0ms, false}});
        else if (k == "crash") script.push_back({v, step{action::rst_after_execute, "", 1000ms, false}});
        else if (k == "reload") script.push_back({v, step{action::respond, "", 0ms, true}});
        else {
            std::fprintf(stderr, "learning serve: unknown %s\n", a.c_str());
            return 2;
        }
    }
    test_server server(cfg);
    for (auto& s : script) server.push_for(s.first, s.second);
    std::printf("%s\n", server.url().c_str());
    std::fflush(stdout);
    std::thread changer;
    std::atomic<bool> done{false};
    if (change_after >= 0) {
        // A benchmark's watcher: polls the count, so the change lands within a few ms of it.
        changer = std::thread([&] {
            while (!done.load()) {
                if (long(server.executed("GET") + server.executed("POST")) >= change_after) {
                    server.set_idle_timeout(std::chrono::milliseconds(change_to));
                    return;
                }
                std::this_thread::sleep_for(2ms);
            }
        });
    }
    char buf[256];
    while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
    }
    done = true;
    if (changer.joinable()) changer.join();
    std::printf("posts_twice=%u executed=%u\n", server.ids_executed_at_least("fetch-post-", 2),
                server.executed("GET") + server.executed("POST"));
    server.stop();
    return 0;
}

struct planned {
    std::string method, id;
    long gap_ms = 0;
    bool mark = false;
};

std::vector<planned> read_schedule(const char* path) {
    std::vector<planned> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        planned p;
        if (line == "mark") {
            p.mark = true;
        } else {
            std::istringstream ls(line);
            ls >> p.method >> p.gap_ms >> p.id;
        }
        out.push_back(p);
    }
    return out;
}

template <class KeepAlive> int run(const std::string& url, const std::vector<planned>& plan, KeepAlive ka) {
    idem::client_options o;
    o.read_timeout = 5s;
    o.deadline = 10s;
    idem::basic_client<KeepAlive> c{url, o, ka};
    unsigned requests = 0, get_failures = 0, post_failures = 0, get_connections = 0;
    long since_mark = -1, reuse_after_mark = -1;
    for (const auto& p : plan) {
        if (p.mark) {
            since_mark = 0;
            reuse_after_mark = -1;
            continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(p.gap_ms)); // the schedule's age
        const auto reuses = c.stats().reuses;
        const auto opened = c.stats().connections_opened;
        auto r = p.method == "POST" ? c.post("/", "{\"n\":1}", {{"X-Request-Id", p.id}})
                                    : c.get("/", {{"X-Request-Id", p.id}});
        ++requests;
        if (p.method == "GET") get_connections += unsigned(c.stats().connections_opened - opened);
        if (!r) {
            ++(p.method == "POST" ? post_failures : get_failures);
            std::fprintf(stderr, "%s %s: %s\n", p.method.c_str(), p.id.c_str(), r.error().message().c_str());
        }
        if (since_mark >= 0) {
            ++since_mark;
            if (reuse_after_mark < 0 && c.stats().reuses > reuses) reuse_after_mark = since_mark;
        }
    }
    std::printf("requests=%u get_failures=%u post_failures=%u connections=%llu get_connections=%u "
                "reuse_after_mark=%ld\n",
                requests, get_failures, post_failures,
                static_cast<unsigned long long>(c.stats().connections_opened), get_connections,
                reuse_after_mark);
    return 0;
}

int client(int argc, char** argv) {
    if (argc != 5) return 2;
    const std::string kind = argv[2], url = argv[3];
    const auto plan = read_schedule(argv[4]);
    if (kind == "idem") return run(url, plan, idem::keep_alive::timeout_bounded{});
    if (kind == "fixed") return run(url, plan, idem::keep_alive::timeout_bounded{}.learning(false));
    if (kind == "disabled") return run(url, plan, idem::keep_alive::disabled{});
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "serve") == 0) return serve(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], "client") == 0) return client(argc, argv);
    std::fprintf(stderr, "usage: learning serve idle=MS [...] | learning client KIND URL SCHEDULE\n");
    return 2;
}
