// fetch: a small curl-like client built on idem. Its flags, output, `error:` lines and exit
// status are a stable interface (see README.md, "The fetch tool").
//
//   c++ -std=c++17 -O2 -Iinclude examples/fetch.cpp -o fetch
#include <idem/idem.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

const char usage[] =
    "usage: fetch [options] URL [URL...]\n"
    "  -X, --request METHOD        request method (default GET, or POST with -d)\n"
    "  -d, --data DATA             request body; @FILE reads it from FILE\n"
    "  -H, --header 'Name: value'  add a header (repeatable)\n"
    "  -i, --include               print the status line and headers, an empty line, then the body\n"
    "  -o, --output FILE           write bodies to FILE instead of stdout\n"
    "      --keep-alive off|MS     one connection per request, or reuse below an idle bound of MS\n"
    "      --retries N             retry budget (0 disables retries; default 2)\n"
    "      --connect-timeout MS    per address tried (default 10000)\n"
    "      --timeout MS            overall deadline of each request, retries included (default 120000)\n"
    "      --repeat N              send each request N times\n"
    "      --interval MS|LO-HI     sleep MS between requests, or a random time in [LO, HI];\n"
    "                              a comma-separated list is used in turn (e.g. 150,300,450)\n"
    "      --request-ids           add a unique X-Request-Id to each request\n"
    "  -v, --verbose               log connection reuse, probes, retries and closes to stderr,\n"
    "                              and a summary line per request\n"
    "  -s, --silent                no progress bar and no -v log (error: lines stay)\n"
    "  -f, --fail                  a status outside 200-299 is a failure: no body, an error: line\n"
    "  -h, --help                  this text\n"
    "A progress bar goes to stderr for -o FILE downloads when stderr is a terminal.\n"
    "Exit status: 0 when every request got a response (any status, unless -f), 1 when one\n"
    "failed, 2 on bad usage.\n";

struct settings {
    std::string method;
    std::string data;
    bool has_data = false;
    std::vector<std::string> header_lines;
    bool include = false;
    std::string output;
    long keep_alive_ms = -1; // -1: default policy bound; 0 with keep_alive_off
    bool keep_alive_off = false;
    unsigned retries = 2;
    long connect_timeout_ms = 10000;
    long timeout_ms = 120000;
    long repeat = 1;
    std::vector<std::pair<long, long>> intervals; // [lo, hi] per gap, used in turn
    bool request_ids = false;
    bool verbose = false;
    bool silent = false;
    bool fail_on_status = false;
    std::vector<std::string> urls;
};

[[noreturn]] void bad_usage(const char* what, const char* arg) {
    std::fprintf(stderr, "fetch: %s%s%s\n%s", what, arg ? ": " : "", arg ? arg : "", usage);
    std::exit(2);
}

long number(const char* flag, const char* s, long min, long max = 0x7fffffffL) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) bad_usage("bad number for", flag);
    return v;
}

constexpr long day_ms = 86400000L; // the longest --interval, --timeout or --keep-alive

bool read_file(const char* path, std::string& out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

settings parse_args(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) bad_usage("missing value for", argv[i]);
            return argv[++i];
        };
        if (a == "-X" || a == "--request") s.method = value();
        else if (a == "-d" || a == "--data") {
            const char* v = value();
            s.has_data = true;
            if (v[0] == '@') {
                if (!read_file(v + 1, s.data)) bad_usage("cannot read", v + 1);
            } else {
                s.data = v;
            }
        } else if (a == "-H" || a == "--header") s.header_lines.push_back(value());
        else if (a == "-i" || a == "--include") s.include = true;
        else if (a == "-o" || a == "--output") s.output = value();
        else if (a == "--keep-alive") {
            const std::string v = value();
            if (v == "off") s.keep_alive_off = true;
            else s.keep_alive_ms = number("--keep-alive", v.c_str(), 0);
        } else if (a == "--retries") {
            // Any budget is bounded by the deadline; the largest one must not wrap to none.
            s.retries = unsigned(number("--retries", value(), 0, 0x7fffffffL));
        }
        else if (a == "--connect-timeout") s.connect_timeout_ms = number("--connect-timeout", value(), 1);
        else if (a == "--timeout") s.timeout_ms = number("--timeout", value(), 1);
        else if (a == "--repeat") s.repeat = number("--repeat", value(), 1);
        else if (a == "--interval") {
            const std::string list = value();
            s.intervals.clear();
            for (std::size_t from = 0; from <= list.size();) {
                auto comma = list.find(',', from);
                if (comma == std::string::npos) comma = list.size();
                const std::string v = list.substr(from, comma - from);
                const auto dash = v.find('-');
                long lo, hi;
                if (dash == std::string::npos) {
                    lo = hi = number("--interval", v.c_str(), 0, day_ms);
                } else {
                    lo = number("--interval", v.substr(0, dash).c_str(), 0, day_ms);
                    hi = number("--interval", v.substr(dash + 1).c_str(), 0, day_ms);
                    if (hi < lo) bad_usage("bad range for", "--interval");
                }
                s.intervals.emplace_back(lo, hi);
                from = comma + 1;
            }
        } else if (a == "--request-ids") s.request_ids = true;
        else if (a == "-v" || a == "--verbose") s.verbose = true;
        else if (a == "-s" || a == "--silent") s.silent = true;
        else if (a == "-f" || a == "--fail") s.fail_on_status = true;
        else if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else if (a.size() > 1 && a[0] == '-') bad_usage("unknown option", argv[i]);
        else s.urls.push_back(a);
    }
    if (s.urls.empty()) bad_usage("no URL given", nullptr);
    if (s.method.empty()) s.method = s.has_data ? "POST" : "GET";
    if (s.silent) s.verbose = false;
    return s;
}

const char* kind_name(idem::event_kind k) {
    switch (k) {
    case idem::event_kind::connected: return "connected";
    case idem::event_kind::reused: return "reusing idle connection";
    case idem::event_kind::idle_expired: return "idle connection past the keep-alive bound, closed";
    case idem::event_kind::probe_closed: return "probe: server closed the idle connection";
    case idem::event_kind::stale_failure: return "reused connection failed before a response";
    case idem::event_kind::retry: return "retrying";
    case idem::event_kind::closed: return "connection closed";
    case idem::event_kind::learned: return "keep-alive bound now";
    }
    return "?";
}

// The one error line per failed request:
// `error: NAME: MESSAGE (METHOD URL[ ID], N attempts)[; the request may have been executed]`.
void print_error(const idem::error& e, const std::string& method, const std::string& url,
                 const std::string& id) {
    const std::string_view name = idem::to_string(e.code());
    std::string message = e.message();
    if (e.code() == idem::errc::invalid_url && url.find("://") == std::string::npos)
        message += "; did you mean http://" + url + "?";
    std::fprintf(stderr, "error: %.*s: %s (%s %s%s%s, %u attempt%s)%s\n", int(name.size()),
                 name.data(), message.c_str(),
                 method.c_str(), url.c_str(), id.empty() ? "" : " ", id.c_str(), e.attempts(),
                 e.attempts() == 1 ? "" : "s",
                 e.may_have_executed() ? "; the request may have been executed" : "");
}

// What the event handler saw: whether the latest attempt ran on a new connection.
struct event_state {
    bool verbose = false;
    bool new_connection = false;
    const idem::keep_alive::timeout_bounded* policy = nullptr; // the current client's, if it learns
};

double to_ms(std::chrono::nanoseconds d) { return double(d.count()) / 1e6; }

void log_event(const idem::event& e, void* ctx) {
    auto& st = *static_cast<event_state*>(ctx);
    if (e.kind == idem::event_kind::connected) st.new_connection = true;
    if (e.kind == idem::event_kind::reused) st.new_connection = false;
    if (!st.verbose) return;
    std::fprintf(stderr, "* %s", kind_name(e.kind));
    if (e.kind == idem::event_kind::learned) {
        std::fprintf(stderr, " %.1f ms", to_ms(e.idle_for));
        if (st.policy != nullptr) {
            const idem::learned_bound l = st.policy->learned();
            std::fprintf(stderr, " (longest reuse that worked: ");
            l.worked.count() > 0 ? std::fprintf(stderr, "%.1f ms", to_ms(l.worked)) : std::fprintf(stderr, "none");
            std::fprintf(stderr, ", shortest idle close: ");
            l.closed.count() > 0 ? std::fprintf(stderr, "%.1f ms", to_ms(l.closed)) : std::fprintf(stderr, "none");
            std::fprintf(stderr, "): %s", idem::describe(l.why));
        }
        std::fprintf(stderr, "\n");
        return;
    }
    if (e.idle_for.count() > 0)
        std::fprintf(stderr, " (idle %.1f ms)", to_ms(e.idle_for));
    if (e.err != idem::errc{})
        std::fprintf(stderr, " after %.*s", int(idem::to_string(e.err).size()), idem::to_string(e.err).data());
    std::fprintf(stderr, "\n");
}

// A one-line progress bar on stderr for downloads to a file, redrawn at most 10 times a second.
class progress {
public:
    progress(bool on, const idem::response& r) : on_(on), r_(r) {}
    void advance(std::size_t n) {
        if (!on_) return;
        done_ += n;
        const auto now = std::chrono::steady_clock::now();
        if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        draw();
    }
    void finish() {
        if (!on_ || !drawn_) return;
        draw();
        std::fputc('\n', stderr);
    }

private:
    void draw() {
        drawn_ = true;
        const double mib = double(done_) / (1024.0 * 1024.0);
        char* end = nullptr;
        const auto cl = r_.header("Content-Length");
        const unsigned long long total = cl.empty() ? 0 : std::strtoull(std::string(cl).c_str(), &end, 10);
        if (total == 0) {
            std::fprintf(stderr, "\r%10.1f MiB", mib);
            return;
        }
        const int pct = int(100.0 * double(done_) / double(total));
        const int width = 30, fill = pct * width / 100;
        std::fprintf(stderr, "\r[%.*s%.*s] %3d%% %8.1f MiB", fill, "##############################",
                     width - fill, "                              ", pct, mib);
    }

    bool on_;
    const idem::response& r_;
    unsigned long long done_ = 0;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point last_{};
};

template <class KeepAlive> int run(const settings& s, KeepAlive ka) {
    using client_t = idem::basic_client<KeepAlive, idem::retry::idempotent>;
    idem::client_options o;
    o.connect_timeout = std::chrono::milliseconds(s.connect_timeout_ms);
    o.deadline = std::chrono::milliseconds(s.timeout_ms);
    if (o.read_timeout > o.deadline) o.read_timeout = o.deadline;
    if (o.write_timeout > o.deadline) o.write_timeout = o.deadline;

    std::FILE* out = stdout;
    const bool show_progress = !s.output.empty() && !s.silent && ::isatty(2);
    if (!s.output.empty()) {
        out = std::fopen(s.output.c_str(), "wb");
        if (!out) bad_usage("cannot write", s.output.c_str());
    }
    std::vector<idem::header> headers;
    for (const auto& line : s.header_lines) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) bad_usage("header without a colon", line.c_str());
        std::string_view name(line.data(), colon), value(line.data() + colon + 1, line.size() - colon - 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        headers.push_back({name, value});
    }
    const std::size_t id_slot = headers.size();
    std::string id;
    if (s.request_ids) headers.push_back({"X-Request-Id", {}});

    std::map<std::string, std::unique_ptr<client_t>> clients; // one client per origin
    std::minstd_rand rng(static_cast<unsigned>(::getpid()));
    idem::response r;
    event_state events;
    events.verbose = s.verbose;
    int failed = 0;
    long sent = 0;
    for (const auto& u : s.urls) {
        auto parsed = idem::parse_url(u);
        for (long k = 0; k < s.repeat; ++k) {
            if (sent++ > 0 && !s.intervals.empty()) {
                const auto& gap = s.intervals[std::size_t(sent - 2) % s.intervals.size()];
                // Both ends are at most a day, so the span fits the generator's range.
                const long ms = gap.first + long(rng() % static_cast<unsigned long>(gap.second - gap.first + 1));
                std::this_thread::sleep_for(std::chrono::milliseconds(ms));
            }
            if (s.request_ids) {
                id = "fetch-" + std::to_string(::getpid()) + "-" + std::to_string(sent);
                headers[id_slot].value = id;
            }
            if (!parsed) {
                ++failed;
                print_error(parsed.error(), s.method, u, id);
                continue;
            }
            const std::string origin = parsed->authority;
            auto& c = clients[origin];
            if (!c) {
                c.reset(new client_t(parsed->origin(), o, ka, idem::retry::idempotent{s.retries + 1}));
                c->set_event_handler(&log_event, &events);
            }
            if (s.verbose)
                std::fprintf(stderr, "> %s %s%s\n", s.method.c_str(), u.c_str(),
                             s.request_ids ? (" [" + id + "]").c_str() : "");
            if constexpr (std::is_same<KeepAlive, idem::keep_alive::timeout_bounded>::value)
                events.policy = &c->keep_alive_policy();
            const idem::request req{s.method, parsed->target, headers, s.data};
            const idem::client_stats before = c->stats();
            events.new_connection = false;
            const auto t0 = std::chrono::steady_clock::now();
            progress bar(show_progress, r);
            bool head_written = false;
            auto write_head = [&] {
                if (head_written || !s.include) return;
                head_written = true;
                std::fprintf(out, "HTTP/1.%d %d %.*s\r\n", r.version_minor, r.status,
                             int(r.reason().size()), r.reason().data());
                for (std::size_t i = 0; i < r.header_count(); ++i) {
                    const auto h = r.header_at(i);
                    std::fprintf(out, "%.*s: %.*s\r\n", int(h.name.size()), h.name.data(),
                                 int(h.value.size()), h.value.data());
                }
                std::fputs("\r\n", out);
            };
            // To a file, bodies stream through a sink: memory stays bounded whatever their size.
            // To stdout they are buffered, so a failed request prints no partial body.
            auto res = s.output.empty()
                           ? c->send(req, r)
                           : c->send(req, r, [&](const char* p, std::size_t n) {
                                 // -f: an error status's body is not output (as curl).
                                 if (s.fail_on_status && (r.status < 200 || r.status > 299)) return true;
                                 write_head();
                                 bar.advance(n);
                                 return std::fwrite(p, 1, n, out) == n;
                             });
            bar.finish();
            if (!res) {
                ++failed;
                print_error(res.error(), s.method, u, id);
                continue;
            }
            if (s.verbose) {
                const auto& after = c->stats();
                std::fprintf(stderr, "< %d %.*s\n* done: %d in %.2f ms, %lu attempt%s, %s connection\n",
                             r.status, int(r.reason().size()), r.reason().data(), r.status,
                             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
                             after.retries - before.retries + 1, after.retries == before.retries ? "" : "s",
                             events.new_connection ? "new" : "reused");
            }
            if (s.fail_on_status && (r.status < 200 || r.status > 299)) {
                ++failed;
                std::fprintf(stderr, "error: http_status: the server answered %d %.*s (%s %s%s%s)\n",
                             r.status, int(r.reason().size()), r.reason().data(), s.method.c_str(),
                             u.c_str(), id.empty() ? "" : " ", id.c_str());
                continue;
            }
            write_head();
            std::fwrite(r.body.data(), 1, r.body.size(), out);
        }
    }
    if (s.verbose) {
        for (const auto& kv : clients) {
            const auto& st = kv.second->stats();
            std::fprintf(stderr, "* %s: %lu connections opened, %lu reused, %lu retries, %lu closed idle connections found by the probe, %lu stale failures\n",
                         kv.first.c_str(), st.connections_opened, st.reuses, st.retries,
                         st.stale_probes, st.stale_failures);
        }
    }
    if (std::fflush(out) != 0 || (out != stdout && std::fclose(out) != 0)) {
        std::fprintf(stderr, "fetch: writing the output failed\n");
        return 1;
    }
    return failed == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const settings s = parse_args(argc, argv);
    if (s.keep_alive_off) return run(s, idem::keep_alive::disabled{});
    if (s.keep_alive_ms >= 0)
        return run(s, idem::keep_alive::timeout_bounded{std::chrono::milliseconds(s.keep_alive_ms)});
    return run(s, idem::keep_alive::timeout_bounded{});
}
