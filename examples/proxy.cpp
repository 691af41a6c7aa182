// Cookbook: go through an HTTP proxy, from the environment as curl reads it or given outright.
//   c++ -std=c++17 -Iinclude examples/proxy.cpp -o proxy
//   http_proxy=http://user:secret@proxy.internal:3128 no_proxy=localhost ./proxy http://example.com/
//   ./proxy http://example.com/ proxy.internal:3128
// The request goes to the proxy in absolute-form, with the proxy's credentials for the proxy
// only; hosts in no_proxy are reached directly. idem reads the environment only when asked.
#include <idem/idem.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) {
        std::fprintf(stderr, "usage: %s URL [PROXY]\n", argv[0]);
        return 2;
    }
    auto url = idem::parse_url(argv[1]);
    if (!url) {
        std::fprintf(stderr, "bad URL: %s\n", url.error().message().c_str());
        return 2;
    }
    idem::client_options o;
    // http_proxy for http, https_proxy for https (never HTTP_PROXY), else all_proxy; no_proxy
    idem::use_proxy_environment(o);
    if (argc == 3) { // one proxy for every scheme, as curl's -x
        o.proxy = argv[2];
        o.proxy_per_scheme = false;
    }
    idem::client c{url->origin(), o};
    if (c.init_error() != idem::errc{}) { // an https:// or SOCKS proxy, a bad port
        std::fprintf(stderr, "%s\n", c.get("/").error().message().c_str());
        return 2;
    }
    auto r = c.get(url->target);
    if (!r) {
        std::fprintf(stderr, "GET failed: %s\n", r.error().message().c_str());
        return 1;
    }
    std::printf("%d via %s\n", r->status, c.uses_proxy() ? "the proxy" : "a direct connection");
    return r->status / 100 == 2 ? 0 : 1;
}
