// A second translation unit that includes idem and instantiates the client: linking it with the
// others proves every function defined in the headers is inline (no duplicate symbols).
#include "support/test_idem.hpp"

TEST_CASE("a second translation unit links") {
    idem::basic_client<idem::keep_alive::disabled, idem::retry::never> c{"http://127.0.0.1:1"};
    CHECK(c.init_error() == idem::errc{});
    CHECK(idem::to_string(idem::errc::invalid_url) == "invalid_url");
}
