#include "support/test_idem.hpp"

#include <cerrno>
#include <netdb.h>
#include <set>
#include <string>
#include <system_error>

using idem::errc;

namespace {
const errc all_codes[] = {
    errc::invalid_url, errc::unsupported_scheme, errc::invalid_request, errc::invalid_socket_path, errc::resolve_failed,
    errc::connection_refused, errc::network_unreachable, errc::host_unreachable,
    errc::connect_timeout, errc::pool_timeout, errc::connection_reset, errc::broken_pipe, errc::server_closed_idle,
    errc::unexpected_eof, errc::read_timeout, errc::write_timeout, errc::deadline_exceeded, errc::body_source_failed,
    errc::malformed_response, errc::header_too_large, errc::too_many_headers,
    errc::body_too_large, errc::line_too_long, errc::sink_aborted, errc::too_many_redirects,
    errc::redirect_loop, errc::invalid_redirect, errc::tls_handshake_failed, errc::certificate_rejected,
    errc::proxy_refused, errc::tls_error, errc::system_error,
};
}

TEST_CASE("errc integrates with std::error_code") {
    std::error_code ec = errc::connection_reset;
    CHECK(ec.category().name() == std::string("idem"));
    CHECK(ec == errc::connection_reset);
    CHECK(ec != errc::broken_pipe);
    CHECK(ec == std::errc::connection_reset);
    CHECK(ec.message() == "connection reset by peer");
    CHECK(static_cast<bool>(ec));
}

TEST_CASE("every timeout compares equal to std::errc::timed_out") {
    for (errc e : {errc::connect_timeout, errc::pool_timeout, errc::read_timeout, errc::write_timeout, errc::deadline_exceeded})
        CHECK(std::error_code(e) == std::errc::timed_out);
    CHECK(std::error_code(errc::server_closed_idle) != std::errc::timed_out);
    CHECK(std::error_code(errc::invalid_url) == std::errc::invalid_argument);
    CHECK(std::error_code(errc::connection_refused) == std::errc::connection_refused);
}

TEST_CASE("every code has a distinct name and message; values start at 1") {
    std::set<std::string> names, messages;
    for (errc e : all_codes) {
        CAPTURE(static_cast<int>(e));
        CHECK(static_cast<int>(e) >= 1);
        CHECK(idem::to_string(e) != "unknown");
        names.insert(std::string(idem::to_string(e)));
        messages.insert(std::error_code(e).message());
    }
    CHECK(names.size() == sizeof all_codes / sizeof all_codes[0]);
    CHECK(messages.size() == sizeof all_codes / sizeof all_codes[0]);
    CHECK(idem::to_string(static_cast<errc>(999)) == "unknown");
    CHECK(idem::to_string(errc::server_closed_idle) == "server_closed_idle");
}

TEST_CASE("errno maps to errc by phase") {
    using idem::detail::errno_to_errc;
    using idem::detail::io_phase;
    struct row {
        int e;
        io_phase phase;
        errc want;
    };
    const row table[] = {
        {ECONNREFUSED, io_phase::connect, errc::connection_refused},
        {ENETUNREACH, io_phase::connect, errc::network_unreachable},
        {ENETDOWN, io_phase::connect, errc::network_unreachable},
        {EHOSTUNREACH, io_phase::connect, errc::host_unreachable},
        {ETIMEDOUT, io_phase::connect, errc::connect_timeout},
        {ECONNRESET, io_phase::read, errc::connection_reset},
        {ECONNRESET, io_phase::write, errc::connection_reset},
        {ECONNABORTED, io_phase::read, errc::connection_reset},
        {EPIPE, io_phase::write, errc::broken_pipe},
        {EAGAIN, io_phase::read, errc::read_timeout},
        {EAGAIN, io_phase::write, errc::write_timeout},
        {ETIMEDOUT, io_phase::read, errc::read_timeout},
        {ENOMEM, io_phase::read, errc::system_error},
        {EMFILE, io_phase::connect, errc::system_error},
    };
    for (const auto& r : table) {
        CAPTURE(r.e);
        CHECK(errno_to_errc(r.e, r.phase) == r.want);
    }
    const auto e = idem::detail::sys_error(EMFILE, io_phase::connect);
    CHECK(e.code() == errc::system_error);
    CHECK(e.sys_errno() == EMFILE);
}

TEST_CASE("getaddrinfo codes map to errc") {
    using idem::detail::gai_to_error;
    CHECK(gai_to_error(EAI_NONAME, 0).code() == errc::resolve_failed);
    CHECK(gai_to_error(EAI_AGAIN, 0).code() == errc::resolve_failed);
    CHECK(gai_to_error(EAI_FAIL, 0).code() == errc::resolve_failed);
    // A name that does not exist is told apart from a resolver that could not answer.
    CHECK(gai_to_error(EAI_NONAME, 0).name_not_found());
#if defined(EAI_NODATA)
    CHECK(gai_to_error(EAI_NODATA, 0).name_not_found());
#endif
    CHECK(!gai_to_error(EAI_AGAIN, 0).name_not_found());
    CHECK(!gai_to_error(EAI_FAIL, 0).name_not_found());
    CHECK(!gai_to_error(EAI_MEMORY, 0).name_not_found());
    // getaddrinfo's own words are the reason.
    CHECK(gai_to_error(EAI_NONAME, 0).reason() == std::string_view(::gai_strerror(EAI_NONAME)));
    CHECK(gai_to_error(EAI_MEMORY, 0).code() == errc::out_of_memory);
    CHECK(gai_to_error(EAI_SYSTEM, EACCES).code() == errc::system_error);
    CHECK(gai_to_error(EAI_SYSTEM, EACCES).sys_errno() == EACCES);
    // system_error shows the errno's text.
    CHECK(gai_to_error(EAI_SYSTEM, EACCES).message().find(std::generic_category().message(EACCES)) !=
          std::string::npos);
}

TEST_CASE("may_have_executed follows what was written, in this attempt or an earlier one") {
    idem::error e(errc::connection_reset);
    CHECK(!e.may_have_executed());
    CHECK(e.set_written(idem::written::partial).may_have_executed());
    CHECK(e.set_written(idem::written::all).may_have_executed());
    idem::error later(errc::connection_refused);
    CHECK(!later.may_have_executed());
    CHECK(later.set_executed_earlier(true).may_have_executed());
    CHECK(later == errc::connection_refused);
    std::error_code ec = later;
    CHECK(ec == errc::connection_refused);
}
