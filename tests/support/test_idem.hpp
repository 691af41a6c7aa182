// Includes idem from include/ or, in the single-header build of the suite, from single_include/.
#ifndef IDEM_TEST_SUPPORT_TEST_IDEM_HPP
#define IDEM_TEST_SUPPORT_TEST_IDEM_HPP
#include <idem/idem.hpp>

#include <ostream> // doctest prints std::error_code through it
#include <doctest/doctest.h>
#endif
