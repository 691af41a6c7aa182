// fetch: a small curl-like client built on idem. Its flags, output, `error:` lines and exit
// status are a stable interface (see README.md, "The fetch tool").
//
//   c++ -std=c++17 -O2 -Iinclude examples/fetch.cpp -o fetch
// With https (OpenSSL 3):
//   c++ -std=c++17 -O2 -Iinclude -DIDEM_FETCH_TLS examples/fetch.cpp -o fetch -lssl -lcrypto
#include <idem/idem.hpp>
#if defined(IDEM_FETCH_TLS)
#include <idem/tls/openssl.hpp>
constexpr bool fetch_tunnels = idem::detail::tunnel_capable<idem::tls::transport>::value;
#else
constexpr bool fetch_tunnels = false;
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace {

const char usage[] =
    "usage: fetch [options] URL [URL...]\n"
    "  -X, --request METHOD        request method (default GET, or POST with -d)\n"
    "  -d, --data DATA             request body, as a form (several are joined with &);\n"
    "                              @FILE reads it from FILE (@- from stdin) without CR and LF\n"
    "      --data-binary DATA      the same, bytes as they are; @FILE alone is streamed\n"
    "      --data-urlencode DATA   the same, percent-encoded as curl: CONTENT, =CONTENT,\n"
    "                              NAME=CONTENT, @FILE, NAME@FILE (NAME as it is)\n"
    "  -G, --get                   the -d parts go in the URL's query, and the method is GET\n"
    "  -T, --upload-file FILE      PUT FILE, streamed (- for stdin)\n"
    "  -w, --write-out FORMAT      after each request: %{http_code} %{num_connects}\n"
    "                              %{num_redirects} %{size_download} %{time_total}\n"
    "                              %{url_effective} %{exitcode}, \\n\n"
    "  -H, --header 'Name: value'  add a header (repeatable)\n"
    "  -i, --include               print the status line and headers, an empty line, then the body\n"
    "  -o, --output FILE           write bodies to FILE instead of stdout (\"-\": stdout)\n"
    "      --keep-alive off|MS     one connection per request, or reuse below an idle bound of MS\n"
    "      --retries N             retry budget (0 disables retries; default 2)\n"
    "      --connect-timeout SECONDS   resolving and connecting, all addresses (fractions\n"
    "                              allowed, as curl; default 10, and 0 means that)\n"
    "      --resolve HOST:PORT:ADDR[,ADDR...]   connect to ADDR for HOST:PORT, as curl\n"
    "      --timeout MS            overall deadline of each request, retries included (default 120000)\n"
    "      --repeat N              send each request N times\n"
    "      --interval MS|LO-HI     sleep MS between requests, or a random time in [LO, HI];\n"
    "                              a comma-separated list is used in turn (e.g. 150,300,450)\n"
    "      --request-ids           add a unique X-Request-Id to each request\n"
    "      --parallel N            N threads share one pooled client per origin and take the\n"
    "                              requests in order; --interval is each thread's pause (default 1)\n"
    "      --max-connections N     with --parallel: connections per origin at most (default N)\n"
    "  -v, --verbose               the request and response heads (\"> \", \"< \"), new connections\n"
    "                              (over TLS: version, cipher, what was verified), reuse, probes,\n"
    "                              retries and closes, to stderr, and a summary line per request\n"
    "  -s, --silent                no progress bar and no -v log (error: lines stay)\n"
    "  -f, --fail                  a status outside 200-299 is a failure: no body, an error: line\n"
    "  -I, --head                  send HEAD and print the status line and headers\n"
    "  -A, --user-agent NAME       the User-Agent field\n"
    "  -e, --referer URL           the Referer field\n"
    "  -u, --user USER:PASSWORD    Basic credentials (Authorization)\n"
    "  -m, --max-time SECONDS      overall deadline of each request (fractions allowed;\n"
    "                              0: none, as curl)\n"
    "  -S, --show-error            accepted for curl's sake: error: lines always show\n"
    "  -L, --location              follow redirects (-i prints each response's head)\n"
    "      --max-redirs N          at most N redirects per request (default 50; -1: no limit)\n"
    "  -x, --proxy [http://][USER:PASSWORD@]HOST[:PORT]\n"
    "                              use this HTTP proxy (port 1080 by default; \"\" for none),\n"
    "                              https URLs in a CONNECT tunnel; default: http_proxy (https:\n"
    "                              https_proxy), else all_proxy or ALL_PROXY\n"
    "      --noproxy LIST          hosts reached without the proxy (default: no_proxy, NO_PROXY)\n"
    "      --unix-socket PATH      connect to this Unix domain socket; the URL names the origin\n"
    "      --abstract-unix-socket NAME   the same, for a Linux abstract socket\n"
    "      --cacert FILE           https: trust the CA certificates in FILE (PEM), not the system's\n"
    "      --capath DIR            https: trust the hashed CA certificates in DIR as well\n"
    "  -k, --insecure              https: accept any certificate for any name (tests only)\n"
    "                              (https needs fetch built with -DIDEM_FETCH_TLS; see README)\n"
    "  -h, --help                  this text\n"
    "Short flags combine (-sSfL, -XPOST); long ones take --flag=value too.\n"
    "A progress bar goes to stderr for -o FILE downloads when stderr is a terminal.\n"
    "Exit status: 0 when every request got a response (any status, unless -f), 1 when one\n"
    "failed, 2 on bad usage.\n";

struct settings {
    std::string method;
    std::string data;
    bool has_data = false;
    bool get = false; // -G: the data goes in the query
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
    long parallel = 1;
    long max_connections = 0; // 0: as many as --parallel
    bool location = false;
    long max_redirs = 50; // curl's default; -1: no limit
    bool proxy_given = false, noproxy_given = false;
    idem::tls_options tls;             // --cacert, --capath, -k
    std::string proxy, noproxy, unix_socket;
    bool head = false;
    bool form = false;                 // -d or --data-binary: a form body unless a Content-Type is given
    std::vector<std::string> data_parts; // joined with '&', as curl
    std::string stream_path;           // --data-binary @FILE alone, or -T FILE: streamed
    bool upload = false;               // -T: PUT unless -X says otherwise
    std::string write_out;             // -w
    struct pinned {                    // --resolve HOST:PORT:ADDR[,ADDR...]
        std::string host;
        long port = 0;
        idem::address_list addrs;
    };
    std::vector<pinned> resolves;
    bool user_agent_given = false;
    std::string user_agent;
    std::vector<std::string> urls;
};

// One line, as for an unknown option: what was wrong, and where the options are listed.
[[noreturn]] void bad_usage(const char* what, const char* arg) {
    std::fprintf(stderr, "fetch: %s%s%s (fetch --help lists the options)\n", what, arg ? ": " : "", arg ? arg : "");
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

bool read_stream(std::FILE* f, std::string& out) {
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    return !std::ferror(f);
}

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

// curl's --data-urlencode: CONTENT, =CONTENT, NAME=CONTENT, @FILE or NAME@FILE (the first '='
// decides before any '@'); the content is percent-encoded but for A-Z a-z 0-9 - . _ ~, the
// name is kept as it is, and a space is '+', as in a form.
std::string urlencoded_part(const std::string& v) {
    std::size_t at = v.find('=');
    if (at == std::string::npos) at = v.find('@');
    const bool from_file = at != std::string::npos && v[at] == '@';
    const std::string name = at == std::string::npos ? std::string() : v.substr(0, at);
    std::string content = at == std::string::npos ? v : v.substr(at + 1);
    if (from_file) {
        std::string bytes;
        if (!(content == "-" ? read_stream(stdin, bytes) : read_file(content.c_str(), bytes)))
            bad_usage("cannot read", content.c_str());
        content = std::move(bytes);
    }
    static const char hex[] = "0123456789ABCDEF";
    std::string out = name.empty() ? std::string() : name + "=";
    for (const char ch : content) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += ch;
        } else if (c == ' ') {
            out += '+'; // as curl: a form's space
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// Flags that take a value: the next argument is the value, never read as flags itself.
bool takes_value(const std::string& a) {
    static const char* const with_value[] = {
        "-X", "--request", "-d", "--data", "-H", "--header", "-o", "--output", "--keep-alive",
        "--retries", "--connect-timeout", "--timeout", "--repeat", "--interval", "--parallel",
        "--max-connections", "--max-redirs", "-x", "--proxy", "--noproxy", "--unix-socket",
        "--abstract-unix-socket", "-A", "--user-agent", "-e", "--referer", "-u", "--user",
        "-m", "--max-time", "--resolve", "--data-binary", "--data-urlencode", "-T", "--upload-file", "-w", "--write-out",
        "--cacert", "--capath"};
    for (const char* w : with_value)
        if (a == w) return true;
    return false;
}

// curl's spellings into one flag per argument: "-sSfL" -> -s -S -f -L, "-XPOST" -> -X POST,
// "--max-time=5" -> --max-time 5.
std::vector<std::string> split_flags(int argc, char** argv) {
    std::vector<std::string> out;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
            const auto eq = a.find('=');
            if (eq != std::string::npos && takes_value(a.substr(0, eq))) {
                out.push_back(a.substr(0, eq));
                out.push_back(a.substr(eq + 1));
                continue;
            }
            out.push_back(a);
            if (takes_value(a) && i + 1 < argc) out.push_back(argv[++i]);
            continue;
        }
        if (a.size() > 2 && a[0] == '-') {
            for (std::size_t k = 1; k < a.size(); ++k) {
                const std::string flag = std::string("-") + a[k];
                out.push_back(flag);
                if (takes_value(flag)) {
                    if (k + 1 < a.size()) out.push_back(a.substr(k + 1));
                    else if (i + 1 < argc) out.push_back(argv[++i]);
                    break;
                }
            }
            continue;
        }
        out.push_back(a);
        if (takes_value(a) && i + 1 < argc) out.push_back(argv[++i]);
    }
    return out;
}

// curl's -m and --connect-timeout: seconds, fractions allowed; 0 is returned as 0 (curl reads
// it as "no limit" for -m and "the default" for --connect-timeout).
long seconds_to_ms(const char* flag, const char* v) {
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d >= 0) || d > double(day_ms) / 1000) bad_usage("bad number of seconds for", flag);
    if (d == 0) return 0;
    const double ms = d * 1000;
    return ms < 1 ? 1 : long(ms);
}

settings parse_args(int argc, char** argv) {
    settings s;
    std::vector<std::string> args_store = split_flags(argc, argv);
    std::vector<char*> args_ptrs{argv[0]};
    for (auto& a : args_store) args_ptrs.push_back(&a[0]);
    argc = int(args_ptrs.size());
    argv = args_ptrs.data();
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) bad_usage("missing value for", argv[i]);
            return argv[++i];
        };
        if (a == "-X" || a == "--request") s.method = value();
        else if (a == "-d" || a == "--data") {
            // curl: @FILE (or @- for stdin) is read with its CR and LF removed.
            const std::string v = value();
            std::string part;
            if (v[0] == '@') {
                if (!(v == "@-" ? read_stream(stdin, part) : read_file(v.c_str() + 1, part))) bad_usage("cannot read", v.c_str() + 1);
                part.erase(std::remove_if(part.begin(), part.end(), [](char c) { return c == '\r' || c == '\n'; }), part.end());
            } else {
                part = v;
            }
            s.data_parts.push_back(std::move(part));
            s.form = s.has_data = true;
        } else if (a == "--data-binary") {
            // The bytes as they are; a file is streamed when it is the whole body.
            const std::string v = value();
            std::string part;
            if (v == "@-") {
                if (!read_stream(stdin, part)) bad_usage("cannot read", "stdin");
                s.data_parts.push_back(std::move(part));
            } else if (v[0] == '@') {
                s.data_parts.push_back({});
                s.stream_path = v.substr(1);
                s.data_parts.back() = "\x01" + s.stream_path; // resolved below, if not alone
            } else {
                s.data_parts.push_back(v);
            }
            s.form = s.has_data = true;
        } else if (a == "--data-urlencode") {
            s.data_parts.push_back(urlencoded_part(value()));
            s.form = s.has_data = true;
        } else if (a == "-G" || a == "--get") {
            s.get = true;
        } else if (a == "-T" || a == "--upload-file") {
            s.stream_path = value();
            s.upload = true;
        } else if (a == "-H" || a == "--header") s.header_lines.push_back(value());
        else if (a == "-i" || a == "--include") s.include = true;
        else if (a == "-o" || a == "--output") {
            s.output = value();
            if (s.output == "-") s.output.clear(); // curl: "-" is stdout
        }
        else if (a == "--keep-alive") {
            const std::string v = value();
            if (v == "off") s.keep_alive_off = true;
            else s.keep_alive_ms = number("--keep-alive", v.c_str(), 0);
        } else if (a == "--retries") {
            // Any budget is bounded by the deadline; the largest one must not wrap to none.
            s.retries = unsigned(number("--retries", value(), 0, 0x7fffffffL));
        }
        else if (a == "--connect-timeout") {
            const long ms = seconds_to_ms("--connect-timeout", value());
            s.connect_timeout_ms = ms > 0 ? ms : settings{}.connect_timeout_ms; // 0: the default, as curl
        }
        else if (a == "--resolve") {
            // curl's HOST:PORT:ADDR[,ADDR...]; an IPv6 address may be in brackets.
            const std::string v = value();
            const auto c1 = v.find(':');
            const auto c2 = c1 == std::string::npos ? c1 : v.find(':', c1 + 1);
            if (c2 == std::string::npos) bad_usage("--resolve wants HOST:PORT:ADDR", v.c_str());
            settings::pinned p;
            p.host = v.substr(0, c1);
            p.port = number("--resolve", v.substr(c1 + 1, c2 - c1 - 1).c_str(), 1, 65535);
            std::string rest = v.substr(c2 + 1);
            for (std::size_t from = 0; from <= rest.size();) {
                auto comma = rest.find(',', from);
                if (comma == std::string::npos) comma = rest.size();
                std::string addr = rest.substr(from, comma - from);
                if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
                if (!idem::detail::parse_numeric_host(addr.c_str(), p.addrs)) bad_usage("--resolve wants numeric addresses", v.c_str());
                from = comma + 1;
            }
            s.resolves.push_back(std::move(p));
        }
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
        else if (a == "--parallel") s.parallel = number("--parallel", value(), 1, 1024);
        else if (a == "--max-connections") s.max_connections = number("--max-connections", value(), 1, 65536);
        else if (a == "-v" || a == "--verbose") s.verbose = true;
        else if (a == "-s" || a == "--silent") s.silent = true;
        else if (a == "-f" || a == "--fail") s.fail_on_status = true;
        else if (a == "-L" || a == "--location") s.location = true;
        else if (a == "-I" || a == "--head") s.head = true;
        else if (a == "-S" || a == "--show-error") {
        } else if (a == "-A" || a == "--user-agent") {
            s.user_agent = value();
            s.user_agent_given = true;
        } else if (a == "-e" || a == "--referer") s.header_lines.push_back(std::string("Referer: ") + value());
        else if (a == "-u" || a == "--user") {
            const std::string v = value();
            std::string basic = "Authorization: Basic ";
            idem::detail::append_base64(basic, v.find(':') == std::string::npos ? v + ":" : v);
            s.header_lines.push_back(basic);
        } else if (a == "-m" || a == "--max-time") s.timeout_ms = seconds_to_ms("--max-time", value());
        else if (a == "-w" || a == "--write-out") s.write_out = value();
        else if (a == "--max-redirs") s.max_redirs = number("--max-redirs", value(), -1);
        else if (a == "-x" || a == "--proxy") {
            s.proxy = value();
            s.proxy_given = true;
        } else if (a == "--noproxy") {
            s.noproxy = value();
            s.noproxy_given = true;
        } else if (a == "--cacert") s.tls.ca_file = value();
        else if (a == "--capath") s.tls.ca_path = value();
        else if (a == "-k" || a == "--insecure") s.tls.insecure_skip_verify = true;
        else if (a == "--unix-socket") s.unix_socket = value();
        else if (a == "--abstract-unix-socket") s.unix_socket = std::string("@") + value();
        else if (a == "-h" || a == "--help") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "fetch: unknown option: %s (fetch --help lists them)\n", argv[i]);
            std::exit(2);
        }
        else s.urls.push_back(a);
    }
    if (s.urls.empty()) bad_usage("no URL given", nullptr);
    if (s.upload && s.has_data && !s.get) bad_usage("-T and -d/--data-binary both give a body", nullptr);
    if (s.upload && s.stream_path == "-" && (s.repeat > 1 || s.urls.size() > 1))
        bad_usage("-T - reads stdin once: it cannot be sent more than once", nullptr);
    // A --data-binary @FILE among other parts is read into memory; alone, it is streamed.
    if (!s.upload) {
        const bool alone = s.data_parts.size() == 1 && !s.stream_path.empty() && !s.get;
        if (!alone) s.stream_path.clear();
        for (auto& part : s.data_parts) {
            if (part.empty() || part[0] != '\x01') continue;
            const std::string path = part.substr(1);
            part.clear();
            if (!alone && !read_file(path.c_str(), part)) bad_usage("cannot read", path.c_str());
        }
        for (std::size_t k = 0; k < s.data_parts.size(); ++k) {
            if (k) s.data += '&';
            if (!alone) s.data += s.data_parts[k];
        }
    }
    if (s.get && s.has_data) {
        // curl's -G: the data is the query (after the URL's own, joined with &), and no body.
        for (auto& u : s.urls) {
            const std::size_t hash = u.find('#');
            const std::string fragment = hash == std::string::npos ? std::string() : u.substr(hash);
            if (hash != std::string::npos) u.erase(hash);
            u += (u.find('?') == std::string::npos ? "?" : "&") + s.data + fragment;
        }
        s.data.clear();
        s.has_data = s.form = false;
    }
    if (s.upload && s.method.empty()) s.method = "PUT";
    if (s.head) {
        if (s.method.empty()) s.method = "HEAD";
        s.include = true;
    }
    if (s.method.empty()) s.method = s.has_data ? "POST" : "GET";
    if (s.silent) s.verbose = false;
    if (s.max_connections == 0) s.max_connections = s.parallel;
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
    case idem::event_kind::redirected: return "redirect";
    }
    return "?";
}

// The one error line per failed request:
// `error: NAME: MESSAGE (METHOD URL[ ID], N attempts)[; the request may have been executed]`.
void print_error(const idem::error& e, const std::string& method, const std::string& url,
                 const std::string& id, const idem::response* last = nullptr) {
    const std::string_view name = idem::to_string(e.code());
    std::string message = e.message();
    if (e.code() == idem::errc::invalid_url && url.find("://") == std::string::npos)
        message += "; did you mean http://" + url + "?";
#if !defined(IDEM_FETCH_TLS)
    if (e.code() == idem::errc::unsupported_scheme && e.reason().find("TLS transport") != std::string_view::npos)
        message = "this fetch was built without TLS (build it with -DIDEM_FETCH_TLS and -lssl -lcrypto)";
#endif
    // A redirect that could not be followed: name where it pointed (the 3xx is still in `last`).
    const bool redirect_error = e.code() == idem::errc::unsupported_scheme || e.code() == idem::errc::invalid_redirect ||
                                e.code() == idem::errc::too_many_redirects || e.code() == idem::errc::redirect_loop;
    if (redirect_error && last && last->status / 100 == 3 && last->has_header("Location"))
        message += "; Location: " + std::string(last->header("Location"));
    std::fprintf(stderr, "error: %.*s: %s (%s %s%s%s, %u attempt%s)%s\n", int(name.size()),
                 name.data(), message.c_str(),
                 method.c_str(), url.c_str(), id.empty() ? "" : " ", id.c_str(), e.attempts(),
                 e.attempts() == 1 ? "" : "s",
                 e.may_have_executed() ? "; the request may have been executed" : "");
}

// What the event handler saw in this thread's latest request: whether its last attempt ran on
// a new connection, how many retries it took, and (for -i -L) the heads of the redirects it
// followed, printed before the final one as curl does.
thread_local bool tl_new_connection = false;
thread_local unsigned long tl_retries = 0;
thread_local unsigned long tl_connects = 0;
thread_local std::string tl_hop_heads;

// A response's status line and fields as they are printed by -i, CRLF-terminated.
std::string head_text(const idem::response& r) {
    std::string t = "HTTP/1." + std::to_string(r.version_minor) + " " + std::to_string(r.status) + " ";
    t.append(r.reason()).append("\r\n");
    for (std::size_t i = 0; i < r.header_count(); ++i) {
        const auto h = r.header_at(i);
        t.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    return t.append("\r\n");
}

void show_response_head(const idem::response& r);

// One per origin: whether to log, and where that origin's learned state is read.
struct event_state {
    bool verbose = false;
    bool include = false; // -i: keep the heads of followed redirects
    idem::learned_bound (*learned)(const void*) = nullptr; // null: the policy does not learn
    const void* client = nullptr;
};

double to_ms(std::chrono::nanoseconds d) { return double(d.count()) / 1e6; }

void log_event(const idem::event& e, void* ctx) {
    auto& st = *static_cast<const event_state*>(ctx);
    if (e.kind == idem::event_kind::connected) {
        tl_new_connection = true;
        ++tl_connects;
    }
    if (e.kind == idem::event_kind::reused) tl_new_connection = false;
    if (e.kind == idem::event_kind::retry) ++tl_retries;
    if (e.kind == idem::event_kind::redirected) {
        if (st.include) tl_hop_heads += head_text(*e.answer);
        if (st.verbose) show_response_head(*e.answer);
    }
    if (!st.verbose) return;
    if (e.kind == idem::event_kind::redirected) {
        const std::string_view to = e.answer->header("Location");
        std::fprintf(stderr, "* redirect %u: %d to %.*s\n", e.attempt, e.answer->status, int(to.size()), to.data());
        return;
    }
    std::fprintf(stderr, "* %s", kind_name(e.kind));
    if (e.kind == idem::event_kind::learned) {
        std::fprintf(stderr, " %.1f ms", to_ms(e.idle_for));
        if (st.learned != nullptr) {
            const idem::learned_bound l = st.learned(st.client);
            std::fprintf(stderr, " (longest reuse that worked: ");
            l.worked.count() > 0 ? std::fprintf(stderr, "%.1f ms", to_ms(l.worked)) : std::fprintf(stderr, "none");
            std::fprintf(stderr, ", shortest idle close: ");
            l.closed.count() > 0 ? std::fprintf(stderr, "%.1f ms", to_ms(l.closed)) : std::fprintf(stderr, "none");
            std::fprintf(stderr, "): %s", idem::describe(l.why));
        }
        std::fprintf(stderr, "\n");
        return;
    }
    if (!e.security.empty()) std::fprintf(stderr, " (%.*s)", int(e.security.size()), e.security.data());
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

// Everything the workers share: the settings, the output, the next request to take.
struct run_state {
    explicit run_state(const settings& set) : s(set) {}
    const settings& s;
    std::vector<idem::result<idem::url>> parsed; // one per URL
    std::vector<idem::header> headers;
    std::size_t id_slot = 0;
    std::FILE* out = stdout;
    bool stream = false;        // bodies through a sink, straight to the file
    bool show_progress = false;
    std::mutex out_mu;          // one body at a time on the output
    std::atomic<long> next{0};  // the next request, counting each URL times --repeat
    long total = 0;
    std::atomic<int> failed{0};
    idem::body_source source; // -T or --data-binary @FILE
    idem::client_options opts; // for -v's picture of the request head
    bool persistent = true;
};

// Each line of a request head after "> ", as curl shows it.
void print_head_lines(const std::string& head) {
    std::size_t from = 0;
    for (auto end = head.find("\r\n"); end != std::string::npos; from = end + 2, end = head.find("\r\n", from))
        std::fprintf(stderr, ">%s%.*s\n", end == from ? "" : " ", int(end - from), head.data() + from);
}

// -v: the head as idem writes it, each line after "> " as curl shows it (a proxy's
// credentials are shown as curl does not: masked).
void show_request_head(const run_state& st, const idem::url& at, const idem::request& req) {
    idem::detail::route route;
    idem::error ignored;
    idem::detail::route_for(at, st.opts, route, ignored, fetch_tunnels);
    if (!route.tunnel.empty()) {
        // https through a proxy: each new connection first asks the proxy for a tunnel.
        const auto masked = idem::detail::tunnel_head(at, route.tunnel.find("Proxy-Authorization") != std::string::npos
                                                              ? "Basic ***" : "", st.opts.user_agent);
        std::fprintf(stderr, "* each new connection is a tunnel through the proxy, asked for with:\n");
        print_head_lines(masked);
    }
    const idem::detail::request_view v(req);
    const bool expect = idem::detail::has_header(v.headers, "Expect") ||
                        (v.has_body() && st.opts.expect_continue_threshold != idem::body_source::unknown_length &&
                         v.body_size() >= st.opts.expect_continue_threshold);
    std::string head;
    idem::detail::write_head(head, v, at.authority, st.persistent ? "keep-alive" : "close", st.opts.user_agent, {},
                             expect, route.absolute, route.authorization.empty() ? "" : "Basic ***");
    print_head_lines(head);
}

void show_response_head(const idem::response& r) {
    std::fprintf(stderr, "< HTTP/1.%d %d %.*s\n", r.version_minor, r.status, int(r.reason().size()), r.reason().data());
    for (std::size_t i = 0; i < r.header_count(); ++i) {
        const auto h = r.header_at(i);
        std::fprintf(stderr, "< %.*s: %.*s\n", int(h.name.size()), h.name.data(), int(h.value.size()), h.value.data());
    }
    std::fprintf(stderr, "<\n");
}

// -w: curl's variables that fetch knows; "\n" is a newline and "%%" a percent sign.
struct write_out_facts {
    int http_code = 0;
    unsigned long connects = 0;
    unsigned redirects = 0;
    std::size_t size = 0;
    double seconds = 0;
    std::string url;
    int exitcode = 0;
};

std::string expand_write_out(const std::string& f, const write_out_facts& w) {
    std::string out;
    char num[64];
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '\\' && i + 1 < f.size() && (f[i + 1] == 'n' || f[i + 1] == 't' || f[i + 1] == 'r')) {
            out += f[i + 1] == 'n' ? '\n' : f[i + 1] == 't' ? '\t' : '\r';
            ++i;
        } else if (f[i] == '%' && i + 1 < f.size() && f[i + 1] == '%') {
            out += '%';
            ++i;
        } else if (f.compare(i, 2, "%{") == 0 && f.find('}', i) != std::string::npos) {
            const auto end = f.find('}', i);
            const std::string v = f.substr(i + 2, end - i - 2);
            i = end;
            if (v == "http_code" || v == "response_code") std::snprintf(num, sizeof num, "%03d", w.http_code);
            else if (v == "num_connects") std::snprintf(num, sizeof num, "%lu", w.connects);
            else if (v == "num_redirects") std::snprintf(num, sizeof num, "%u", w.redirects);
            else if (v == "size_download") std::snprintf(num, sizeof num, "%zu", w.size);
            else if (v == "time_total") std::snprintf(num, sizeof num, "%.6f", w.seconds);
            else if (v == "exitcode") std::snprintf(num, sizeof num, "%d", w.exitcode);
            else if (v == "url_effective") {
                out += w.url;
                continue;
            } else { // as curl: a warning, and nothing printed in its place
                std::fprintf(stderr, "fetch: unknown --write-out variable: '%s'\n", v.c_str());
                continue;
            }
            out += num;
        } else {
            out += f[i];
        }
    }
    return out;
}

// -w, printed after each request whichever way it ended.
struct write_out_at_end {
    run_state& st;
    const idem::response& r;
    const std::string& u;
    const std::chrono::steady_clock::time_point t0;
    const std::size_t& streamed;
    const bool& ok;
    ~write_out_at_end() {
        if (st.s.write_out.empty()) return;
        write_out_facts w;
        w.http_code = r.status;
        w.connects = tl_connects;
        w.redirects = r.redirects;
        w.size = st.stream ? streamed : r.body.size();
        w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        w.url = r.redirects ? r.url : u;
        w.exitcode = ok ? 0 : 1;
        const std::string text = expand_write_out(st.s.write_out, w);
        std::lock_guard<std::mutex> l(st.out_mu);
        std::fwrite(text.data(), 1, text.size(), stdout);
    }
};

// One client (or pool) per origin, made on first use.
template <class Client> class clients_by_origin {
public:
    template <class Make> Client& get(const std::string& origin, Make make) {
        std::lock_guard<std::mutex> l(mu_);
        auto& slot = map_[origin];
        if (!slot.client) {
            slot.events = std::make_unique<event_state>();
            slot.client = make(*slot.events);
        }
        return *slot.client;
    }
    template <class F> void each(F f) {
        std::lock_guard<std::mutex> l(mu_);
        for (auto& kv : map_) f(kv.first, *kv.second.client);
    }

private:
    struct entry {
        std::unique_ptr<Client> client;
        std::unique_ptr<event_state> events;
    };
    std::mutex mu_;
    std::map<std::string, entry> map_;
};

// Takes requests in order until none is left: the loop every thread runs.
template <class Client, class Make> void work(run_state& st, clients_by_origin<Client>& clients, Make make) {
    const settings& s = st.s;
    std::minstd_rand rng(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(
                             std::hash<std::thread::id>{}(std::this_thread::get_id())));
    std::vector<idem::header> headers = st.headers;
    std::string id;
    idem::response r;
    long mine = 0;
    for (;;) {
        const long j = st.next.fetch_add(1);
        if (j >= st.total) return;
        const std::size_t ui = std::size_t(j / s.repeat);
        const std::string& u = s.urls[ui];
        const long sent = j + 1;
        if (mine++ > 0 && !s.intervals.empty()) {
            const auto& gap = s.intervals[std::size_t(mine - 2) % s.intervals.size()];
            // Both ends are at most a day, so the span fits the generator's range.
            const long ms = gap.first + long(rng() % static_cast<unsigned long>(gap.second - gap.first + 1));
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        }
        if (s.request_ids) {
            id = "fetch-" + std::to_string(::getpid()) + "-" + std::to_string(sent);
            headers[st.id_slot].value = id;
        }
        const auto& parsed = st.parsed[ui];
        if (!parsed) {
            ++st.failed;
            print_error(parsed.error(), s.method, u, id);
            continue;
        }
        const std::string origin = parsed->authority;
        Client& c = clients.get(origin, [&](event_state& ev) { return make(*parsed, ev); });
        if (s.verbose)
            std::fprintf(stderr, "> %s %s%s\n", s.method.c_str(), u.c_str(), // scripts read this line
                         s.request_ids ? (" [" + id + "]").c_str() : "");
        idem::request req{s.method, parsed->target, headers, s.data};
        req.source = st.source;
        if (s.verbose) show_request_head(st, *parsed, req);
        tl_new_connection = false;
        tl_retries = 0;
        tl_connects = 0;
        tl_hop_heads.clear();
        r.clear(); // -w reads 000 for a request that got no answer
        const auto t0 = std::chrono::steady_clock::now();
        std::size_t streamed = 0;
        bool ok = false;
        // -w, after the request whichever way it ended.
        write_out_at_end write_out_guard{st, r, u, t0, streamed, ok};
        progress bar(st.show_progress, r);
        bool head_written = false;
        auto write_head = [&] {
            if (head_written || !s.include) return;
            head_written = true;
            std::fputs(tl_hop_heads.c_str(), st.out);
            std::fputs(head_text(r).c_str(), st.out);
        };
        // To a file from one thread, bodies stream through a sink: memory stays bounded
        // whatever their size. Otherwise they are buffered, so a failed request prints no
        // partial body and parallel bodies never interleave.
        auto res = !st.stream ? c.send(req, r)
                              : c.send(req, r, [&](const char* p, std::size_t n) {
                                    // -f: an error status's body is not output (as curl).
                                    if (s.fail_on_status && (r.status < 200 || r.status > 299)) return true;
                                    write_head();
                                    bar.advance(n);
                                    streamed += n;
                                    return std::fwrite(p, 1, n, st.out) == n;
                                });
        bar.finish();
        if (!res) {
            ++st.failed;
            print_error(res.error(), s.method, u, id, &r);
            continue;
        }
        if (s.verbose) show_response_head(r);
        if (s.verbose)
            std::fprintf(stderr, "* done: %d in %.2f ms, %lu attempt%s, %s connection\n", r.status,
                         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
                         tl_retries + 1, tl_retries == 0 ? "" : "s", tl_new_connection ? "new" : "reused");
        if (s.fail_on_status && (r.status < 200 || r.status > 299)) {
            ++st.failed;
            std::fprintf(stderr, "error: http_status: the server answered %d %.*s (%s %s%s%s)\n",
                         r.status, int(r.reason().size()), r.reason().data(), s.method.c_str(),
                         u.c_str(), id.empty() ? "" : " ", id.c_str());
            continue;
        }
        ok = true;
        std::lock_guard<std::mutex> l(st.out_mu);
        write_head();
        std::fwrite(r.body.data(), 1, r.body.size(), st.out);
    }
}

template <class Client, class Make> void run_all(run_state& st, Make make) {
    clients_by_origin<Client> clients;
    if (st.s.parallel <= 1) {
        work(st, clients, make);
    } else {
        std::vector<std::thread> threads;
        for (long t = 0; t < st.s.parallel; ++t) threads.emplace_back([&] { work(st, clients, make); });
        for (auto& t : threads) t.join();
    }
    if (!st.s.verbose) return;
    clients.each([](const std::string& origin, Client& c) {
        const idem::client_stats stats = c.stats();
        std::fprintf(stderr, "* %s: %lu connections opened, %lu reused, %lu retries, %lu closed idle connections found by the probe, %lu stale failures\n",
                     origin.c_str(), stats.connections_opened, stats.reuses, stats.retries,
                     stats.stale_probes, stats.stale_failures);
    });
}

// --resolve: the pinned addresses for the entry's host; any other name (a proxy, a redirect's
// host) goes to the system's resolver.
idem::error pinned_resolve(void* ctx, const char* host, idem::address_list& out) {
    const auto& p = *static_cast<const settings::pinned*>(ctx);
    if (!idem::detail::iequals(p.host, host)) return idem::detail::system_resolve(nullptr, host, out);
    out = p.addrs;
    return idem::error(idem::errc{});
}

template <class KeepAlive> int run(const settings& s, KeepAlive ka) {
    idem::client_options o;
    o.connect_timeout = std::chrono::milliseconds(s.connect_timeout_ms);
    o.deadline = std::chrono::milliseconds(s.timeout_ms);
    if (o.deadline.count() > 0 && o.read_timeout > o.deadline) o.read_timeout = o.deadline;
    if (o.deadline.count() > 0 && o.write_timeout > o.deadline) o.write_timeout = o.deadline;
    o.follow_redirects = s.location;
    o.max_redirects = s.max_redirs < 0 ? ~0u : unsigned(s.max_redirs);
    // As curl: the environment names a proxy for each scheme (https never goes through
    // http_proxy, on a redirect too) unless -x names one for every scheme.
    idem::use_proxy_environment(o);
    if (s.proxy_given) {
        o.proxy = s.proxy;
        o.proxy_per_scheme = false;
    }
    if (s.noproxy_given) o.no_proxy = s.noproxy;
    o.unix_socket = s.unix_socket;
    o.tls = s.tls;
    if (s.user_agent_given) o.user_agent = s.user_agent;

    run_state st(s);
    st.opts = o;
    st.persistent = KeepAlive::persistent;
    st.stream = !s.output.empty() && s.parallel <= 1;
    st.show_progress = st.stream && !s.silent && ::isatty(2);
    if (!s.output.empty()) {
        st.out = std::fopen(s.output.c_str(), "wb");
        if (!st.out) bad_usage("cannot write", s.output.c_str());
    }
    for (const auto& line : s.header_lines) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) bad_usage("header without a colon", line.c_str());
        std::string_view name(line.data(), colon), value(line.data() + colon + 1, line.size() - colon - 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        st.headers.push_back({name, value});
    }
    bool has_type = false;
    for (const auto& h : st.headers) has_type = has_type || idem::detail::iequals(h.name, "Content-Type");
    if (s.form && !has_type) st.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    int stream_fd = -1;
    if (!s.stream_path.empty()) {
        stream_fd = s.stream_path == "-" ? 0 : ::open(s.stream_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (stream_fd < 0) bad_usage("cannot read", s.stream_path.c_str());
        st.source = idem::body_source::file(stream_fd);
    }
    st.id_slot = st.headers.size();
    if (s.request_ids) st.headers.push_back({"X-Request-Id", {}});
    for (const auto& u : s.urls) st.parsed.push_back(idem::parse_url(u));
    st.total = long(s.urls.size()) * s.repeat;

    constexpr bool learns = std::is_same<KeepAlive, idem::keep_alive::timeout_bounded>::value;
    const idem::retry::idempotent rp{s.retries + 1};
    // One pooled client per origin, also for one thread: one code path, one instantiation.
#if defined(IDEM_FETCH_TLS)
    using pool_t = idem::tls::basic_pool<KeepAlive, idem::retry::idempotent>;
#else
    using pool_t = idem::basic_pool<KeepAlive, idem::retry::idempotent>;
#endif
    const idem::pool_options po{std::size_t(s.max_connections), std::size_t(s.max_connections)};
    run_all<pool_t>(st, [&](const idem::url& origin, event_state& ev) {
        idem::client_options mine = o;
        for (const auto& p : s.resolves)
            if (idem::detail::iequals(p.host, origin.host) && p.port == origin.port) {
                mine.resolver = &pinned_resolve;
                mine.resolver_context = const_cast<settings::pinned*>(&p);
            }
        auto c = std::make_unique<pool_t>(origin.origin(), mine, po, ka, rp);
        ev.verbose = s.verbose;
        ev.include = s.include;
        if constexpr (learns) {
            ev.client = c.get();
            ev.learned = [](const void* p) { return static_cast<const pool_t*>(p)->learned(); };
        }
        c->set_event_handler(&log_event, &ev);
        return c;
    });
    if (std::fflush(st.out) != 0 || (st.out != stdout && std::fclose(st.out) != 0)) {
        std::fprintf(stderr, "fetch: writing the output failed\n");
        return 1;
    }
    return st.failed == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const settings s = parse_args(argc, argv);
    if (s.keep_alive_off) return run(s, idem::keep_alive::disabled{});
    if (s.keep_alive_ms >= 0)
        return run(s, idem::keep_alive::timeout_bounded{std::chrono::milliseconds(s.keep_alive_ms)});
    return run(s, idem::keep_alive::timeout_bounded{});
}
