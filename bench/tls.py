#!/usr/bin/env python3
"""What https costs per request on a kept-alive connection: idem::tls::client, libcurl and
cpp-httplib (both with OpenSSL) against nginx over TLS on loopback, 13-byte body.

    python3 bench/tls.py [--quick] [--check] [--write-doc]

Counted figures, each the difference between runs of N1 and N2 requests divided by N2-N1 (so
the handshake cancels out): instructions (callgrind), heap allocations (memcheck), system
calls (strace -f -c, the fewest of 3 runs); and requests per second (median of R interleaved rounds, min-max).
Then the same for a new connection per request, with a full handshake each time and with the
server's session resumed.
--write-doc rewrites the TLS part of docs/benchmarks.md; --check fails on a missed target:
at most 2 allocations (OpenSSL's own, in SSL_write_ex) and 3 system calls per request for idem
(the probe, one send, one recv, as on plaintext), idem ahead of both peers on every counted figure,
and a resumed reconnect at most half the instructions of a full one.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: the same measuring helpers)

sys.path.insert(0, os.path.join(bench.ROOT, "tests", "support"))
from loopback import make_certs  # noqa: E402  (the test certificates)

CLIENTS = ["idem", "curl", "httplib"]
NAMES = {"idem": "idem::tls::client", "curl": "libcurl (easy, OpenSSL)", "httplib": "cpp-httplib (SSLClient, OpenSSL)"}


def build(out):
    flags = ["c++", "-std=c++17", "-O2", "-DNDEBUG", "-DBENCH_TLS", "-pthread", f"-I{bench.ROOT}/include"]
    extra = {"idem": ["-lssl", "-lcrypto"], "curl": ["-lcurl"],
             # Debian's library is built with these; the header must agree with it.
             "httplib": ["-DCPPHTTPLIB_OPENSSL_SUPPORT", "-DCPPHTTPLIB_ZLIB_SUPPORT", "-DCPPHTTPLIB_BROTLI_SUPPORT",
                         "-lcpp-httplib", "-lssl", "-lcrypto"]}
    for c in CLIENTS:
        subprocess.run(flags + [f"{bench.BENCH}/client_{c}.cpp", "-o", f"{out}/{c}"] + extra[c], check=True)


# A new connection for every request: a full handshake each time, or the server's session
# resumed (the default; RFC 8446 §2.2).
RECONNECT_MODES = [("full handshake (resume_sessions = false)", {"BENCH_NO_RESUME": "1"}),
                   ("session resumed (the default)", {})]


def main(argv):
    quick = "--quick" in argv
    rounds = 3 if quick else 7
    n_rps = 300 if quick else 2000
    n1, n2 = (50, 450) if quick else (200, 1200)
    r1, r2 = (5, 25) if quick else (20, 120)  # a handshake each: far costlier under valgrind
    r_rps = 100 if quick else 500
    if not shutil.which("nginx") or not shutil.which("openssl"):
        print("FAIL: needs nginx and openssl (apt-get install nginx-light openssl libssl-dev)")
        return 1
    bench.ensure_tools()
    out = tempfile.mkdtemp(prefix="idem-bench-tls-")
    try:
        build(out)
        _, cert, key = make_certs(out)
        os.environ["BENCH_CA"] = os.path.join(out, "ca.pem")
        server = bench.Nginx(out, tls=(cert, key))
        try:
            for c in CLIENTS:
                bench.run_client(out, c, server.port, "/13", 10)
            rps = {c: [] for c in CLIENTS}
            for _ in range(rounds):
                for c in CLIENTS:
                    r = bench.run_client(out, c, server.port, "/13", n_rps)
                    ns = int(re.search(r"ns=(\d+)", r.stdout).group(1))
                    rps[c].append(n_rps / (ns / 1e9))
            figures = {c: bench.counted(out, c, server.port, "/13", n1, n2, out) for c in CLIENTS}
            reconnects = {}
            for mode, env in RECONNECT_MODES:
                os.environ.update(env, BENCH_RECONNECT="1")
                try:
                    times = []
                    for _ in range(rounds):
                        r = bench.run_client(out, "idem", server.port, "/13", r_rps)
                        times.append(r_rps / (int(re.search(r"ns=(\d+)", r.stdout).group(1)) / 1e9))
                    reconnects[mode] = (bench.counted(out, "idem", server.port, "/13", r1, r2, out), times)
                finally:
                    for k in ("BENCH_RECONNECT", *env):
                        os.environ.pop(k, None)
        finally:
            server.stop()
        lines = [f"nginx over TLS (TLS 1.3, P-256 certificate) on loopback, 13-byte body, one kept-alive "
                 f"connection; counted: runs of {n2} minus {n1} requests; requests per second: median "
                 f"(min-max) of {rounds} interleaved rounds of {n_rps}.", "",
                 "| client | instructions | heap allocations | system calls | requests/s |",
                 "| --- | --- | --- | --- | --- |"]
        for c in CLIENTS:
            f, v = figures[c], rps[c]
            lines.append(f"| {NAMES[c]} | {f['instructions']:,.0f} | {f['allocations']:.1f} | {f['syscalls']:.1f} | "
                         f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f}) |")
        lines += ["", f"A new connection for every request (idem::tls::client, close() after each): counted: runs "
                  f"of {r2} minus {r1} requests; requests per second: median (min-max) of {rounds} rounds of {r_rps}.", "",
                  "| handshake | instructions | heap allocations | system calls | requests/s |",
                  "| --- | --- | --- | --- | --- |"]
        for mode, _ in RECONNECT_MODES:
            f, v = reconnects[mode]
            lines.append(f"| {mode} | {f['instructions']:,.0f} | {f['allocations']:.1f} | {f['syscalls']:.1f} | "
                         f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f}) |")
        text = "\n".join(lines)
        print(text)
        full, resumed = (reconnects[m][0] for m, _ in RECONNECT_MODES)
        checks = [
            # Both are OpenSSL 3.0's, inside SSL_write_ex (valgrind --tool=dhat shows them), with
            # TLS 1.2 and 1.3 and whatever the SSL modes; idem's own code allocates nothing.
            ("idem over TLS: at most OpenSSL's 2 heap allocations per request", figures["idem"]["allocations"] < 2.01),
            (f"idem over TLS: at most 3 system calls per request, as on plaintext ({figures['idem']['syscalls']:.3f})",
             figures["idem"]["syscalls"] <= 3.05),
            ("idem over TLS ahead of libcurl and cpp-httplib on every counted figure",
             all(figures["idem"][k] < figures[o][k] for o in ("curl", "httplib")
                 for k in ("instructions", "allocations", "syscalls"))),
            (f"a reconnect that resumes the session: at most half the instructions of a full handshake "
             f"({resumed['instructions'] / full['instructions']:.2f})", resumed["instructions"] <= full["instructions"] / 2),
        ]
        print()
        for name, ok in checks:
            print(("ok   " if ok else "MISS ") + name)
        if "--write-doc" in argv:
            doc = os.path.join(bench.ROOT, "docs", "benchmarks.md")
            bench.doc_section.replace(doc, "TLS", text, "bench/tls.py")
            print(f"\nwrote {doc}")
        return 1 if "--check" in argv and not all(ok for _, ok in checks) else 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
