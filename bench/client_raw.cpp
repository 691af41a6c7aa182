// The floor: a hand-written blocking loop on one socket — one write, reads until the body ends.
// It trusts the server (no validation beyond finding the framing), which no real client may.
#include "common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

int main(int argc, char** argv) {
    const auto a = parse_bench_args(argc, argv);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<unsigned short>(a.port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return 1;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const std::string req = "GET " + a.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    static char buf[1 << 17];
    unsigned long long bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < a.n; ++i) {
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) return 1;
        std::size_t have = 0, head = 0, need = 0;
        bool chunked = false;
        for (;;) {
            const ssize_t r = ::recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0) return 1;
            have += std::size_t(r);
            if (head == 0) {
                const char* e = static_cast<const char*>(memmem(buf, have, "\r\n\r\n", 4));
                if (!e) continue;
                head = std::size_t(e - buf) + 4;
                const char* cl = static_cast<const char*>(memmem(buf, head, "Content-Length: ", 16));
                if (cl) need = head + std::strtoul(cl + 16, nullptr, 10);
                else chunked = true;
            }
            if (!chunked && have >= need) {
                bytes += need - head;
                break;
            }
            if (chunked && have >= 5 && std::memcmp(buf + have - 5, "0\r\n\r\n", 5) == 0) {
                bytes += have - head;
                break;
            }
        }
    }
    report(a.n, std::chrono::steady_clock::now() - t0, bytes);
    ::close(fd);
    return 0;
}
