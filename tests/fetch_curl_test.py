#!/usr/bin/env python3
"""fetch beside curl: the same command line against a loopback server that records what it
receives; each row compares what the server saw (method, target, the fields that matter, the
body) and what was printed. Where fetch differs from curl on purpose, the row says why; differences that are not
about the request (fetch also takes --flag=value, which curl 7.88 does not; fetch's exit
status is 0/1/2) are in the README.

usage: fetch_curl_test.py FETCH [CURL]
Without curl the test is skipped (exit 77), unless IDEM_REQUIRE_CURL=1, as in CI.
"""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from loopback import ConnectProxy, OneAtATime, make_certs, read_head  # noqa: E402

# Fields compared when present in either request. Not compared, on purpose: User-Agent (each
# names itself; -A rows compare it), Accept (curl sends "*/*", fetch sends nothing: any
# response is taken), Connection (fetch says keep-alive, which HTTP/1.1 implies for curl).
FIELDS = [b"content-type", b"content-length", b"authorization", b"referer", b"x-a", b"transfer-encoding", b"host",
          b"proxy-authorization"]


class Recorder(OneAtATime):
    """Reads each request whole (Content-Length or chunked) and answers by path: /redirect
    sends 302 to /final, anything else 200 with a fixed body. One request per connection;
    `tls`, an ssl.SSLContext, serves https."""

    def __init__(self, tls=None):
        self.requests = []
        super().__init__(backlog=16, tls=tls)

    def serve(self, conn):
        head, rest = read_head(conn)
        if head is None:
            return
        lines = head.split(b"\r\n")
        method, target, _ = lines[0].split(b" ", 2)
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"expect", b"").lower() == b"100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = rest
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            decoded = b""
            while True:
                while b"\r\n" not in body:
                    body += conn.recv(65536)
                size_line, _, body = body.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(body) < size + 2:
                    body += conn.recv(65536)
                decoded += body[:size]
                body = body[size + 2:]
                if size == 0:
                    break
            body = decoded
        else:
            length = int(fields.get(b"content-length", b"0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
        self.requests.append((method, target, fields, body))
        if target == b"/redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" +
                         (b"" if method == b"HEAD" else b"moved"))
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(b"answer")).encode() +
                         b"\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
                         (b"" if method == b"HEAD" else b"answer"))

def tls_context(d):
    """A server context with a certificate for 127.0.0.1 and localhost signed by a CA in d/ca.pem."""
    _, cert, key = make_certs(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    fetch = sys.argv[1]
    curl = sys.argv[2] if len(sys.argv) > 2 else shutil.which("curl")
    if not curl:
        if os.environ.get("IDEM_REQUIRE_CURL") == "1":
            print("FAIL curl is not installed, and IDEM_REQUIRE_CURL=1")
            return 1
        print("skipped: curl is not installed")
        return 77
    d = tempfile.mkdtemp()
    data_file = os.path.join(d, "data")
    with open(data_file, "wb") as f:
        f.write(b"one\r\ntwo\nthree")
    tls, ca = tls_context(d), os.path.join(d, "ca.pem")
    probe = subprocess.run([fetch, "-s", "https://127.0.0.1:1/"], capture_output=True)
    fetch_has_tls = b"built without TLS" not in probe.stderr
    # args (the URL's path is the last element), what to compare ("https": over TLS; "fails":
    # both must exit non-zero), why it may differ
    rows = [
        (["-d", "a=1", "-d", "b=2", "/p"], "request", ""),
        (["-d", "@" + data_file, "/p"], "request", ""),
        (["--data-binary", "@" + data_file, "/p"], "request", ""),
        (["-XPUT", "-d", "x", "/p"], "request", ""),
        (["--data-urlencode", "name=a b&c/é", "--data-urlencode", "=x/y", "--data-urlencode", "plain~text", "/u"],
         "request", ""),
        (["--data-urlencode", "f@" + data_file, "-d", "z=1", "/u"], "request", ""),
        (["-G", "-d", "a=1", "--data-urlencode", "q=x y", "/g"], "request", ""),
        (["-G", "-d", "a=1", "/g?z=1"], "request", ""),
        (["-sG", "-I", "-d", "a=1", "/g"], "request+stdout", ""),
        (["-d", "x", "-H", "Content-Type: text/plain", "/p"], "request", ""),
        (["-T", data_file, "/put"], "request", ""),
        (["-u", "user:secret", "/a"], "request", ""),
        (["-e", "http://from.example/", "/r"], "request", ""),
        (["-A", "agent/1", "/ua"], "request+ua", ""),
        (["-H", "X-A: 1", "/h"], "request", ""),
        (["-I", "/head"], "request+stdout", ""),
        (["-i", "/i"], "stdout", ""),
        (["-sSfL", "/redirect"], "request+stdout", ""),
        (["-i", "-L", "/redirect"], "request+stdout", ""),
        (["-I", "-L", "/redirect"], "request+stdout", ""),
        (["-s", "-o", "-", "-w", "%{http_code} %{num_redirects} %{size_download}\\n", "-L", "/redirect"], "stdout", ""),
        (["-s", "-w", "%{http_code}\\n", "/redirect"], "stdout", ""),
        (["-s", "-w", "%{bogus}%{http_code}\\n", "/w"], "stdout+stderr", ""),  # a warning for an unknown variable
        (["--max-time", "5", "--connect-timeout", "2.5", "/t"], "request", ""),
        (["-m", "0", "--connect-timeout", "0", "-s", "/t0"], "request+stdout", ""),  # 0: no limit, the default
        (["--cacert", ca, "-i", "/secure"], "request+stdout+https", ""),
        (["-k", "-sS", "/insecure"], "request+stdout+https", ""),
        (["-sS", "/untrusted"], "request+fails+https", ""),  # the test CA is not the system's
        (["--cacert", ca, "-sSL", "/redirect"], "request+stdout+https", ""),
        # https through a proxy: a CONNECT tunnel, the credentials in the CONNECT only
        (["-x", "PROXY", "--cacert", ca, "-sS", "/tunnel"], "request+stdout+https+proxy", ""),
        (["-XPOST", "-uuser:pw", "-sS", "/combined"], "request",
         "an empty POST: fetch sends Content-Length: 0, as RFC 9110 §8.6 asks of a user agent; "
         "curl sends none"),
    ]
    passed = failed = 0
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    for row in rows:
        args, compare, why = row
        path = args[-1]
        if "https" in compare and not fetch_has_tls:
            print(f"skip {' '.join(args)}: this fetch was built without TLS")
            continue
        seen = {}
        out = {}
        err = {}
        for name, exe in (("curl", curl), ("fetch", fetch)):
            server = Recorder(tls if "https" in compare else None)
            proxy = ConnectProxy() if "proxy" in compare else None
            try:
                url = f"{'https' if 'https' in compare else 'http'}://127.0.0.1:{server.port}{path}"
                given = [a.replace("PROXY", f"http://user:pw@127.0.0.1:{proxy.port}") if proxy else a for a in args[:-1]]
                r = subprocess.run([exe, *given, url], capture_output=True, timeout=30, env=env)
            finally:
                server.stop()
                if proxy:
                    proxy.stop()
            fields = []
            if proxy:
                # What the proxy was asked: the request line and the fields that matter, the
                # origin's port (which differs between the two runs) written as PORT.
                for h in proxy.heads:
                    lines = h.replace(str(server.port).encode(), b"PORT").split(b"\r\n")
                    f = dict((n.strip().lower(), v.strip()) for n, _, v in (x.partition(b":") for x in lines[1:]))
                    fields.append(("CONNECT", lines[0], f.get(b"host"), f.get(b"proxy-authorization")))
            for method, target, f, body in server.requests:
                kept = {k: v for k, v in f.items() if k in FIELDS}
                kept.pop(b"host", None)  # the port differs; its presence is checked below
                if "ua" in compare:
                    kept[b"user-agent"] = f.get(b"user-agent")
                fields.append((method, target, sorted(kept.items()), body, b"host" in f))
            seen[name] = fields
            out[name] = (r.returncode, r.stdout)
            # each program's messages start with its name
            err[name] = r.stderr.replace(os.path.basename(exe).encode() + b": ", b"PROGRAM: ")
        problems = []
        if why:
            # The documented difference, and only it: fetch's Content-Length: 0 where curl has none.
            strip = lambda reqs: [(m, t, [kv for kv in f if kv[0] != b"content-length"], b, h) for m, t, f, b, h in reqs]
            if not all((b"content-length", b"0") in f for _, _, f, _, _ in seen["fetch"]):
                problems.append(f"fetch did not send Content-Length: 0: {seen['fetch']}")
            seen = {k: strip(v) for k, v in seen.items()}
        if "request" in compare and seen["curl"] != seen["fetch"]:
            problems.append(f"the server saw curl {seen['curl']} and fetch {seen['fetch']}")
        if "fails" in compare and (out["curl"][0] == 0 or out["fetch"][0] == 0):
            problems.append(f"curl exited {out['curl'][0]} and fetch {out['fetch'][0]}; both must fail")
        if "stdout" in compare and out["curl"] != out["fetch"]:
            problems.append(f"curl printed {out['curl']} and fetch {out['fetch']}")
        if "stderr" in compare and err["curl"] != err["fetch"]:
            problems.append(f"curl said {err['curl']!r} and fetch {err['fetch']!r}")
        if "proxy" in compare and not any(f[0] == "CONNECT" for f in seen["fetch"]):
            problems.append("fetch did not ask the proxy for a tunnel")
        label = " ".join(a.replace(data_file, "FILE").replace(ca, "CA") for a in args[:-1]) + " " + path
        if problems:
            failed += 1
            print(f"FAIL {label}: " + "; ".join(problems) + (f" ({why})" if why else ""))
        else:
            passed += 1
            print(f"ok   {label}" + (f" (differs on purpose: {why})" if why else ""))
    shutil.rmtree(d)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
