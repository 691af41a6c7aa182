#!/usr/bin/env python3
"""fetch against a server whose idle timeout is 300 ms, 20 requests at intervals of 200-310 ms:
no GET fails, no POST runs twice, at most one POST fails (the first race teaches the bound).
Also checks fetch's contract: bodies on stdout, one `error:` line per failure, exit status.

usage: fetch_race_test.py FETCH RACE_DEMO
"""
import re
import signal
import subprocess
import sys


def start_server(race_demo, idle_ms):
    p = subprocess.Popen([race_demo, "--serve", str(idle_ms)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip()
    assert url.startswith("http://"), url
    return p, url


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    stats = dict(kv.split("=") for kv in out.split()[1:])
    return {k: int(v) for k, v in stats.items()}


def fetch(exe, *args, raw=False):
    return subprocess.run([exe, *args], capture_output=True, text=not raw, timeout=60)


def main():
    fetch_exe, race_demo = sys.argv[1], sys.argv[2]
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what)

    # The race, GET and POST.
    for method in ("GET", "POST"):
        server, url = start_server(race_demo, 300)
        args = ["--repeat", "20", "--interval", "200-310", "--request-ids", "-v", url + "/race"]
        if method == "POST":
            args = ["-X", "POST", "-d", "order=1"] + args
        r = fetch(fetch_exe, *args)
        stats = stop_server(server)
        errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
        print(f"{method}: {len(errors)} failed; server: {stats}")
        for l in errors:
            print("  ", l)
        check(stats["max_per_id"] <= 1 or method == "GET", f"{method}: a request ran twice")
        if method == "GET":
            check(not errors, "a GET failed")
            check(r.returncode == 0, "fetch exited non-zero with no failure")
            check(r.stdout == "ok" * 20, "bodies were not all printed")
        else:
            check(len(errors) <= 1, "more than one POST failed")
            check(stats["POST"] <= 20, "more POST executions than requests")
            check(all("may have been executed" in l for l in errors),
                  "a failed POST did not say it may have been executed")
            check(r.returncode == (1 if errors else 0), "wrong exit status")

    # -v prints what the keep-alive policy learned, after the probe that taught it.
    server, url = start_server(race_demo, 100)
    r = fetch(fetch_exe, "-v", "--repeat", "3", "--interval", "150,50", "-o", "/dev/null", url + "/")
    stop_server(server)
    log = [l for l in r.stderr.splitlines() if l.startswith("* ")]
    learned = [i for i, l in enumerate(log) if re.fullmatch(
        r"\* keep-alive bound now [0-9.]+ ms \(longest reuse that worked: none, shortest idle "
        r"close: 1[0-9][0-9]\.[0-9] ms\): a server closed an idle connection", l)]
    check(len(learned) == 1, f"-v: no single learned line in {log!r}")
    check(bool(learned) and log[learned[0] - 1].startswith("* probe: server closed the idle connection"),
          f"-v: the learned line does not follow the probe: {log!r}")
    check(any(l.startswith("* reusing idle connection (idle 5") for l in log),
          f"-v: no reuse below the learned bound: {log!r}")

    # The contract on a refused port: one error line, exit status 1, nothing on stdout.
    server, url = start_server(race_demo, 300)
    stop_server(server)
    r = fetch(fetch_exe, "--retries", "0", url + "/")
    lines = r.stderr.splitlines()
    check(r.returncode == 1, "refused: exit status is not 1")
    check(len(lines) == 1 and lines[0].startswith("error: connection_refused: "),
          f"refused: unexpected stderr {lines!r}")
    check("may have been executed" not in r.stderr, "refused: claims it may have executed")
    check(r.stdout == "", "refused: something on stdout")

    # -i prints the head, then the body; an unsupported scheme is an error line, and fetch goes on.
    server, url = start_server(race_demo, 1000)
    r = fetch(fetch_exe, "-i", "ftp://example.com/", url + "/x", raw=True)
    stop_server(server)
    check(r.returncode == 1, "ftp: exit status is not 1")
    check(r.stderr.startswith(b"error: unsupported_scheme: "), f"ftp: {r.stderr!r}")
    check(r.stdout.startswith(b"HTTP/1.1 200 OK\r\n") and r.stdout.endswith(b"\r\n\r\nok"),
          f"-i output: {r.stdout!r}")

    # Bad usage is exit status 2.
    check(fetch(fetch_exe, "--retries", "x", "http://h/").returncode == 2, "bad usage: not 2")
    check(fetch(fetch_exe).returncode == 2, "no URL: not 2")

    print(f"{4 + 12 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
