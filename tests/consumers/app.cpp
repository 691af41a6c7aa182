// The consumer every packaging test builds: GET URL, expect 200 and BODY. With
// CONSUMER_TLS, through idem::tls::client (idem/tls/openssl.hpp beside the header).
#include <idem/idem.hpp>
#ifdef CONSUMER_TLS
#include <idem/tls/openssl.hpp>
using client_type = idem::tls::client;
#else
using client_type = idem::client;
#endif

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    static_assert(IDEM_VERSION_MAJOR == 0, "the version macros come with the header");
    auto url = idem::parse_url(argv[1]);
    if (!url) return 3;
    client_type c{url->origin()};
    auto r = c.get(url->target);
    if (!r) {
        std::fprintf(stderr, "error: %s\n", r.error().message().c_str());
        return 1;
    }
    if (r->status != 200 || r->body != argv[2]) {
        std::fprintf(stderr, "unexpected answer: %d %s\n", r->status, r->body.c_str());
        return 1;
    }
    std::printf("consumer ok (idem %s)\n", IDEM_VERSION_STRING);
    return 0;
}
