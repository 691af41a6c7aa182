#!/usr/bin/env python3
"""Each snippet must fail to compile, with a message that names what to write instead.

    compile_fail_test.py CXX [CXXFLAGS...]   (run from the source root)

A policy member with the right name and a wrong signature, or a sink that does not return
bool, would otherwise compile and be silently never called (or called wrongly)."""
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

PRELUDE = "#include <idem/idem.hpp>\n#include <chrono>\n"
CASES = [
    ("retry_response without its wait parameter",
     """struct p : idem::retry::idempotent {
         bool retry_response(const idem::response&, bool, unsigned) const { return true; }
     };
     idem::basic_client<idem::keep_alive::timeout_bounded, p> c{"http://127.0.0.1"};""",
     "RetryPolicy::retry_response must be"),
    ("on_reused taking milliseconds",
     """struct k : idem::keep_alive::timeout_bounded {
         void on_reused(std::chrono::milliseconds) {}
     };
     idem::basic_client<k> c{"http://127.0.0.1"};""",
     "KeepAlivePolicy::on_reused must be"),
    ("probe_before_reuse that is not a bool",
     """struct k : idem::keep_alive::timeout_bounded { static constexpr int probe_before_reuse = 0; };
     idem::basic_client<k> c{"http://127.0.0.1"};""",
     "probe_before_reuse must be `static constexpr bool`"),
    ("unsafe_resend_non_idempotent that is not a bool",
     """struct p : idem::retry::idempotent { static constexpr int unsafe_resend_non_idempotent = 1; };
     idem::basic_client<idem::keep_alive::timeout_bounded, p> c{"http://127.0.0.1"};""",
     "unsafe_resend_non_idempotent must be `static constexpr bool`"),
    ("a sink that returns int",
     """void f(idem::client& c, idem::response& out) {
         (void)c.send(idem::request{}, out, [](const char*, std::size_t) { return 1; });
     }""",
     "a body sink is called as `bool sink"),
    ("a sink that returns nothing",
     """void f(idem::client& c, idem::response& out) {
         (void)c.send(idem::request{}, out, [](const char*, std::size_t) {});
     }""",
     "a body sink is called as `bool sink"),
    ("a retry policy without backoff",
     """struct p { unsigned max_attempts() const { return 1; }
                  bool should_retry(const idem::failed_attempt&) const { return false; } };
     idem::basic_client<idem::keep_alive::timeout_bounded, p> c{"http://127.0.0.1"};""",
     "RetryPolicy needs `std::chrono::nanoseconds backoff"),
]
CONTROL = """struct p : idem::retry::idempotent {
    bool retry_response(const idem::response&, bool, unsigned, std::chrono::nanoseconds&) const { return false; }
};
struct k : idem::keep_alive::timeout_bounded { void on_reused(std::chrono::nanoseconds) {} };
void f(idem::basic_client<k, p>& c, idem::response& out) {
    (void)c.send(idem::request{}, out, [](const char*, std::size_t) { return true; });
}"""


def compile_snippet(cxx, flags, body, std="-std=c++17"):
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write(PRELUDE + body + "\n")
        path = f.name
    r = subprocess.run(cxx + flags + [std, "-fsyntax-only", "-I", str(ROOT / "include"), path],
                       capture_output=True, text=True)
    pathlib.Path(path).unlink()
    return r.returncode, r.stderr


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cxx, flags = [sys.argv[1]], sys.argv[2:]
    passed = failed = 0
    rc, err = compile_snippet(cxx, flags, CONTROL)
    if rc != 0:
        print("FAIL: the correct signatures do not compile:\n" + err)
        failed += 1
    else:
        passed += 1
    for name, body, want in CASES:
        rc, err = compile_snippet(cxx, flags, body)
        if rc == 0:
            print(f"FAIL: {name}: compiled")
            failed += 1
        elif want not in err:
            print(f"FAIL: {name}: no message containing {want!r}:\n{err[:2000]}")
            failed += 1
        else:
            print(f"ok: {name}")
            passed += 1
    # clang checks the lifetime annotations: a view into a temporary response is an error.
    if "clang" in subprocess.run(cxx + ["--version"], capture_output=True, text=True).stdout:
        rc, err = compile_snippet(cxx, flags + ["-Werror=dangling"],
                                  'std::string_view f() { std::string_view v = idem::response{}.header("x"); return v; }')
        if rc != 0 and ("temporary" in err or "dangl" in err):
            print("ok: a view into a temporary response is flagged (lifetimebound)")
            passed += 1
        else:
            print("FAIL: a view into a temporary response compiled:\n" + err[:1000])
            failed += 1
    rc, err = compile_snippet(cxx, flags, "int main() {}", "-std=c++14")
    if rc != 0 and "idem needs C++17" in err:
        print("ok: -std=c++14 stops with a clear #error")
        passed += 1
    else:
        print("FAIL: -std=c++14 does not stop with \"idem needs C++17\":\n" + err[:1000])
        failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
