// Uploads a file without reading it into memory, then the output of a command through a
// pipe, and says what to do when either fails.
//
//   c++ -std=c++17 -Iinclude examples/upload.cpp -o upload && ./upload http://127.0.0.1:8080/put FILE
//
// A regular file goes out with Content-Length, read in 64 KiB pieces with pread, and can be
// read again: a PUT of it is retried like any idempotent request. A pipe has no length (the
// body goes out chunked) and can be read only once: once any of it was read, the request is
// never sent a second time, and the error says so (`body_spent()`). Bodies of 1 MiB or more,
// and those of unknown length, ask `Expect: 100-continue` first, so a server that refuses
// (401, 413) does so before the body is read.
#include <idem/idem.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace {

int report(const char* what, const idem::result<idem::response>& r) {
    if (r) {
        std::printf("%s: %d %.*s\n", what, r->status, int(r->reason().size()), r->reason().data());
        return 0;
    }
    const idem::error& e = r.error();
    std::fprintf(stderr, "%s: %s\n", what, e.message().c_str());
    if (e.body_spent())
        std::fprintf(stderr, "  the body was read from a source that cannot be read again; produce it anew to retry\n");
    else if (e.bytes_written() == idem::written::partial && !e.body_started())
        std::fprintf(stderr, "  the head went out, none of the body did\n");
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: upload URL FILE\n");
        return 2;
    }
    auto u = idem::parse_url(argv[1]);
    if (!u) {
        std::fprintf(stderr, "bad URL: %s\n", u.error().message().c_str());
        return 2;
    }
    idem::client c{u->origin()};

    const int fd = ::open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::perror(argv[2]);
        return 2;
    }
    int failed = report("file", c.upload("PUT", u->target, idem::body_source::file(fd),
                                         {{"Content-Type", "application/octet-stream"}}));
    ::close(fd);

    // The same through a pipe: whatever `ls -l` prints, of unknown length.
    FILE* p = ::popen("ls -l", "r");
    if (p == nullptr) return 2;
    failed |= report("pipe", c.upload("POST", u->target, idem::body_source::file(::fileno(p))));
    ::pclose(p);
    return failed;
}
