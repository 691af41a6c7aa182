// Request bodies for tests: a position-dependent pattern, a temporary file, a pipe fed by a
// thread, a callback source over a string that counts its reads and rewinds; and a response
// sink that throws.
#ifndef IDEM_TEST_SUPPORT_BODIES_HPP
#define IDEM_TEST_SUPPORT_BODIES_HPP

#include "test_idem.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace idem_test {

// Bytes that show a reordering or a lost piece: position-dependent, not repeating in 64 KiB.
inline std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    std::uint32_t x = 2463534242u;
    for (std::size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = char('a' + x % 26);
    }
    return s;
}

// A temporary regular file holding `content`, removed at the end of the test.
struct temp_file {
    int fd = -1;
    explicit temp_file(const std::string& content) {
        char name[] = "/tmp/idem-upload-XXXXXX";
        fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::unlink(name);
        REQUIRE(::write(fd, content.data(), content.size()) == ssize_t(content.size()));
        ::lseek(fd, 0, SEEK_SET);
    }
    ~temp_file() { ::close(fd); }
};

// A pipe whose write end a thread fills with `content` and closes.
struct pipe_feed {
    int fds[2] = {-1, -1};
    std::thread writer;
    explicit pipe_feed(std::string content) {
        REQUIRE(::pipe(fds) == 0);
        writer = std::thread([w = fds[1], c = std::move(content)] {
            std::size_t off = 0;
            while (off < c.size()) {
                const ssize_t n = ::write(w, c.data() + off, c.size() - off);
                if (n <= 0) break;
                off += std::size_t(n);
            }
            ::close(w);
        });
    }
    int fd() const { return fds[0]; }
    ~pipe_feed() {
        ::close(fds[0]); // a writer still blocked gets EPIPE
        writer.join();
    }
};

// A callback source over a string: counts reads and rewinds; may fail or end early.
struct string_feed {
    std::string data;
    std::size_t pos = 0;
    std::size_t piece = 1000;
    unsigned reads = 0, rewinds = 0;
    std::size_t fail_at = std::string::npos; // return -1 once this many bytes were given
    std::size_t end_at = std::string::npos;  // end (0) once this many bytes were given

    static std::ptrdiff_t read(void* ctx, char* buf, std::size_t cap) {
        auto& f = *static_cast<string_feed*>(ctx);
        ++f.reads;
        if (f.pos >= f.fail_at) return -1;
        const std::size_t end = f.end_at < f.data.size() ? f.end_at : f.data.size();
        std::size_t n = end - f.pos;
        if (n > cap) n = cap;
        if (n > f.piece) n = f.piece;
        f.data.copy(buf, n, f.pos);
        f.pos += n;
        return std::ptrdiff_t(n);
    }
    static bool rewind(void* ctx) {
        auto& f = *static_cast<string_feed*>(ctx);
        ++f.rewinds;
        f.pos = 0;
        return true;
    }
};

/// GETs "/" into a sink that throws at its first bytes; true if the exception left the call.
template <class Client>
bool get_into_throwing_sink(Client& c) {
    idem::response out;
    try {
        (void)c.send(idem::request{"GET", "/", {}, {}}, out, [](const char*, std::size_t) -> bool {
            throw std::runtime_error("sink failed");
        });
    } catch (const std::runtime_error&) {
        return true;
    }
    return false;
}

} // namespace idem_test

#endif
