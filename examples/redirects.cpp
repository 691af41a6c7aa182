// Cookbook: follow redirects, and see where the answer came from.
//   c++ -std=c++17 -Iinclude examples/redirects.cpp -o redirects
//   ./redirects http://example.com/old-path
// Redirects are off by default. Turned on, a 303 (and a POST under 301/302) becomes a GET, 307
// and 308 keep the method and body, credentials never leave the origin they were given for,
// and a chain is at most max_redirects long.
#include <idem/idem.hpp>

#include <cstdio>

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
    idem::client_options o;
    o.follow_redirects = true;
    o.max_redirects = 5;
    idem::client c{url->origin(), o};
    idem::response out; // on an error it still holds the last answer, the redirect
    auto r = c.send(idem::request{"GET", url->target, {{"Authorization", "Bearer only-for-this-origin"}}}, out);
    if (!r) {
        std::fprintf(stderr, "GET failed: %s\n", r.error().message().c_str());
        if (out.status / 100 == 3) std::fprintf(stderr, "last Location: %.*s\n",
                                                int(out.header("Location").size()), out.header("Location").data());
        return 1;
    }
    std::printf("%d after %u redirect(s)%s%s\n", out.status, out.redirects, out.redirects ? " from " : "",
                out.url.c_str());
    return out.status / 100 == 2 ? 0 : 1;
}
