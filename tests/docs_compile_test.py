#!/usr/bin/env python3
"""Every C++ block in README.md and docs/*.md compiles.

    docs_compile_test.py CXX [CXXFLAGS...]   (run from the source root)

Each ```cpp block becomes the body of a function (its #include lines move to the top, after
idem's own header), so a fragment a user pastes into a function is real C++: undeclared names
and pseudo-code fail here."""
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```cpp\n(.*?)^```", re.S | re.M)
PRELUDE = ["#include <idem/idem.hpp>", "#include <chrono>", "#include <cstdio>", "#include <string>",
           "#include <system_error>", "#include <type_traits>", "#include <vector>"]


def blocks():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            yield f"{doc.relative_to(ROOT)}:{line}", m.group(1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cxx = sys.argv[1:]
    passed = failed = 0
    for where, code in blocks():
        lines = code.splitlines()
        includes = [l for l in lines if l.startswith("#include")]
        body = [l for l in lines if not l.startswith("#include")]
        src = "\n".join(PRELUDE + includes + ["void fragment() {", *body, "}", ""])
        with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
            f.write(src)
            path = f.name
        r = subprocess.run(cxx + ["-std=c++17", "-fsyntax-only", "-I", str(ROOT / "include"), path],
                           capture_output=True, text=True)
        pathlib.Path(path).unlink()
        if r.returncode == 0:
            passed += 1
            print(f"ok   {where}")
        else:
            failed += 1
            print(f"FAIL {where}:\n{r.stderr[:3000]}")
    if passed + failed == 0:
        print("no C++ blocks found")
        failed = 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
