# idem for find_package(idem) after a Meson install: the header-only target idem::idem. The
# file sits in PREFIX/share/cmake/idem and the headers in PREFIX/include (Meson's defaults).
get_filename_component(_idem_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET idem::idem)
  add_library(idem::idem INTERFACE IMPORTED)
  set_target_properties(idem::idem PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_idem_prefix}/include"
    INTERFACE_COMPILE_FEATURES cxx_std_17)
endif()
unset(_idem_prefix)
