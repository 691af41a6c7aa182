// idem: a response — status, reason, fields with case-insensitive lookup, and the body.
#ifndef IDEM_RESPONSE_HPP
#define IDEM_RESPONSE_HPP

#include "request.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace idem {

class response;
namespace detail {
class head_parser;
struct fields_of;

/// The fields idem itself reads, recognised once while parsing.
enum class field_kind : unsigned char { other, content_length, transfer_encoding, connection, keep_alive };
} // namespace detail

/// A received response. Its views (reason(), header(), header_at()) point into it: they are
/// valid while it lives and is not sent into again. Reusable: pass the same object to basic_client::send and the head and
/// body buffers keep their capacity, so a steady loop stops allocating.
class response {
public:
    int status = 0;        ///< 100..599
    int version_minor = 1; ///< the x of HTTP/1.x
    std::string body;      ///< the decoded body (chunked framing removed)
    /// Redirects followed to reach this answer (client_options::follow_redirects), 0 for none.
    unsigned redirects = 0;
    /// Where the answer came from ("http://host:port/path?q") when redirects > 0; empty when it
    /// is the request's own URL.
    std::string url;

    /// The reason phrase, possibly empty.
    std::string_view reason() const noexcept IDEM_LIFETIMEBOUND { return view(reason_); }

    /// The first field named `name` (ASCII case-insensitive), or an empty view when absent.
    std::string_view header(std::string_view name) const noexcept IDEM_LIFETIMEBOUND {
        for (const auto& f : fields_)
            if (detail::iequals(view(f.name), name)) return view(f.value);
        return {};
    }
    bool has_header(std::string_view name) const noexcept {
        for (const auto& f : fields_)
            if (detail::iequals(view(f.name), name)) return true;
        return false;
    }
    std::size_t header_count() const noexcept { return fields_.size(); }
    /// The i-th field in received order (i < header_count()).
    idem::header header_at(std::size_t i) const noexcept IDEM_LIFETIMEBOUND {
        return {view(fields_[i].name), view(fields_[i].value)};
    }

    /// Empties the response, keeping its buffers' capacity.
    void clear() noexcept {
        status = 0;
        version_minor = 1;
        body.clear();
        redirects = 0;
        url.clear();
        head_.clear();
        fields_.clear();
        reason_ = {};
    }

private:
    friend class detail::head_parser;
    friend struct detail::fields_of;
    struct span {
        std::uint32_t off = 0, len = 0;
    };
    struct field {
        span name, value;
        detail::field_kind kind;
    };
    std::string_view view(span s) const noexcept { return {head_.data() + s.off, s.len}; }

    std::string head_; // the received head, with obs-fold line breaks turned into spaces
    std::vector<field> fields_;
    span reason_;
};

namespace detail {
/// The parser's view of a response's fields, by kind.
struct fields_of {
    static std::size_t count(const response& r) noexcept { return r.fields_.size(); }
    static field_kind kind(const response& r, std::size_t i) noexcept { return r.fields_[i].kind; }
    static std::string_view value(const response& r, std::size_t i) noexcept {
        return r.view(r.fields_[i].value);
    }
};
} // namespace detail

} // namespace idem

#endif
