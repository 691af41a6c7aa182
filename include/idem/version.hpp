// idem: the library version; meson.build carries the same number.
#ifndef IDEM_VERSION_HPP
#define IDEM_VERSION_HPP

#define IDEM_VERSION_MAJOR 0
#define IDEM_VERSION_MINOR 1
#define IDEM_VERSION_PATCH 0
#define IDEM_VERSION_STRING "0.1.0"

#endif
