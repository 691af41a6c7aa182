// Cookbook: idem's errors as std::error_code — compare with idem::errc or portable std::errc,
// log with .message(), and read the facts that say whether the server may have acted.
//   ./error_code http://127.0.0.1:1/     (a port where nothing listens)
#include <idem/idem.hpp>

#include <cstdio>
#include <string>
#include <system_error>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    idem::client_options o;
    o.connect_timeout = std::chrono::seconds(2);
    idem::basic_client<idem::keep_alive::timeout_bounded, idem::retry::never> c{argv[1], o};
    auto r = c.get("/");
    if (r) {
        std::printf("%d\n", r->status);
        return 0;
    }
    const idem::error& e = r.error();
    const std::error_code ec = e; // category "idem"
    std::printf("%s: %s (%s)\n", ec.category().name(), ec.message().c_str(),
                std::string(idem::to_string(e.code())).c_str());
    if (ec == std::errc::connection_refused) std::printf("nothing listens there\n");
    else if (ec == std::errc::timed_out) std::printf("a timeout of some kind\n");
    else if (e == idem::errc::server_closed_idle) std::printf("the keep-alive race\n");
    std::printf("may have executed: %s; bytes written: %s; errno: %d\n",
                e.may_have_executed() ? "yes" : "no",
                e.bytes_written() == idem::written::none ? "none"
                : e.bytes_written() == idem::written::partial ? "part" : "all",
                e.sys_errno());
    return 1;
}
