// Cookbook: talk to a local daemon over a Unix domain socket (Docker's API, a sidecar).
//   c++ -std=c++17 -Iinclude examples/unix_socket.cpp -o unix_socket
//   ./unix_socket /var/run/docker.sock http://docker/v1.43/version
// The URL names the origin (Host) and the path; the socket is where the bytes go. A leading
// '@' names a Linux abstract socket. Keep-alive and the retry rules work as over TCP.
#include <idem/idem.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s SOCKET URL\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[2]);
    if (!url) {
        std::fprintf(stderr, "bad URL: %s\n", url.error().message().c_str());
        return 2;
    }
    idem::client_options o;
    o.unix_socket = argv[1];
    idem::client c{url->origin(), o};
    if (c.init_error() != idem::errc{}) { // a path too long for sockaddr_un, say
        std::fprintf(stderr, "%s\n", c.get("/").error().message().c_str());
        return 2;
    }
    auto r = c.get(url->target, {{"Accept", "application/json"}});
    if (!r) {
        std::fprintf(stderr, "GET failed: %s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("%d\n%s\n", r->status, r->body.c_str());
    return r->status / 100 == 2 ? 0 : 1;
}
