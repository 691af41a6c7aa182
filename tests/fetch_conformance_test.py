#!/usr/bin/env python3
"""fetch against a scripted loopback server: one raw response per case, checking what reaches
stdout, the `error:` line and the exit status (RFC 9112 framing as seen by a user).

usage: fetch_conformance_test.py FETCH
"""
import os
import re
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from loopback import ConnectProxy, OneAtATime, make_certs, read_head  # noqa: E402

CASES = [
    # name, fetch args, raw response, expected stdout (bytes) or None, expected error name or None
    ("content-length", [], b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello", None),
    ("truncated content-length", [], b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", b"", "unexpected_eof"),
    ("chunked, extensions, trailer", [],
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1\r\n!\r\n0\r\nT: x\r\n\r\n", b"hello!", None),
    ("truncated chunked", [], b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"", "unexpected_eof"),
    ("TE and CL: chunked wins", [],
     b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", b"ok", None),
    ("differing Content-Length", [], b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", b"", "malformed_response"),
    ("signed Content-Length", [], b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", b"", "malformed_response"),
    ("interim responses skipped", [],
     b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", None),
    ("unsolicited 101", [], b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", b"", "malformed_response"),
    ("HEAD has no body", ["-X", "HEAD"], b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"", None),
    ("204 has no body", [], b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", b"", None),
    ("close-delimited body", [], b"HTTP/1.1 200 OK\r\n\r\nuntil close", b"until close", None),
    ("bare LF", [], b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", b"ok", None),
    ("obs-fold unfolded", ["-i"], b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", None, None),
    ("space before colon", [], b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", b"", "malformed_response"),
    ("HTTP/2.0 status line", [], b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"", "malformed_response"),
    ("status 600 is a response", [], b"HTTP/1.1 600 Odd\r\nContent-Length: 1\r\n\r\nx", b"x", None),
    ("404 is a response", [], b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno", b"no", None),
    ("chunk size overflow", [], b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", b"", "malformed_response"),
    ("bytes after the response", [], b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n", b"x", None),
    ("bare CR hides the fields", [], b"HTTP/1.1 200 OK\r\n\rContent-Length: 5\r\n\r\nhello", b"", "malformed_response"),
    ("TE in HTTP/1.0", [], b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"", "malformed_response"),
]


class RawServer(OneAtATime):
    """Answers every connection with the same bytes, then closes it. With keep_open_once, the
    first connection stays open after its answer and is closed as the next request arrives (the
    keep-alive race). `tls`, an ssl.SSLContext, serves https."""

    def __init__(self, payload, keep_open_once=False, tls=None):
        self.payload = payload
        self.keep_open_once = keep_open_once
        self.request_lines = []
        self.heads = []
        self.bodies = []
        super().__init__(tls=tls)

    def serve(self, conn):
        head, body = read_head(conn)
        if head is None:
            return
        self.request_lines.append(head.split(b"\r\n", 1)[0])
        self.heads.append(head)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        self.bodies.append(body)
        conn.sendall(self.payload)
        if self.keep_open_once:
            self.keep_open_once = False
            conn.recv(4096)  # the next request: dropped unanswered


def main():
    fetch = sys.argv[1]
    passed = failed = 0
    for name, args, payload, want_out, want_err in CASES:
        server = RawServer(payload)
        try:
            r = subprocess.run([fetch, *args, f"http://127.0.0.1:{server.port}/"],
                               capture_output=True, timeout=30)
        finally:
            server.stop()
        problems = []
        errors = [l for l in r.stderr.decode().splitlines() if l.startswith("error:")]
        if want_err:
            if len(errors) != 1 or not errors[0].startswith(f"error: {want_err}: "):
                problems.append(f"stderr {r.stderr!r}, want error {want_err}")
            if r.returncode != 1:
                problems.append(f"exit status {r.returncode}, want 1")
        else:
            if errors or r.returncode != 0:
                problems.append(f"exit status {r.returncode}, stderr {r.stderr!r}")
        if want_out is not None and r.stdout != want_out:
            problems.append(f"stdout {r.stdout!r}, want {want_out!r}")
        if name == "obs-fold unfolded":
            if b"X-A: one" not in r.stdout or b"two" not in r.stdout.split(b"X-A:")[1].split(b"\r\n")[0]:
                problems.append(f"folded header not unfolded: {r.stdout!r}")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}")
    # -o FILE streams bodies to the file (through a sink); -i puts each head before its body.
    server = RawServer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out")
        try:
            r = subprocess.run([fetch, "-i", "-o", path, "--repeat", "2", f"http://127.0.0.1:{server.port}/"],
                               capture_output=True, timeout=30)
        finally:
            server.stop()
        content = open(path, "rb").read()
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        if r.returncode == 0 and r.stdout == b"" and content == (head + b"abcdef") * 2:
            passed += 1
            print("ok   -o FILE with -i")
        else:
            failed += 1
            print(f"FAIL -o FILE with -i: exit {r.returncode}, stdout {r.stdout!r}, file {content!r}")
    def report(name, ok, detail):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")

    # -f: a status outside 2xx is a failure with an error line and no body; without -f it is
    # a response.
    server = RawServer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
    try:
        url = f"http://127.0.0.1:{server.port}/"
        r = subprocess.run([fetch, "-f", url], capture_output=True, timeout=30)
        plain = subprocess.run([fetch, url], capture_output=True, timeout=30)
        quiet = subprocess.run([fetch, "-s", "-f", "-v", url], capture_output=True, timeout=30)
    finally:
        server.stop()
    report("-f turns 404 into a failure", r.returncode == 1 and r.stdout == b"" and
           r.stderr.startswith(b"error: http_status: the server answered 404 Not Found"), r)
    report("without -f, 404 is a response", plain.returncode == 0 and plain.stdout == b"nope", plain)
    report("-s keeps the error line and drops the -v log",
           quiet.returncode == 1 and quiet.stderr.count(b"\n") == 1 and quiet.stderr.startswith(b"error: "), quiet)

    # Edges that used to kill fetch or silently change what it did.
    server = RawServer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 11\r\n\r\nerror body!")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out")
        try:
            url = f"http://127.0.0.1:{server.port}/"
            fo = subprocess.run([fetch, "-f", "-o", path, url], capture_output=True, timeout=30)
            huge = subprocess.run([fetch, "--interval", "0-4294967295", "--repeat", "2", url],
                                  capture_output=True, timeout=30)
            retries = subprocess.run([fetch, "-v", "--retries", "4294967295", url], capture_output=True, timeout=30)
            big_budget = subprocess.run([fetch, "--retries", "2147483647", url], capture_output=True, timeout=30)
        finally:
            server.stop()
        report("-f -o FILE writes no error body", fo.returncode == 1 and open(path, "rb").read() == b"" and
               fo.stderr.startswith(b"error: http_status:"), (fo, open(path, "rb").read()))
    report("--interval beyond a day is bad usage, not a crash",
           huge.returncode == 2 and huge.stderr.startswith(b"fetch: bad number for: --interval"), huge)
    report("--retries beyond the budget is bad usage", retries.returncode == 2, retries)
    report("the largest --retries still makes the request", big_budget.returncode == 0 and
           big_budget.stdout == b"error body!", big_budget)
    # The URL's path and query are the request target, sent once (not under a prefix).
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        t = subprocess.run([fetch, f"http://127.0.0.1:{server.port}/a/b?c=1"], capture_output=True, timeout=30)
    finally:
        server.stop()
    report("the URL's path is the target", t.returncode == 0 and
           server.request_lines == [b"GET /a/b?c=1 HTTP/1.1"], (t, server.request_lines))

    # Errors explain: the rule broken and, for a URL without a scheme, the likely fix.
    noscheme = subprocess.run([fetch, "localhost:8000/x"], capture_output=True, timeout=30)
    report("a URL without a scheme suggests http://", noscheme.returncode == 1 and noscheme.stderr.startswith(
        b"error: invalid_url: invalid URL: the URL has no scheme") and
        b"did you mean http://localhost:8000/x?" in noscheme.stderr, noscheme.stderr)
    cr = subprocess.run([fetch, "-H", "X: a\rb", "http://127.0.0.1:9/"], capture_output=True, timeout=30)
    report("a header with CR names the rule", cr.returncode == 1 and
           b"error: invalid_request: " in cr.stderr and b"a header value contains CR" in cr.stderr, cr.stderr)

    # -v says "new" for an answer that came on a new connection after a reused one failed.
    race = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", keep_open_once=True)
    try:
        url = f"http://127.0.0.1:{race.port}/"
        v = subprocess.run([fetch, "-v", "--repeat", "2", url], capture_output=True, timeout=30)
    finally:
        race.stop()
    done = [l for l in v.stderr.decode().splitlines() if l.startswith("* done:")]
    report("-v names the connection the answer came on", v.returncode == 0 and len(done) == 2 and
           all(l.endswith("new connection") for l in done), v.stderr)

    # The progress bar: only when stderr is a terminal, only for -o FILE.
    import pty
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
    with tempfile.TemporaryDirectory() as d:
        master, slave = pty.openpty()
        try:
            r = subprocess.run([fetch, "-o", os.path.join(d, "f"), f"http://127.0.0.1:{server.port}/"],
                               stderr=slave, stdout=subprocess.PIPE, timeout=30)
            os.close(slave)
            shown = b""
            try:
                while True:
                    chunk = os.read(master, 4096)
                    if not chunk:
                        break
                    shown += chunk
            except OSError:
                pass
            piped = subprocess.run([fetch, "-o", os.path.join(d, "g"), f"http://127.0.0.1:{server.port}/"],
                                   capture_output=True, timeout=30)
        finally:
            os.close(master)
            server.stop()
        report("progress bar on a terminal", r.returncode == 0 and b"100%" in shown and
               os.path.getsize(os.path.join(d, "f")) == 100000, shown)
        report("no progress bar into a pipe", piped.returncode == 0 and piped.stderr == b"", piped.stderr)

    # -L follows redirects; without it a 3xx is the response. A server that always redirects
    # to /next is a loop the second time round; --max-redirs bounds the chain.
    clean_env = {k: v for k, v in os.environ.items()
                 if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    # https: a fetch built with TLS tries to connect (nothing listens on port 1); one built
    # without says so, and how to build it.
    https = subprocess.run([fetch, "https://127.0.0.1:1/"], capture_output=True, timeout=30, env=clean_env)
    if b"built without TLS" in https.stderr:
        report("https without TLS says how to build it", https.returncode == 1 and
               https.stderr.startswith(b"error: unsupported_scheme: this fetch was built without TLS") and
               b"-DIDEM_FETCH_TLS" in https.stderr, https)
    else:
        report("https with TLS connects", https.returncode == 1 and
               https.stderr.startswith(b"error: connection_refused: "), https)
        # -v says how each new connection is protected, and loudly when -k skipped the checks.
        with tempfile.TemporaryDirectory() as d:
            ca, cert, key = make_certs(d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", tls=ctx)
            try:
                url = f"https://127.0.0.1:{server.port}/"
                checked = subprocess.run([fetch, "-v", "--cacert", ca, url], capture_output=True, timeout=30, env=clean_env)
                skipped = subprocess.run([fetch, "-v", "-k", url], capture_output=True, timeout=30, env=clean_env)
            finally:
                server.stop()
        report("-v names the TLS version, the cipher suite and what was verified",
               checked.returncode == 0 and checked.stdout == b"ok" and
               re.search(rb"\* connected \(TLSv1\.[23], TLS_\w+, certificate verified for the address\)\n",
                         checked.stderr) is not None and
               skipped.returncode == 0 and b", certificate not verified (insecure_skip_verify))" in skipped.stderr,
               (checked.stderr, skipped.stderr))
        # https through a proxy: a CONNECT tunnel, from -x or from https_proxy; -v shows the
        # CONNECT head with the credentials masked; a refusal is its own error line.
        with tempfile.TemporaryDirectory() as d:
            ca, cert, key = make_certs(d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", tls=ctx)
            tunnels = ConnectProxy()
            refuser = RawServer(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            # an http proxy that answers every request with a redirect to the https server
            mover = RawServer(f"HTTP/1.1 302 Found\r\nLocation: https://localhost:{server.port}/\r\n"
                              "Content-Length: 0\r\n\r\n".encode())
            try:
                url = f"https://localhost:{server.port}/"
                via_flag = subprocess.run([fetch, "-v", "--cacert", ca, "-x", f"http://u:p@127.0.0.1:{tunnels.port}", url],
                                          capture_output=True, timeout=30, env=clean_env)
                via_env = subprocess.run([fetch, "--cacert", ca, url], capture_output=True, timeout=30,
                                         env={**clean_env, "https_proxy": f"http://127.0.0.1:{tunnels.port}",
                                              "http_proxy": f"http://127.0.0.1:{refuser.port}"})
                refused = subprocess.run([fetch, "--cacert", ca, "-x", f"127.0.0.1:{refuser.port}", url],
                                         capture_output=True, timeout=30, env=clean_env)
                hop = subprocess.run([fetch, "-L", "--cacert", ca, "http://origin.invalid/start"], capture_output=True,
                                     timeout=30, env={**clean_env, "http_proxy": f"http://127.0.0.1:{mover.port}"})
            finally:
                server.stop()
                tunnels.stop()
                refuser.stop()
                mover.stop()
        target = f"localhost:{server.port}".encode()
        report("https through a proxy goes in a CONNECT tunnel; -v shows it, credentials masked",
               via_flag.returncode == 0 and via_flag.stdout == b"ok" and
               b"> CONNECT " + target + b" HTTP/1.1\n" in via_flag.stderr and
               b"> Proxy-Authorization: Basic ***\n" in via_flag.stderr and b"dTpw" not in via_flag.stderr and
               b"certificate verified for the name" in via_flag.stderr and
               len(tunnels.heads) == 2 and all(h.startswith(b"CONNECT " + target + b" HTTP/1.1\r\n") for h in tunnels.heads) and
               b"Proxy-Authorization: Basic dTpw" in tunnels.heads[0],
               (via_flag, tunnels.heads))
        report("https_proxy is read for https (never http_proxy)", via_env.returncode == 0 and via_env.stdout == b"ok",
               via_env)
        report("-L from http to https: the hop takes https_proxy (none here), never http_proxy, as curl",
               hop.returncode == 0 and hop.stdout == b"ok" and
               [l.split(b" ")[0] for l in mover.request_lines] == [b"GET"], (hop, mover.request_lines))
        report("a proxy that refuses the tunnel is proxy_refused, with its status",
               refused.returncode == 1 and refused.stderr.startswith(b"error: proxy_refused: ") and
               b"407" in refused.stderr and b"may have been executed" not in refused.stderr and
               b", 1 attempt)" in refused.stderr, refused)
    server = RawServer(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 5\r\n\r\nmoved")
    try:
        url = f"http://127.0.0.1:{server.port}/start"
        plain = subprocess.run([fetch, url], capture_output=True, timeout=30, env=clean_env)
        loop = subprocess.run([fetch, "-L", url], capture_output=True, timeout=30, env=clean_env)
        bounded = subprocess.run([fetch, "-L", "--max-redirs", "0", url], capture_output=True, timeout=30, env=clean_env)
    finally:
        server.stop()
    report("without -L a redirect is the response", plain.returncode == 0 and plain.stdout == b"moved", plain)
    report("-L: a loop is an error line", loop.returncode == 1 and
           loop.stderr.startswith(b"error: redirect_loop: ") and b"may have been executed" in loop.stderr, loop)
    report("-L --max-redirs 0: one redirect is too many", bounded.returncode == 1 and
           bounded.stderr.startswith(b"error: too_many_redirects: ") and b"; Location: /next (GET" in bounded.stderr, bounded)
    server = RawServer(b"HTTP/1.1 301 Moved\r\nLocation: ftp://files.example/x\r\nContent-Length: 0\r\n\r\n")
    try:
        ftp = subprocess.run([fetch, "-L", f"http://127.0.0.1:{server.port}/"], capture_output=True, timeout=30, env=clean_env)
    finally:
        server.stop()
    report("-L to another scheme names the Location", ftp.returncode == 1 and
           ftp.stderr.startswith(b"error: unsupported_scheme: ") and b"Location: ftp://files.example/x" in ftp.stderr, ftp)

    # Proxies: -x, then the environment as curl reads it (never HTTP_PROXY), and --noproxy.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    proxy = RawServer(ok)
    origin = RawServer(ok)
    try:
        purl = f"127.0.0.1:{proxy.port}"
        ourl = f"http://127.0.0.1:{origin.port}/o"
        flag = subprocess.run([fetch, "-x", purl, "http://origin.invalid:8080/p?q"], capture_output=True,
                              timeout=30, env=clean_env)
        env = subprocess.run([fetch, "http://origin.invalid/e"], capture_output=True, timeout=30,
                             env={**clean_env, "http_proxy": "http://" + purl})
        upper = subprocess.run([fetch, ourl], capture_output=True, timeout=30,
                               env={**clean_env, "HTTP_PROXY": "http://" + purl})
        bypass = subprocess.run([fetch, ourl], capture_output=True, timeout=30,
                                env={**clean_env, "http_proxy": "http://" + purl, "no_proxy": "localhost,127.0.0.1"})
        off = subprocess.run([fetch, "-x", "", ourl], capture_output=True, timeout=30,
                             env={**clean_env, "http_proxy": "http://" + purl})
        noproxy = subprocess.run([fetch, "--noproxy", "*", ourl], capture_output=True, timeout=30,
                                 env={**clean_env, "http_proxy": "http://" + purl})
    finally:
        proxy.stop()
        origin.stop()
    report("-x sends the absolute-form target to the proxy", flag.returncode == 0 and flag.stdout == b"ok" and
           proxy.request_lines[:1] == [b"GET http://origin.invalid:8080/p?q HTTP/1.1"], (flag, proxy.request_lines))
    report("http_proxy is read", env.returncode == 0 and
           proxy.request_lines[1:2] == [b"GET http://origin.invalid/e HTTP/1.1"], (env, proxy.request_lines))
    report("HTTP_PROXY is not read; no_proxy, -x \"\" and --noproxy go direct",
           all(r.returncode == 0 and r.stdout == b"ok" for r in (upper, bypass, off, noproxy)) and
           len(proxy.request_lines) == 2 and origin.request_lines == [b"GET /o HTTP/1.1"] * 4,
           (upper, bypass, off, noproxy, proxy.request_lines, origin.request_lines))

    # curl's spellings: combined short flags, -XPOST, --flag=value, -I, -A, -e, -u, -m.
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        url = f"http://127.0.0.1:{server.port}/c"
        combined = subprocess.run([fetch, "-sSfL", "-XPOST", "--user-agent=agent/1", "-e", "http://from/",
                                   "-uuser:pw", "--max-time=2.5", url], capture_output=True, timeout=30, env=clean_env)
        head = subprocess.run([fetch, "-I", url], capture_output=True, timeout=30, env=clean_env)
        bad_time = subprocess.run([fetch, "-m", "soon", url], capture_output=True, timeout=30, env=clean_env)
        zero_time = subprocess.run([fetch, "-m", "0", "--connect-timeout", "0", url], capture_output=True, timeout=30,
                                   env=clean_env)
        unknown = subprocess.run([fetch, "--no-such-flag", url], capture_output=True, timeout=30, env=clean_env)
    finally:
        server.stop()
    h = server.heads[0] if server.heads else b""
    report("combined flags, -XPOST, --flag=value, -A, -e, -u", combined.returncode == 0 and combined.stdout == b"ok" and
           h.startswith(b"POST /c HTTP/1.1") and b"\r\nUser-Agent: agent/1" in h and b"\r\nReferer: http://from/" in h and
           b"\r\nAuthorization: Basic dXNlcjpwdw==" in h, (combined, h))
    report("-I sends HEAD and prints the head", head.returncode == 0 and len(server.request_lines) > 1 and
           server.request_lines[1] == b"HEAD /c HTTP/1.1" and head.stdout.startswith(b"HTTP/1.1 200 OK\r\n"), head)
    report("-m takes seconds; a bad one is bad usage, in one line", bad_time.returncode == 2 and
           b"bad number of seconds" in bad_time.stderr and bad_time.stderr.count(b"\n") == 1 and
           b"--help" in bad_time.stderr, bad_time)
    report("-m 0 and --connect-timeout 0 mean no limit and the default, as curl",
           zero_time.returncode == 0 and zero_time.stdout == b"ok", zero_time)
    report("an unknown option is one line", unknown.returncode == 2 and unknown.stderr.count(b"\n") == 1 and
           b"--no-such-flag" in unknown.stderr and b"--help" in unknown.stderr, unknown)

    # Bodies as curl sends them: -d parts joined with & (a file's CR and LF dropped) as a form,
    # --data-binary as it is, -T as a streamed PUT; -w after each request.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "body")
        with open(path, "wb") as f:
            f.write(b"line1\r\nline2\n")
        server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            url = f"http://127.0.0.1:{server.port}/b"
            runs = [subprocess.run(args, capture_output=True, timeout=30, env=clean_env) for args in (
                [fetch, "-d", "a=1", "-d", "@" + path, url],
                [fetch, "--data-binary", "@" + path, url],
                [fetch, "-T", path, url],
                [fetch, "-d", "x", "-H", "Content-Type: text/plain", url],
                [fetch, "-s", "-w", "%{http_code} %{num_connects} %{num_redirects} %{size_download} %{url_effective} %{exitcode}\\n", url],
            )]
        finally:
            server.stop()
    refused = subprocess.run([fetch, "-s", "-w", "%{http_code} %{exitcode}\\n", "http://127.0.0.1:9/"],
                             capture_output=True, timeout=30, env=clean_env)
    form = b"\r\nContent-Type: application/x-www-form-urlencoded"
    hs, bs = server.heads, server.bodies
    report("-d joins parts with & and strips a file's CR and LF, as a form", runs[0].returncode == 0 and
           hs[0].startswith(b"POST /b ") and form in hs[0] and bs[0] == b"a=1&line1line2", (runs[0], hs[:1], bs[:1]))
    report("--data-binary @FILE sends the bytes as they are", runs[1].returncode == 0 and
           form in hs[1] and bs[1] == b"line1\r\nline2\n", (hs[1:2], bs[1:2]))
    report("-T FILE is a PUT of the file", runs[2].returncode == 0 and hs[2].startswith(b"PUT /b ") and
           form not in hs[2] and bs[2] == b"line1\r\nline2\n", (hs[2:3], bs[2:3]))
    report("a Content-Type of the user's replaces the form's", b"\r\nContent-Type: text/plain" in hs[3] and
           form not in hs[3], hs[3:4])
    report("-w prints curl's variables", runs[4].stdout == f"ok200 1 0 2 {url} 0\n".encode(), runs[4])
    report("-w after a failure reads 000", refused.returncode == 1 and refused.stdout == b"000 1\n", refused)

    # --resolve pins a name to an address, as curl; --connect-timeout is in seconds, as curl.
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    try:
        pinned = subprocess.run([fetch, "--connect-timeout", "2.5", "--resolve",
                                 f"pinned.invalid:{server.port}:[::2],127.0.0.1",
                                 f"http://pinned.invalid:{server.port}/r"], capture_output=True, timeout=30, env=clean_env)
    finally:
        server.stop()
    report("--resolve connects to the pinned address", pinned.returncode == 0 and pinned.stdout == b"ok" and
           server.heads[:1] and f"\r\nHost: pinned.invalid:{server.port}".encode() in server.heads[0], (pinned, server.heads))
    ms = subprocess.run([fetch, "--connect-timeout", "500ms", "http://127.0.0.1:9/"], capture_output=True, timeout=30)
    report("--connect-timeout takes seconds", ms.returncode == 2 and b"bad number of seconds" in ms.stderr, ms)

    # -v shows both heads as curl does, "> " and "< " lines, besides idem's log.
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Seen: yes\r\n\r\nok")
    try:
        verbose = subprocess.run([fetch, "-v", "-H", "X-Mine: 1", f"http://127.0.0.1:{server.port}/v"],
                                 capture_output=True, timeout=30, env=clean_env)
    finally:
        server.stop()
    lines = verbose.stderr.decode().splitlines()
    report("-v shows the request and response heads", verbose.returncode == 0 and verbose.stdout == b"ok" and
           "> GET /v HTTP/1.1" in lines and f"> Host: 127.0.0.1:{server.port}" in lines and "> X-Mine: 1" in lines and
           "< HTTP/1.1 200 OK" in lines and "< X-Seen: yes" in lines and "<" in lines and ">" in lines, lines)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
