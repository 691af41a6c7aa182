// Cookbook: a GET, its status, a header and the body.
//   c++ -std=c++17 -Iinclude examples/get.cpp -o get && ./get http://127.0.0.1:8080/
#include <idem/idem.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) {
        std::fprintf(stderr, "bad URL: %s\n", url.error().message().c_str());
        return 2;
    }
    idem::client c{url->origin()};
    auto r = c.get(url->target, {{"Accept", "text/plain"}});
    if (!r) {
        std::fprintf(stderr, "GET failed: %s\n", r.error().message().c_str());
        return 1;
    }
    const auto type = r->header("content-type"); // any case; empty when absent
    std::printf("%d %.*s, %zu bytes of %.*s\n", r->status, int(r->reason().size()),
                r->reason().data(), r->body.size(), int(type.size()), type.data());
    return r->status / 100 == 2 ? 0 : 1;
}
