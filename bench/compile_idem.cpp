// What the compile-time figure measures for idem: a file that includes it and makes a request.
#include <idem/idem.hpp>

int main() {
    idem::client c{"http://127.0.0.1:8080"};
    auto r = c.get("/");
    return r && r->status == 200 ? 0 : 1;
}
