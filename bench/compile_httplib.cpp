// What the compile-time figure measures for cpp-httplib: the same file as compile_idem.cpp.
#include <httplib.h>

int main() {
    httplib::Client c("127.0.0.1", 8080);
    auto r = c.Get("/");
    return r && r->status == 200 ? 0 : 1;
}
