// A large upload streamed from a file and from a pipe: the bytes arrive intact, and the
// client's peak memory grows by at most one buffer whatever the size.
//
//     upload [MiB]    (default 200)
//
// A loopback server thread reads the request body in 64 KiB pieces (Content-Length or
// chunked), hashes it (FNV-1a 64) and answers with the hash. Peak memory is the process's
// VmHWM, reset with /proc/self/clear_refs just before each upload, against VmRSS at that
// moment. Prints one line per source, "source=file mib=200 extra_kib=... intact=1 ms=...",
// and exits 1 when a body arrives changed or the extra peak passes 1 MiB.
#include <idem/idem.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

struct fnv {
    std::uint64_t h = 14695981039346656037ull;
    void add(const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            h ^= static_cast<unsigned char>(p[i]);
            h *= 1099511628211ull;
        }
    }
};

// The body's bytes: position-dependent, so a lost, repeated or reordered piece changes the hash.
void fill(char* p, std::size_t n, std::uint64_t at) {
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t x = (at + i) * 0x9E3779B97F4A7C15ull;
        p[i] = char('a' + (x >> 59));
    }
}

long status_kib(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::size_t n = std::strlen(field);
    while (std::getline(f, line))
        if (line.compare(0, n, field) == 0) return std::strtol(line.c_str() + n, nullptr, 10);
    return -1;
}

bool reset_peak() {
    std::ofstream f("/proc/self/clear_refs");
    f << "5";
    return bool(f.flush());
}

// One connection at a time, one request per connection; `stop` ends it.
struct hashing_server {
    int fd = -1;
    int port = 0;
    std::thread t;

    hashing_server() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 4) != 0) std::exit(2);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        t = std::thread([this] { run(); });
    }
    ~hashing_server() {
        ::shutdown(fd, SHUT_RDWR);
        t.join();
        ::close(fd);
    }

    void run() {
        for (;;) {
            const int c = ::accept(fd, nullptr, nullptr);
            if (c < 0) return;
            serve(c);
            ::close(c);
        }
    }

    static void serve(int c) {
        std::string buf(64 * 1024, '\0');
        std::size_t have = 0, at = 0; // bytes in buf, and the next one not yet consumed
        auto more = [&]() -> bool {
            if (at == have) at = have = 0;
            if (have == buf.size()) return false;
            const ssize_t n = ::recv(c, &buf[have], buf.size() - have, 0);
            if (n <= 0) return false;
            have += std::size_t(n);
            return true;
        };
        auto line = [&](std::string& out) -> bool {
            for (;;) {
                const auto e = std::string_view(buf).substr(at, have - at).find("\r\n");
                if (e != std::string_view::npos) {
                    out.assign(buf, at, e);
                    at += e + 2;
                    return true;
                }
                if (at > 0) { // keep the partial line at the front
                    buf.erase(0, at);
                    buf.resize(64 * 1024);
                    have -= at;
                    at = 0;
                }
                if (!more()) return false;
            }
        };
        fnv h;
        auto body = [&](std::uint64_t n) -> bool {
            while (n > 0) {
                if (at == have && !more()) return false;
                const std::size_t k = std::size_t(std::min<std::uint64_t>(n, have - at));
                h.add(&buf[at], k);
                at += k;
                n -= k;
            }
            return true;
        };
        std::string l;
        std::uint64_t length = 0;
        bool chunked = false, expect = false;
        if (!line(l)) return;
        while (line(l) && !l.empty()) {
            if (l.rfind("Content-Length: ", 0) == 0) length = std::strtoull(l.c_str() + 16, nullptr, 10);
            if (l == "Transfer-Encoding: chunked") chunked = true;
            if (l == "Expect: 100-continue") expect = true;
        }
        if (expect) ::send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
        if (!chunked) {
            if (!body(length)) return;
        } else {
            for (;;) {
                if (!line(l)) return;
                const std::uint64_t n = std::strtoull(l.c_str(), nullptr, 16);
                if (n == 0) {
                    line(l); // the empty trailer
                    break;
                }
                if (!body(n) || !line(l)) return;
            }
        }
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h.h));
        std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\n";
        answer += hex;
        ::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    }
};

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
    const std::uint64_t size = mib << 20;
    hashing_server server;
    idem::client_options o;
    o.deadline = std::chrono::seconds(300);
    idem::client c{"http://127.0.0.1:" + std::to_string(server.port), o};
    if (!c.get("/warm")) return 2; // the client's buffers exist before the measuring starts

    char path[] = "/tmp/idem-upload-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return 2;
    ::unlink(path);
    fnv want;
    {
        std::string piece(64 * 1024, '\0');
        for (std::uint64_t at = 0; at < size; at += piece.size()) {
            const std::size_t n = std::size_t(std::min<std::uint64_t>(piece.size(), size - at));
            fill(&piece[0], n, at);
            want.add(piece.data(), n);
            if (::write(fd, piece.data(), n) != ssize_t(n)) return 2;
        }
        ::lseek(fd, 0, SEEK_SET);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(want.h));

    int failed = 0;
    for (const char* kind : {"file", "pipe"}) {
        int source_fd = fd;
        int p[2] = {-1, -1};
        std::thread feeder;
        if (std::strcmp(kind, "pipe") == 0) { // the same bytes, through a pipe: unknown length
            if (::pipe(p) != 0) return 2;
            source_fd = p[0];
            feeder = std::thread([&] {
                std::string piece(64 * 1024, '\0');
                for (std::uint64_t at = 0; at < size;) {
                    const ssize_t n = ::pread(fd, &piece[0], piece.size(), off_t(at));
                    if (n <= 0 || ::write(p[1], piece.data(), std::size_t(n)) != n) break;
                    at += std::uint64_t(n);
                }
                ::close(p[1]);
            });
        }
        if (!reset_peak()) return 2;
        const long rss = status_kib("VmRSS:");
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.upload("PUT", "/upload", idem::body_source::file(source_fd));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        const long extra = status_kib("VmHWM:") - rss;
        if (feeder.joinable()) feeder.join();
        if (p[0] >= 0) ::close(p[0]);
        const bool intact = r && r->status == 200 && r->body == hex;
        if (!r) std::fprintf(stderr, "%s: %s\n", kind, r.error().message().c_str());
        std::printf("source=%s mib=%llu extra_kib=%ld intact=%d ms=%lld\n", kind,
                    static_cast<unsigned long long>(mib), extra, intact ? 1 : 0,
                    static_cast<long long>(ms.count()));
        if (!intact || extra > 1024) failed = 1;
    }
    ::close(fd);
    return failed;
}
