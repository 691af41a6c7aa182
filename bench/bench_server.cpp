// The benchmark's own loopback server, for machines without nginx: keep-alive, GET only,
// fixed bodies per path (/13, /1k, /64k, /chunked, /100m). Prints "listening PORT"; runs until
// its standard input closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::string fixed(std::size_t n) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" + std::string(n, 'x');
}

std::string chunked() {
    std::string r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) r += "100\r\n" + std::string(256, 'x') + "\r\n";
    return r + "0\r\n\r\n";
}

bool send_all(int fd, const char* p, std::size_t n) {
    while (n != 0) {
        const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= std::size_t(w);
    }
    return true;
}

void serve(int fd) {
    static const std::string r13 = fixed(13), r1k = fixed(1024), r64k = fixed(65536), rch = chunked();
    static const std::string big_head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(100u << 20) + "\r\n\r\n";
    static const std::string block(1 << 16, 'x');
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string buf;
    char chunk[4096];
    for (;;) {
        std::size_t end;
        while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
            const ssize_t r = ::recv(fd, chunk, sizeof chunk, 0);
            if (r <= 0) {
                ::close(fd);
                return;
            }
            buf.append(chunk, std::size_t(r));
        }
        const std::string line = buf.substr(0, buf.find('\r'));
        buf.erase(0, end + 4);
        const std::string path = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
        bool ok = true;
        if (path == "/13") ok = send_all(fd, r13.data(), r13.size());
        else if (path == "/1k") ok = send_all(fd, r1k.data(), r1k.size());
        else if (path == "/64k") ok = send_all(fd, r64k.data(), r64k.size());
        else if (path == "/chunked") ok = send_all(fd, rch.data(), rch.size());
        else if (path == "/100m") {
            ok = send_all(fd, big_head.data(), big_head.size());
            for (unsigned i = 0; ok && i < 1600; ++i) ok = send_all(fd, block.data(), block.size());
        } else {
            static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            ok = send_all(fd, nf, sizeof nf - 1);
        }
        if (!ok) break;
    }
    ::close(fd);
}

} // namespace

int main() {
    const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 64) != 0) return 1;
    socklen_t len = sizeof a;
    ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("listening %d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    std::thread([ls] {
        for (;;) {
            const int fd = ::accept(ls, nullptr, nullptr);
            if (fd < 0) return;
            std::thread(serve, fd).detach();
        }
    }).detach();
    char c;
    while (::read(0, &c, 1) > 0) {
    }
    return 0;
}
