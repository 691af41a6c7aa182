#include "support/test_idem.hpp"

#include <string>
#include <utility>

TEST_CASE("result holds a value or an error") {
    idem::result<std::string> ok = std::string("hi");
    REQUIRE(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK(*ok == "hi");
    CHECK(ok->size() == 2);
    CHECK(ok.value() == "hi");

    idem::result<std::string> bad = idem::errc::read_timeout;
    CHECK(!bad.has_value());
    CHECK(bad.error() == idem::errc::read_timeout);

    idem::result<std::string> copy = ok;
    CHECK(*copy == "hi");
    copy = bad;
    CHECK(!copy);
    copy = std::move(ok);
    CHECK(*copy == "hi");

    idem::result<void> v;
    CHECK(v.has_value());
    idem::result<void> vbad = idem::error(idem::errc::invalid_url);
    CHECK(vbad.error() == idem::errc::invalid_url);
}

TEST_CASE("the error of a success reads as no error, not as a system error") {
    idem::result<void> ok;
    CHECK(ok.error().code() == idem::errc{});
    CHECK(ok.error().message() == "no error");
    CHECK(idem::to_string(idem::errc{}) == "success");
    CHECK(idem::error{}.message().find("system") == std::string::npos);
}
