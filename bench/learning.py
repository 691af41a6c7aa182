#!/usr/bin/env python3
"""The keep-alive economy benchmark: what learning the server's idle timeout buys and costs.

    python3 bench/learning.py [--quick] [--check] [--write-doc] [--only NAME...] [--include DIR]
                              [--serial]

Runs each scenario against idem's defaults, a fixed bound (learning off), keep-alive disabled
and Go's net/http client (when `go` is installed), each with its own server, all at once
(the clients mostly sleep: the schedule's gaps are the idle ages under test). Even requests are
POSTs, odd ones GETs, each with its own X-Request-Id; the server counts executions. Prints per
scenario: requests, GET failures, POST failures, POSTs executed twice, connections opened and
the fewest possible.

--quick shortens the long scenarios (CI); --check fails the run unless idem's defaults meet
the targets (docs/keep-alive.md); --include builds the idem clients against another include/
(to compare with an earlier version); --serial runs one client at a time.
Needs g++; the Go, Apache and nginx scenarios need golang-go, apache2, nginx (skipped if missing,
unless --check, where missing is a failure).
"""
import argparse
import collections
import concurrent.futures
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
import run as interop  # noqa: E402  (the interop suite's server set-ups)
import doc_section  # noqa: E402  (tools/doc_section.py, on the path through the interop suite)

CLIENTS = ["idem", "fixed", "disabled", "go"]
NAMES = {"idem": "idem defaults", "fixed": "idem, fixed bound (learning off)",
         "disabled": "keep-alive disabled", "go": "Go net/http (default Transport)"}


def method(i):
    return "POST" if i % 2 == 0 else "GET"


def rid(i):
    return f"fetch-{method(i).lower()}-{i}"


def schedule(gaps, mark_at=None):
    lines = []
    for i, g in enumerate(gaps):
        if i == mark_at:
            lines.append("mark")
        lines.append(f"{method(i)} {g} {rid(i)}")
    return lines


class Scenario:
    def __init__(self, name, lines, fewest, serve=None, server=None, target=None):
        self.name, self.lines, self.fewest = name, lines, fewest
        self.serve = serve      # arguments for `learning serve`, or
        self.server = server    # a tests/interop server class
        self.target = target    # (what, check) on idem's defaults' row, for --check


def scenarios(quick):
    rng = random.Random(11)
    out = []

    n = 100 if quick else 200
    out.append(Scenario(
        f"one early reset (idle timeout 5 s; {n} requests every 50 ms)",
        schedule([0] + [50] * (n - 1)), 2, serve=["idle=5000", f"rst={rid(1)}"],
        target=("connections <= requests / 20", lambda r: r["connections"] <= n // 20)))

    before = [rng.randint(200, 400) for _ in range(20)]
    m = 30 if quick else 60
    after = [rng.randint(400, 1000) for _ in range(m)]
    out.append(Scenario(
        f"idle timeout 300 ms, then 5 s (20 requests every 200-400 ms, then {m} every 400-1000 ms)",
        schedule([0] + before[1:] + after, mark_at=20),
        2 + sum(g >= 300 for g in before[1:]),
        serve=["idle=300", "change_after=20", "change_to=5000"],
        target=("reusing again within 20 requests of the change",
                lambda r: 1 <= r["reuse_after_mark"] <= 20)))

    out.append(Scenario(
        "three graceful reloads (idle timeout 5 s; 60 requests every 200 ms)",
        schedule([0] + [200] * 59), 4,
        serve=["idle=5000"] + [f"reload={rid(i)}" for i in (15, 30, 45)],
        target=("connections <= 6", lambda r: r["connections"] <= 6)))

    out.append(Scenario(
        "a reset 1 s after a request went out (a crash; 40 requests every 100 ms)",
        schedule([0] + [100] * 39), 2, serve=["idle=5000", f"crash={rid(11)}"],
        target=("connections <= 3", lambda r: r["connections"] <= 3)))

    resets = [i for i in range(40) if i % 5 == 4]
    out.append(Scenario(
        "race_demo table 2: a reset after every 5th request (40 requests every 2-5 ms)",
        schedule([0] + [rng.randint(2, 5) for _ in range(39)]), 1 + len(resets),
        serve=["idle=5000"] + [f"kill={rid(i)}" for i in resets],
        target=("connections <= 15", lambda r: r["connections"] <= 15)))

    n = 100 if quick else 200
    gaps = [0] + [rng.randint(200, 310) for _ in range(n - 1)]
    out.append(Scenario(
        f"the idle race: Go net/http, IdleTimeout 300 ms ({n} requests every 200-310 ms)",
        schedule(gaps), 1 + sum(g >= 300 for g in gaps), server=interop.GoServer,
        target=("POST failures <= the fixed bound's", None)))

    t = 2 if quick else 5
    k = 20 if quick else 30
    gaps = [0] + [rng.randint(int(t * 600), int(t * 1300)) for _ in range(k - 1)]

    class ApacheHint(interop.Apache):
        keepalive_timeout = t
    out.append(Scenario(
        f"Apache, KeepAliveTimeout {t} (hint timeout={t}; {k} requests every {t * 0.6:g}-{t * 1.3:g} s)",
        schedule(gaps), 1 + sum(g >= t * 1000 for g in gaps), server=ApacheHint,
        target=("connections <= 1 + the gaps past the hint's bound (timeout - min(1 s, timeout/4))",
                lambda r, hb=(t - min(1, t / 4)) * 1000, gs=gaps:
                r["connections"] <= 1 + sum(g >= hb for g in gs))))

    class NginxMax10(interop.Nginx):
        keepalive_requests = 10
    out.append(Scenario(
        "nginx, keepalive_requests 10 (100 requests every 20 ms)",
        schedule([0] + [20] * 99), 10, server=NginxMax10,
        target=("connections <= 11", lambda r: r["connections"] <= 11)))
    return out


def build(tmp, include):
    exe = os.path.join(tmp, "learning")
    subprocess.run(["c++", "-std=c++17", "-O2", "-pthread", f"-I{include}",
                    os.path.join(ROOT, "bench", "learning.cpp"), "-o", exe], check=True)
    gocl = None
    if shutil.which("go"):
        gocl = os.path.join(tmp, "learning_client")
        env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"), GO111MODULE="off")
        env.setdefault("HOME", tmp)
        subprocess.run(["go", "build", "-o", gocl, os.path.join(ROOT, "bench", "learning_client.go")],
                       check=True, env=env, cwd=tmp)
    return exe, gocl


RESULT = re.compile(r"(\w+)=(-?\d+)")


def run_job(sc, client, exe, gocl, tmp):
    work = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(work, "schedule")
    with open(path, "w") as f:
        f.write("\n".join(sc.lines) + "\n")
    srv = proc = None
    try:
        if sc.serve is not None:
            proc = subprocess.Popen([exe, "serve"] + sc.serve, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True)
            url = proc.stdout.readline().strip()
        else:
            srv = sc.server()
            srv.start(work)
            url = srv.url()
        cmd = [gocl, url, path] if client == "go" else [exe, "client", client, url, path]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{client}: exit {done.returncode}: {done.stderr[-500:]}")
        r = {k: int(v) for k, v in RESULT.findall(done.stdout)}
        r["log"] = done.stderr
        if proc is not None:
            out, _ = proc.communicate("", timeout=30)
            r.update({k: int(v) for k, v in RESULT.findall(out)})
        else:
            counts = srv.executions()
            r["posts_twice"] = sum(1 for key, n in counts.items() if key.startswith("POST ") and n >= 2)
        return r
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if srv is not None:
            srv.stop()


def available(sc):
    return sc.server is None or sc.server().available()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--serial", action="store_true")
    ap.add_argument("--include", default=os.path.join(ROOT, "include"))
    ap.add_argument("--write-doc", action="store_true",
                    help="put the tables in docs/keep-alive.md")
    ap.add_argument("--only", nargs="*", default=None, help="scenarios whose name starts so")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="idem-learning-")
    os.chmod(tmp, 0o755)
    problems = []
    text = []

    def emit(line=""):
        print(line)
        text.append(line)
    try:
        exe, gocl = build(tmp, args.include)
        if gocl is None and args.check:
            problems.append("go is not installed: the Go client and server are not measured")
        chosen = [s for s in scenarios(args.quick)
                  if args.only is None or any(s.name.startswith(o) for o in args.only)]
        jobs = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=1 if args.serial else 16) as pool:
            for sc in chosen:
                if not available(sc):
                    (problems.append if args.check else print)(f"skipped (not installed): {sc.name}")
                    continue
                for cl in CLIENTS:
                    if cl == "go" and gocl is None:
                        continue
                    jobs[(sc.name, cl)] = pool.submit(run_job, sc, cl, exe, gocl, tmp)
        for sc in chosen:
            rows = [(cl, jobs[(sc.name, cl)]) for cl in CLIENTS if (sc.name, cl) in jobs]
            if not rows:
                continue
            emit()
            emit(f"**{sc.name}**")
            emit()
            emit("| client | requests | GET failures | POST failures | POSTs executed twice | "
                  "connections (by GETs) | fewest possible |" + (" reusing again after |" if "then 5 s" in sc.name else ""))
            emit("|---|---|---|---|---|---|---|" + ("---|" if "then 5 s" in sc.name else ""))
            res = {}
            for cl, fut in rows:
                try:
                    r = fut.result()
                except Exception as e:  # a client or server that failed is a failed run
                    problems.append(f"{sc.name}: {NAMES[cl]}: {e}")
                    continue
                res[cl] = r
                extra = ""
                if "then 5 s" in sc.name:
                    extra = f" {r['reuse_after_mark'] if r['reuse_after_mark'] > 0 else 'never'} |"
                emit(f"| {NAMES[cl]} | {r['requests']} | {r['get_failures']} | {r['post_failures']} | "
                      f"{r['posts_twice']} | {r['connections']} ({r['get_connections']}) | {sc.fewest} |{extra}")
            for cl in ("idem", "fixed", "disabled"):
                r = res.get(cl)
                if r is None:
                    continue
                if r["get_failures"] or r["posts_twice"]:
                    problems.append(f"{sc.name}: {NAMES[cl]}: {r['get_failures']} GET failures, "
                                    f"{r['posts_twice']} POSTs executed twice\n{r['log']}")
            idem = res.get("idem")
            if args.check and idem is not None and sc.target is not None:
                what, ok = sc.target
                if ok is None:  # the idle race: against the fixed bound, measured in the same run
                    fixed = res.get("fixed")
                    good = fixed is not None and idem["post_failures"] <= fixed["post_failures"]
                else:
                    good = ok(idem)
                if not good:
                    problems.append(f"{sc.name}: idem defaults miss the target: {what}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.write_doc:
        doc_section.replace(os.path.join(ROOT, "docs", "keep-alive.md"), "LEARNING", "\n".join(text).strip())
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
