#!/usr/bin/env python3
"""fetch --parallel 8: eight threads on one pooled client, 400 requests each run, against a
server with a 300 ms idle timeout (requests every 200-310 ms per thread), a server that resets
each connection after executing its 5th request (a worker that crashes), and Go's net/http with IdleTimeout 300ms
(when `go` is installed; with IDEM_INTEROP_REQUIRE_ALL=1 its absence is a failure). Checks: no
GET fails, no POST runs twice, every failed POST says it may have been executed, bodies are
printed whole, and the connections never exceed --max-connections.

usage: fetch_parallel_test.py FETCH RACE_DEMO
"""
import os
import re
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
N = 400
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def fetch(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def race_demo_server(race_demo, idle_ms, reset_every=0):
    p = subprocess.Popen([race_demo, "--serve", str(idle_ms), str(reset_every)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    return p, p.stdout.readline().strip()


def race_demo_stats(p):
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    return {k: int(v) for k, v in (kv.split("=") for kv in out.split()[1:])}


def run_both(exe, url, extra):
    """GET and POST runs at once; returns {method: CompletedProcess}."""
    out = {}

    def one(method):
        args = ["--parallel", "8", "--request-ids", "--repeat", str(N), *extra]
        if method == "POST":
            args = ["-X", "POST", "-d", "x"] + args
        out[method] = fetch(exe, *args, url)

    ts = [threading.Thread(target=one, args=(m,)) for m in ("GET", "POST")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


ERR = re.compile(r"^error: (\w+): .*\((GET|POST) \S+ (fetch-\S+), \d+ attempts?\)(; the request may have been executed)?$")


def judge(name, runs, posts_twice):
    for method, r in runs.items():
        errs = [l for l in r.stderr.splitlines() if l.startswith("error:")]
        print(f"{name} {method}: {len(errs)} of {N} failed")
        check(all(ERR.match(l) for l in errs), f"{name} {method}: an error line out of format: {errs[:2]}")
        if method == "GET":
            check(not errs, f"{name}: {len(errs)} GETs failed: {errs[:3]}")
            check(r.stdout == "ok" * N, f"{name}: GET bodies garbled or missing ({len(r.stdout)} bytes)")
        else:
            check(all(l.endswith("; the request may have been executed") for l in errs
                      if not l.startswith("error: connection_refused")),
                  f"{name}: a failed POST did not say it may have been executed")
            check(r.stdout == "ok" * (N - len(errs)), f"{name}: POST bodies garbled or missing")
        check(r.returncode == (1 if errs else 0), f"{name} {method}: exit status {r.returncode}")
    check(posts_twice == 0, f"{name}: {posts_twice} POSTs executed twice")


def main():
    exe, race_demo = sys.argv[1], sys.argv[2]

    # The idle race, eight threads.
    p, url = race_demo_server(race_demo, 300)
    runs = run_both(exe, url + "/race", ["--interval", "200-310"])
    st = race_demo_stats(p)
    judge("idle race", runs, 0 if st["max_per_id"] <= 1 else 1)
    check(st["POST"] <= N, "idle race: more POST executions than requests")

    # A server that resets after executing every 5th request.
    p, url = race_demo_server(race_demo, 5000, 5)
    runs = run_both(exe, url + "/reset", ["--max-connections", "4"])
    st = race_demo_stats(p)
    judge("resets", runs, 0 if st["POST"] <= N else st["POST"] - N)

    # --max-connections bounds what is open at once: one connection for eight threads.
    p, url = race_demo_server(race_demo, 5000)
    r = fetch(exe, "--parallel", "8", "--max-connections", "1", "--repeat", "40", url + "/one")
    st = race_demo_stats(p)
    check(r.returncode == 0 and r.stdout == "ok" * 40, f"max-connections 1: {r.returncode} {r.stderr[-200:]}")
    check(st["connections"] == 1, f"max-connections 1: the server saw {st['connections']} connections")

    # Bad values are usage errors.
    check(fetch(exe, "--parallel", "0", "http://h/").returncode == 2, "--parallel 0 is not a usage error")
    check(fetch(exe, "--max-connections", "x", "http://h/").returncode == 2, "--max-connections x is accepted")

    # Go's net/http, IdleTimeout 300ms.
    if shutil.which("go") is None:
        if os.environ.get("IDEM_INTEROP_REQUIRE_ALL") == "1":
            check(False, "go is not installed")
        else:
            print("skipped: Go (apt-get install golang-go)")
    else:
        tmp = tempfile.mkdtemp(prefix="idem-parallel-")
        try:
            env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GO111MODULE="off")
            env.setdefault("HOME", tmp)
            server = os.path.join(tmp, "goserver")
            subprocess.run(["go", "build", "-o", server, os.path.join(HERE, "interop", "goserver.go")],
                           check=True, env=env, cwd=tmp)
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            proc = subprocess.Popen([server, "-addr", f"127.0.0.1:{port}", "-idle", "300ms"],
                                    stdout=subprocess.PIPE, text=True)
            try:
                proc.stdout.readline()  # "listening ..."
                url = f"http://127.0.0.1:{port}/go"
                runs = run_both(exe, url, ["--interval", "200-310"])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
                    counts = [line.split() for line in resp.read().decode().splitlines()]
                twice = sum(1 for m, _, n in counts if m == "POST" and int(n) > 1)
                judge("Go IdleTimeout 300ms", runs, twice)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
