// idem: typed errors and what each failed call knows about how far the request got.
#ifndef IDEM_ERROR_HPP
#define IDEM_ERROR_HPP

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "idem needs C++17 or later: compile with -std=c++17"
#endif

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace idem {

/// Every condition idem reports. Values are stable and only ever appended; 0 is success.
enum class errc : int {
    // bad input (nothing was sent)
    invalid_url = 1,
    unsupported_scheme = 2,
    invalid_request = 3,
    client_busy = 4, ///< a call overlapped another on the same client (no request was sent)
    invalid_socket_path = 5, ///< client_options::unix_socket cannot be a socket address
    // reaching the server (nothing was sent)
    resolve_failed = 10,
    connection_refused = 11,
    network_unreachable = 12,
    host_unreachable = 13,
    connect_timeout = 14,
    pool_timeout = 15, ///< every pooled connection stayed busy until the deadline
    tls_handshake_failed = 16, ///< the TLS handshake failed (no common version or cipher, an alert)
    certificate_rejected = 17, ///< the server's certificate is not trusted for the URL's host
    proxy_refused = 18,        ///< the proxy answered CONNECT with a status other than 2xx
    // the exchange
    connection_reset = 20,
    broken_pipe = 21,
    server_closed_idle = 22,
    unexpected_eof = 23,
    read_timeout = 24,
    write_timeout = 25,
    deadline_exceeded = 26,
    body_source_failed = 27, ///< the request body's source failed, ended early or could not rewind
    tls_error = 28,          ///< the TLS layer failed after the handshake (a bad record, an alert)
    // what the server sent
    malformed_response = 30,
    header_too_large = 31,
    too_many_headers = 32,
    body_too_large = 33,
    line_too_long = 34,
    sink_aborted = 35,
    too_many_redirects = 36, ///< a chain longer than client_options::max_redirects
    redirect_loop = 37,      ///< a redirect back to a request already made in the chain
    invalid_redirect = 38,   ///< a Location that is not a URL reference
    // anything else the system said; the error keeps errno
    system_error = 40,
    out_of_memory = 41,
};

/// The enumerator's name, e.g. "server_closed_idle"; "unknown" for a value idem never makes.
constexpr std::string_view to_string(errc e) noexcept {
    switch (e) {
    case errc::invalid_url: return "invalid_url";
    case errc::unsupported_scheme: return "unsupported_scheme";
    case errc::invalid_request: return "invalid_request";
    case errc::client_busy: return "client_busy";
    case errc::invalid_socket_path: return "invalid_socket_path";
    case errc::resolve_failed: return "resolve_failed";
    case errc::connection_refused: return "connection_refused";
    case errc::network_unreachable: return "network_unreachable";
    case errc::host_unreachable: return "host_unreachable";
    case errc::connect_timeout: return "connect_timeout";
    case errc::pool_timeout: return "pool_timeout";
    case errc::tls_handshake_failed: return "tls_handshake_failed";
    case errc::certificate_rejected: return "certificate_rejected";
    case errc::proxy_refused: return "proxy_refused";
    case errc::tls_error: return "tls_error";
    case errc::connection_reset: return "connection_reset";
    case errc::broken_pipe: return "broken_pipe";
    case errc::server_closed_idle: return "server_closed_idle";
    case errc::unexpected_eof: return "unexpected_eof";
    case errc::read_timeout: return "read_timeout";
    case errc::write_timeout: return "write_timeout";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::body_source_failed: return "body_source_failed";
    case errc::malformed_response: return "malformed_response";
    case errc::header_too_large: return "header_too_large";
    case errc::too_many_headers: return "too_many_headers";
    case errc::body_too_large: return "body_too_large";
    case errc::line_too_long: return "line_too_long";
    case errc::sink_aborted: return "sink_aborted";
    case errc::too_many_redirects: return "too_many_redirects";
    case errc::redirect_loop: return "redirect_loop";
    case errc::invalid_redirect: return "invalid_redirect";
    case errc::system_error: return "system_error";
    case errc::out_of_memory: return "out_of_memory";
    }
    return e == errc{} ? "success" : "unknown";
}

namespace detail {

inline const char* describe(errc e) noexcept {
    switch (e) {
    case errc::invalid_url: return "invalid URL";
    case errc::unsupported_scheme: return "unsupported URL scheme (https needs a TLS transport)";
    case errc::invalid_request: return "invalid request (method, target or header field)";
    case errc::invalid_socket_path: return "invalid Unix socket path (empty, too long for sockaddr_un, or holding a NUL)";
    case errc::client_busy: return "the client is busy with another call (from another thread, or from a body sink); use one client per thread, or an idem::pool";
    case errc::resolve_failed: return "could not resolve host name";
    case errc::connection_refused: return "connection refused";
    case errc::network_unreachable: return "network unreachable";
    case errc::host_unreachable: return "host unreachable";
    case errc::connect_timeout: return "connect timed out";
    case errc::pool_timeout: return "no pooled connection became free before the deadline";
    case errc::tls_handshake_failed: return "the TLS handshake failed";
    case errc::certificate_rejected: return "the server's certificate was rejected";
    case errc::proxy_refused: return "the proxy refused to open a tunnel to the server";
    case errc::tls_error: return "the TLS connection failed";
    case errc::connection_reset: return "connection reset by peer";
    case errc::broken_pipe: return "broken pipe (the server closed the connection while we wrote)";
    case errc::server_closed_idle: return "server closed the reused connection before responding";
    case errc::unexpected_eof: return "connection closed before the response was complete";
    case errc::read_timeout: return "timed out waiting for the response";
    case errc::write_timeout: return "timed out sending the request";
    case errc::deadline_exceeded: return "the call's overall deadline passed";
    case errc::body_source_failed: return "the request body's source failed";
    case errc::malformed_response: return "malformed response";
    case errc::header_too_large: return "response head exceeds the size limit";
    case errc::too_many_headers: return "response has more header fields than the limit";
    case errc::body_too_large: return "response body exceeds the size limit";
    case errc::line_too_long: return "a response line (status, field or chunk size) exceeds the length limit";
    case errc::sink_aborted: return "the body sink stopped the transfer";
    case errc::too_many_redirects: return "too many redirects";
    case errc::redirect_loop: return "the redirects go round in a loop";
    case errc::invalid_redirect: return "the redirect's Location is not a valid URL";
    case errc::system_error: return "system error";
    case errc::out_of_memory: return "out of memory";
    }
    return e == errc{} ? "no error" : "unknown idem error";
}

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "idem"; }
    std::string message(int v) const override { return describe(static_cast<errc>(v)); }
    // Lets callers write `ec == std::errc::timed_out` for every kind of timeout.
    std::error_condition default_error_condition(int v) const noexcept override {
        switch (static_cast<errc>(v)) {
        case errc::invalid_url:
        case errc::invalid_request: return std::errc::invalid_argument;
        case errc::unsupported_scheme: return std::errc::protocol_not_supported;
        case errc::connection_refused: return std::errc::connection_refused;
        case errc::network_unreachable: return std::errc::network_unreachable;
        case errc::host_unreachable: return std::errc::host_unreachable;
        case errc::connect_timeout:
        case errc::pool_timeout:
        case errc::read_timeout:
        case errc::write_timeout:
        case errc::deadline_exceeded: return std::errc::timed_out;
        case errc::connection_reset: return std::errc::connection_reset;
        case errc::broken_pipe: return std::errc::broken_pipe;
        case errc::server_closed_idle: return std::errc::connection_aborted;
        case errc::malformed_response:
        case errc::invalid_redirect: return std::errc::bad_message;
        case errc::too_many_redirects:
        case errc::redirect_loop: return std::errc::too_many_symbolic_link_levels;
        case errc::sink_aborted: return std::errc::operation_canceled;
        case errc::body_source_failed: return std::errc::io_error;
        case errc::tls_handshake_failed:
        case errc::tls_error: return std::errc::protocol_error;
        case errc::certificate_rejected: return std::errc::permission_denied;
        case errc::client_busy: return std::errc::device_or_resource_busy;
        case errc::invalid_socket_path: return std::errc::invalid_argument;
        case errc::out_of_memory: return std::errc::not_enough_memory;
        case errc::body_too_large:
        case errc::line_too_long:
        case errc::header_too_large:
        case errc::too_many_headers: return std::errc::message_size;
        default: return std::error_condition(v, *this);
        }
    }
};

} // namespace detail

/// The category of idem::errc; one instance per program.
inline const std::error_category& category() noexcept {
    static const detail::category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

/// How much of a request reached the socket.
enum class written : std::uint8_t { none, partial, all };

/// A failed call: what went wrong, and the facts that say whether the server may have acted.
class error {
public:
    constexpr error() noexcept = default;
    constexpr error(errc code, int sys_errno = 0) noexcept : code_(code), errno_(sys_errno) {}
    /// `why` is a static string that says which rule or step failed; it is never freed.
    constexpr error(errc code, const char* why, int sys_errno = 0) noexcept
        : code_(code), errno_(sys_errno), reason_(why) {}

    constexpr errc code() const noexcept { return code_; }
    /// errno behind the failure, or 0 when the condition did not come from the system.
    constexpr int sys_errno() const noexcept { return errno_; }
    /// The failing attempt ran on a connection kept from an earlier exchange.
    constexpr bool reused_connection() const noexcept { return reused_; }
    /// How much of the failing attempt's request was handed to the kernel.
    constexpr idem::written bytes_written() const noexcept { return written_; }
    /// The failing attempt read at least one byte of a response.
    constexpr bool response_started() const noexcept { return response_started_; }
    /// Some of the failing attempt's request body was handed to the kernel; false with
    /// bytes_written() partial means the head went out and the body did not (Expect:
    /// 100-continue waiting, or a final answer before it).
    constexpr bool body_started() const noexcept { return body_started_; }
    /// The body came from a source that cannot produce it again (a pipe, a callback without a
    /// rewind) and some of it was read: no attempt can send it again, so none was made.
    constexpr bool body_spent() const noexcept { return body_spent_; }
    /// errc::resolve_failed because the resolver said the name has no address (it does not
    /// exist: EAI_NONAME, EAI_NODATA), not that it could not find out (EAI_AGAIN): asking
    /// again at once gets the same answer, so the default retry policy does not.
    constexpr bool name_not_found() const noexcept { return name_not_found_; }
    /// Attempts made in this call, the failing one included (0 when input was rejected).
    constexpr unsigned attempts() const noexcept { return attempts_; }

    /// True when some attempt of this call handed request bytes to the kernel: the server may
    /// have received the request and acted on it. False means no attempt wrote a single byte.
    /// A partially written request counts, since a server may act once the head has arrived.
    constexpr bool may_have_executed() const noexcept {
        return written_ != idem::written::none || executed_earlier_;
    }

    /// The step or rule that failed ("while resolving the host name"), or an empty view.
    constexpr std::string_view reason() const noexcept {
        return reason_ ? std::string_view(reason_) : std::string_view();
    }

    /// The condition's description, then the reason and the system's text for errno, if any.
    std::string message() const {
        std::string m = detail::describe(code_);
        if (reason_) m.append(": ").append(reason_);
        if (errno_ != 0) m.append(" (").append(std::generic_category().message(errno_)).append(")");
        return m;
    }
    operator std::error_code() const noexcept { return make_error_code(code_); }

    // Facts are filled in by the client as the attempt proceeds.
    constexpr error& set_reused(bool v) noexcept { reused_ = v; return *this; }
    constexpr error& set_written(idem::written w) noexcept { written_ = w; return *this; }
    constexpr error& set_response_started(bool v) noexcept { response_started_ = v; return *this; }
    constexpr error& set_attempts(unsigned n) noexcept { attempts_ = n; return *this; }
    constexpr error& set_executed_earlier(bool v) noexcept { executed_earlier_ = v; return *this; }
    constexpr error& set_reason(const char* why) noexcept { reason_ = why; return *this; }
    constexpr error& set_body_started(bool v) noexcept { body_started_ = v; return *this; }
    constexpr error& set_body_spent(bool v) noexcept { body_spent_ = v; return *this; }
    constexpr error& set_name_not_found(bool v) noexcept { name_not_found_ = v; return *this; }

    friend constexpr bool operator==(const error& a, errc b) noexcept { return a.code_ == b; }
    friend constexpr bool operator!=(const error& a, errc b) noexcept { return a.code_ != b; }

private:
    errc code_ = errc{};
    int errno_ = 0;
    const char* reason_ = nullptr;
    bool reused_ = false;
    idem::written written_ = idem::written::none;
    bool response_started_ = false;
    bool executed_earlier_ = false;
    bool body_started_ = false;
    bool body_spent_ = false;
    bool name_not_found_ = false;
    unsigned attempts_ = 0;
};

} // namespace idem

namespace std {
template <> struct is_error_code_enum<idem::errc> : true_type {};
} // namespace std

#endif
