// Feeds raw response bytes to idem's response reader the way a socket would: whole, split at
// chosen points, or one byte at a time. Each piece sits right before an unreadable page, so a
// read past the end crashes the test instead of passing by luck.
#ifndef IDEM_TEST_SUPPORT_FEED_HPP
#define IDEM_TEST_SUPPORT_FEED_HPP

#include "test_idem.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace idem_test {

/// A buffer whose last byte is followed by a PROT_NONE page.
class guarded_bytes {
public:
    explicit guarded_bytes(std::string_view s) {
        const std::size_t page = std::size_t(::sysconf(_SC_PAGESIZE));
        pages_ = (s.size() + page - 1) / page + 1;
        base_ = static_cast<char*>(::mmap(nullptr, pages_ * page, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (base_ == MAP_FAILED) std::abort();
        ::mprotect(base_ + (pages_ - 1) * page, page, PROT_NONE);
        data_ = base_ + (pages_ - 1) * page - s.size();
        if (!s.empty()) std::memcpy(data_, s.data(), s.size());
        size_ = s.size();
        page_ = page;
    }
    ~guarded_bytes() { ::munmap(base_, pages_ * page_); }
    guarded_bytes(const guarded_bytes&) = delete;
    guarded_bytes& operator=(const guarded_bytes&) = delete;
    const char* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    char* base_ = nullptr;
    char* data_ = nullptr;
    std::size_t size_ = 0, pages_ = 0, page_ = 0;
};

struct outcome {
    bool done = false;          ///< a complete response was read
    idem::errc err = idem::errc{}; ///< why not, if it failed
    const char* why = nullptr;     ///< the reason the reader gave, for a parse failure
    std::size_t stray = 0;      ///< bytes left after the response
    bool must_close = false;    ///< the connection could not be reused
    idem::response r;

    bool operator==(const outcome& o) const {
        if (done != o.done || err != o.err || stray != o.stray || must_close != o.must_close)
            return false;
        if (!done) return true;
        if (r.status != o.r.status || r.body != o.r.body || r.reason() != o.r.reason() ||
            r.header_count() != o.r.header_count())
            return false;
        for (std::size_t i = 0; i < r.header_count(); ++i)
            if (r.header_at(i).name != o.r.header_at(i).name ||
                r.header_at(i).value != o.r.header_at(i).value)
                return false;
        return true;
    }
};

/// Feeds `bytes` cut at `cuts` (ascending offsets), then EOF if `eof` and not yet done.
inline outcome read_pieces(std::string_view bytes, const std::vector<std::size_t>& cuts,
                           std::string_view method = "GET", bool eof = true,
                           const idem::limits& lim = {}) {
    outcome o;
    idem::detail::response_reader rd;
    rd.start(method, o.r, lim);
    std::size_t from = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(bytes.size());
    for (std::size_t end : ends) {
        if (end < from) continue;
        guarded_bytes piece(bytes.substr(from, end - from));
        const auto st = rd.feed(piece.data(), piece.size());
        if (st.failed) {
            o.err = st.err;
            o.why = st.why;
            return o;
        }
        if (rd.done()) {
            o.done = true;
            o.stray = (bytes.size() - from) - st.consumed;
            o.must_close = o.stray != 0 || !idem::detail::response_allows_reuse(o.r, rd.framing());
            return o;
        }
        from = end;
    }
    if (eof) {
        const auto e = rd.finish_at_eof();
        if (e != idem::errc{}) {
            o.err = e;
            return o;
        }
        o.done = true;
        o.must_close = true;
    } else {
        o.err = idem::errc::read_timeout; // "still waiting for bytes"
    }
    return o;
}

inline outcome read_whole(std::string_view bytes, std::string_view method = "GET", bool eof = true,
                          const idem::limits& lim = {}) {
    return read_pieces(bytes, {}, method, eof, lim);
}

inline outcome read_bytewise(std::string_view bytes, std::string_view method = "GET", bool eof = true) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i) cuts.push_back(i);
    return read_pieces(bytes, cuts, method, eof);
}

} // namespace idem_test

#endif
