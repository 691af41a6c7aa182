#!/usr/bin/env python3
"""The README, run as a new user runs it: every ```sh block of README.md, literally and in
order, in a fresh clone of this repository, each in bash with -e. A block that fails, or that
does not print what the README says it prints, fails the run.

    tools/readme_walkthrough.py          clone HEAD into a temporary directory and run there
    tools/readme_walkthrough.py --here   run in this checkout (it must be clean)

A block is matched to what it must show by its first line (EXPECT below); a new block with no
entry must still succeed. Blocks run one after another in the same directory, so a block may
use what an earlier one built, as a reader would.
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK_TIMEOUT = 40 * 60  # seconds; the test suite block is the long one

# first line of a block -> (pattern, how many lines at least) its output (stdout and stderr
# together) must hold
EXPECT = {
    "c++ -std=c++17 -O2 -Iinclude examples/race_demo.cpp -o race_demo && ./race_demo":
        [(r"^\| idem defaults ", 2), (r"^\| naive keep-alive", 2)],
    "tools/test.sh":
        [(r"^Ok: +[1-9]", 1), (r"^Fail: +0\s*$", 1)],
    "c++ -std=c++17 -O2 -Iinclude examples/fetch.cpp -o fetch":
        # 20 POSTs sent, each answered (-v's summary line per request); the server's report
        [(r"^> POST http://127\.0\.0\.1:\d+/$", 20), (r"^\* done: 200 ", 20)],
}
FORBID = {
    "c++ -std=c++17 -O2 -Iinclude examples/fetch.cpp -o fetch": [r"^error: "],
}


def blocks(text):
    out, cur = [], None
    for line in text.splitlines():
        if cur is None and line.strip() == "```sh":
            cur = []
        elif cur is not None and line.strip() == "```":
            out.append("\n".join(cur))
            cur = None
        elif cur is not None:
            cur.append(line)
    return out


def main(argv):
    here = "--here" in argv
    tmp = None
    if here:
        where = ROOT
    else:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="idem-readme-"))
        where = tmp / "idem"
        r = subprocess.run(["git", "clone", "-q", str(ROOT), str(where)], capture_output=True, text=True)
        if r.returncode:
            print("FAIL cannot clone:", r.stderr)
            return 1
    try:
        found = blocks((where / "README.md").read_text())
        if not found:
            print("FAIL README.md has no sh block")
            return 1
        passed = failed = 0
        for b in found:
            first = b.splitlines()[0]
            print(f"=== {first}", flush=True)
            try:
                r = subprocess.run(["bash", "-e", "-c", b], cwd=str(where), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=BLOCK_TIMEOUT)
                output, code = r.stdout, r.returncode
            except subprocess.TimeoutExpired as t:
                output, code = (t.stdout or b"").decode(errors="replace"), "timeout"
            problems = []
            if code != 0:
                problems.append(f"exit status {code}")
            for pat, n in EXPECT.get(first, []):
                got = len(re.findall(pat, output, re.M))
                if got < n:
                    problems.append(f"{got} lines match {pat!r}, not {n}")
            for pat in FORBID.get(first, []):
                if re.search(pat, output, re.M):
                    problems.append(f"output matches {pat!r}")
            if problems:
                failed += 1
                print(output[-6000:])
                print(f"FAIL {first}: " + "; ".join(problems))
            else:
                passed += 1
                print(f"ok   {first}")
        missing = [k for k in EXPECT if k not in [b.splitlines()[0] for b in found]]
        for k in missing:
            failed += 1
            print(f"FAIL the README no longer has a block starting {k!r}: update EXPECT")
        print(f"{passed} passed, {failed} failed")
        return 1 if failed or passed == 0 else 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
