#!/usr/bin/env python3
"""Interop: idem's fetch against real servers with short idle timeouts, on loopback.

For each server it sends GET and POST sequences at intervals below, at and above the server's
idle timeout, with idem's defaults, with keep-alive disabled and with retries off, counts what
the server executed (its own counter or its access log, per X-Request-Id), and checks:
no GET fails and no POST runs twice with the defaults, at most one POST fails per server (the
first race teaches the bound), Apache's advertised timeout is honoured (no stale reuse at all),
an HTTP/1.0 server is never reused, keep-alive disabled never fails, and with retries off every
failure of a request the server did execute says "may have been executed".

usage: run.py FETCH [--doc docs/interop.md] [--only NAME ...]
Exit status 77 (meson: skipped) when no server is installed. With IDEM_INTEROP_REQUIRE_ALL=1 a
missing server is a failure instead of a skip.
"""
import collections
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from loopback import make_certs, read_head  # noqa: E402  (the test certificates)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import doc_section  # noqa: E402  (the generated part of docs/interop.md)

REPEAT_PER_INTERVAL = 6


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start listening")


def stop_process(proc):
    """SIGTERM to the process group, SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Server:
    """One server under test. Subclasses say how to configure, start and count."""
    name = ""
    binary = ""
    idle_s = 1.0
    intervals_ms = None  # default: below, at and above the idle timeout
    repeat = None

    def available(self):
        return shutil.which(self.binary) is not None

    def intervals(self):
        if self.intervals_ms:
            return self.intervals_ms
        t = int(self.idle_s * 1000)
        return [t // 2, t, t * 3 // 2]

    def start(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        cmd = self.prepare(tmp)
        self.log = open(os.path.join(tmp, "server.out"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=self.env())
        wait_listening(self.port, self.proc)

    def env(self):
        return os.environ

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    tls = False

    def url(self):
        return f"http://127.0.0.1:{self.port}/ok.txt"

    def fetch_args(self):
        return []

    def write(self, rel, text):
        path = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path


class AccessLogServer(Server):
    """Counts executions from an access log whose lines are 'METHOD ID STATUS'."""

    def executions(self):
        counts = collections.Counter()
        path = os.path.join(self.tmp, "access.log")
        if os.path.exists(path):
            for line in open(path):
                parts = line.split()
                if len(parts) >= 2 and parts[1].startswith("fetch-"):
                    counts[f"{parts[0]} {parts[1]}"] += 1
        return counts


class StatsServer(Server):
    """Counts executions through the server's own GET /stats ('METHOD ID COUNT' lines)."""

    def executions(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            counts = collections.Counter()
            for line in r.read().decode().splitlines():
                method, rid, n = line.split()
                counts[f"{method} {rid}"] = int(n)
            return counts


class GoServer(StatsServer):
    name = "Go net/http (IdleTimeout 300ms)"
    binary = "go"
    idle_s = 0.3

    def env(self):
        e = dict(os.environ)
        e.setdefault("HOME", self.tmp)
        e["GOCACHE"] = os.path.join(self.tmp, "gocache")
        e["GO111MODULE"] = "off"
        return e

    def prepare(self, tmp):
        exe = os.path.join(tmp, "goserver")
        subprocess.run(["go", "build", "-o", exe, os.path.join(HERE, "goserver.go")],
                       check=True, env=self.env(), cwd=tmp)
        return [exe, "-addr", f"127.0.0.1:{self.port}", "-idle", "300ms"]


class PythonServer(StatsServer):
    name = "Python http.server (HTTP/1.0)"
    binary = "python3"
    idle_s = 0.3  # it keeps no connection; the intervals only need to be short

    def start(self, tmp):
        self.tmp = tmp
        self.log = open(os.path.join(tmp, "server.out"), "w")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "pyserver.py")],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])


def www(server):
    server.write("www/ok.txt", "ok")
    os.chmod(server.tmp, 0o755)
    os.chmod(os.path.join(server.tmp, "www"), 0o755)
    return os.path.join(server.tmp, "www")


class Nginx(AccessLogServer):
    name = "nginx (keepalive_timeout 1s)"
    binary = "nginx"
    idle_s = 1.0
    keepalive_requests = 1000

    def prepare(self, tmp):
        root = www(self)
        conf = self.write("nginx.conf", f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    log_format idem '$request_method $http_x_request_id $status';
    access_log {tmp}/access.log idem;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 1s;
    keepalive_requests {self.keepalive_requests};
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
        location / {{ return 200 "ok"; }}
    }}
}}
""")
        return ["nginx", "-c", conf, "-p", tmp, "-e", f"{tmp}/error.log"]


class NginxTLS(Nginx):
    """nginx over TLS: an idle close there is a close_notify, then FIN."""
    name = "nginx TLS (keepalive_timeout 1s)"
    tls = True

    def available(self):
        return shutil.which("nginx") is not None and shutil.which("openssl") is not None

    def prepare(self, tmp):
        self.ca, cert, key = make_certs(tmp)
        cmd = super().prepare(tmp)
        conf = cmd[2]
        with open(conf) as f:
            text = f.read()
        text = text.replace(f"listen 127.0.0.1:{self.port};",
                            f"listen 127.0.0.1:{self.port} ssl;\n        ssl_certificate {cert};\n"
                            f"        ssl_certificate_key {key};")
        with open(conf, "w") as f:
            f.write(text)
        return cmd

    def url(self):
        return f"https://127.0.0.1:{self.port}/ok.txt"

    def fetch_args(self):
        return ["--cacert", self.ca]


class NginxMax5(Nginx):
    name = "nginx (keepalive_requests 5)"
    keepalive_requests = 5
    intervals_ms = [50]
    repeat = 13


def apache_conf(tmp, port, body, extra_modules=()):
    """An httpd.conf for Apache on 127.0.0.1:port that keeps its files under tmp: the modules
    it needs (those not built in), then `body`."""
    builtin = subprocess.run(["apache2", "-l"], capture_output=True, text=True).stdout
    mods = ["mpm_event", "authz_core", "log_config", "unixd", *extra_modules]
    loads = "\n".join(
        f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so"
        for m in mods if f"mod_{m}.c" not in builtin)
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    return f"""
{loads}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
DefaultRuntimeDir {tmp}
Mutex file:{tmp} default
ErrorLog {tmp}/error.log
{user}{body}"""


class Apache(AccessLogServer):
    name = "Apache httpd (KeepAliveTimeout 1)"
    binary = "apache2"
    idle_s = 1.0
    keepalive_timeout = 1

    def prepare(self, tmp):
        root = www(self)
        conf = self.write("httpd.conf", apache_conf(tmp, self.port, f"""LogFormat "%m %{{X-Request-Id}}i %>s" idem
CustomLog {tmp}/access.log idem
DocumentRoot {root}
KeepAlive On
KeepAliveTimeout {self.keepalive_timeout}
MaxKeepAliveRequests 100
<Directory {root}>
    Require all granted
</Directory>
"""))
        return ["apache2", "-f", conf, "-DFOREGROUND"]


class NginxTLSViaProxy(NginxTLS):
    """nginx over TLS, reached through Apache as a forward proxy (mod_proxy_connect): each
    connection is a CONNECT tunnel, and nginx's idle close comes through it."""
    name = "nginx TLS through Apache's CONNECT proxy"

    def available(self):
        return super().available() and shutil.which("apache2") is not None and \
            os.path.exists("/usr/lib/apache2/modules/mod_proxy_connect.so")

    def start(self, tmp):
        super().start(tmp)
        ptmp = os.path.join(tmp, "forward-proxy")
        os.makedirs(ptmp)
        os.chmod(ptmp, 0o777)
        self.proxy_port = free_port()
        conf = self.write("forward-proxy/httpd.conf", apache_conf(ptmp, self.proxy_port, f"""LogFormat "%r" line
CustomLog {ptmp}/access.log line
ProxyRequests On
AllowCONNECT {self.port}
<Proxy "*">
    Require all granted
</Proxy>
KeepAlive On
""", extra_modules=("proxy", "proxy_connect")))
        self.proxy_log = open(os.path.join(ptmp, "server.out"), "w")
        self.proxy = subprocess.Popen(["apache2", "-f", conf, "-DFOREGROUND"], stdout=self.proxy_log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_listening(self.proxy_port, self.proxy)
        except RuntimeError:
            self.stop()
            raise

    def stop(self):
        if getattr(self, "proxy", None) is not None:
            stop_process(self.proxy)
        if getattr(self, "proxy_log", None) is not None:
            self.proxy_log.close()
        super().stop()

    def tunnels(self, expected):
        """CONNECTs the proxy logged (it logs each when the tunnel closes), waiting up to 10 s
        for `expected` of them."""
        path = os.path.join(self.tmp, "forward-proxy", "access.log")
        want = f"CONNECT localhost:{self.port} HTTP/1.1"
        end = time.monotonic() + 10
        while True:
            n = sum(line.strip() == want for line in open(path)) if os.path.exists(path) else 0
            if n >= expected or time.monotonic() > end:
                return n
            time.sleep(0.1)

    def url(self):
        return f"https://localhost:{self.port}/ok.txt"

    def fetch_args(self):
        return ["--cacert", self.ca, "-x", f"http://127.0.0.1:{self.proxy_port}"]


class Lighttpd(AccessLogServer):
    name = "lighttpd (max-keep-alive-idle 1)"
    binary = "lighttpd"
    idle_s = 1.0

    def prepare(self, tmp):
        root = www(self)
        user = 'server.username = "nobody"\nserver.groupname = "nogroup"\n' if os.geteuid() == 0 else ""
        conf = self.write("lighttpd.conf", f"""
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {self.port}
server.errorlog = "{tmp}/error.log"
server.modules = ("mod_accesslog")
accesslog.filename = "{tmp}/access.log"
accesslog.format = "%m %{{X-Request-Id}}i %s"
server.max-keep-alive-idle = 1
{user}""")
        os.chmod(tmp, 0o777)  # the log is written after privileges are dropped
        return ["lighttpd", "-D", "-f", conf]


SERVERS = [GoServer, Nginx, NginxMax5, NginxTLS, NginxTLSViaProxy, Apache, Lighttpd, PythonServer]
POLICIES = [("defaults", []), ("keep-alive off", ["--keep-alive", "off"]), ("retries off", ["--retries", "0"])]

REQ = re.compile(r"^> (\S+) \S+ \[(fetch-\S+)\]$")
ERR = re.compile(r"^error: (\w+): .*\((\S+) \S+ (fetch-\S+), \d+ attempts?\)(; the request may have been executed)?$")


def run_fetch(fetch, server, method, policy_args):
    intervals = server.intervals()
    repeat = server.repeat or REPEAT_PER_INTERVAL * len(intervals) + 1
    args = [fetch, "-v", "--request-ids", "--timeout", "5000", "--repeat", str(repeat),
            "--interval", ",".join(map(str, intervals)), *server.fetch_args(), *policy_args]
    if method == "POST":
        args += ["-X", "POST", "-d", "x"]
    r = subprocess.run(args + [server.url()], capture_output=True, text=True, timeout=600)
    requests = []
    for line in r.stderr.splitlines():
        m = REQ.match(line)
        if m:
            k = len(requests)
            label = "first" if k == 0 else f"{intervals[(k - 1) % len(intervals)]} ms"
            requests.append({"id": m.group(2), "interval": label, "ok": True, "reused": False,
                             "stale": 0, "connected": 0, "err": None, "may": False})
            continue
        if not requests:
            continue
        cur = requests[-1]
        if line.startswith("* reusing"):
            cur["reused"] = True
        elif line.startswith("* probe: server closed") or line.startswith("* reused connection failed"):
            cur["stale"] += 1
        elif line.startswith("* connected"):
            cur["connected"] += 1
        m = ERR.match(line)
        if m:
            cur["ok"] = False
            cur["err"] = m.group(1)
            cur["may"] = bool(m.group(4))
    return r.returncode, requests, r.stderr


def observe_idle(server):
    """What the server does when a kept-alive connection goes idle past its timeout."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    if server.tls:
        ctx = ssl.create_default_context(cafile=server.ca)
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    s.sendall(b"GET /ok.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
    raw, body = read_head(s)
    head = (raw if raw is not None else body).decode(errors="replace").split("\r\n")
    fields = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in head[1:] if ":" in l}
    length = int(fields.get("content-length", "0"))
    if raw is None:
        body = b""
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    time.sleep(server.idle_s + 0.7)
    s.settimeout(3)
    try:
        got = s.recv(64)
        after = ("close_notify, then FIN" if server.tls else "FIN (EOF)") if got == b"" else f"sends {got[:12]!r}"
    except ssl.SSLEOFError:
        after = "FIN without close_notify"
    except ConnectionResetError:
        after = "RST"
    except socket.timeout:
        after = "keeps it open"
    s.close()
    return {"status": head[0], "connection": fields.get("connection", "—"),
            "keep_alive": fields.get("keep-alive", "—"), "after": after}


def check_server(server_cls, fetch, results, problems):
    server = server_cls()
    tmp = tempfile.mkdtemp(prefix="idem-interop-")
    try:
        server.start(tmp)
        runs = {}
        for policy, args in POLICIES:
            threads, out = [], {}
            for method in ("GET", "POST"):
                t = threading.Thread(target=lambda m=method: out.__setitem__(m, run_fetch(fetch, server, m, args)))
                t.start()
                threads.append(t)
            for t in threads:
                t.join()
            runs[policy] = out
        execs = server.executions()
        connected = sum(q["connected"] for out in runs.values() for _, reqs, _ in out.values() for q in reqs)
        tunnels = server.tunnels(connected) if hasattr(server, "tunnels") else None
        idle = observe_idle(server) if server_cls is not PythonServer else None
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def fail(msg):
        problems.append(f"{server.name}: {msg}")

    if tunnels is not None and tunnels != connected:
        fail(f"fetch made {connected} connections and the proxy logged {tunnels} tunnels")
    rows = []
    for policy, _ in POLICIES:
        for method in ("GET", "POST"):
            rc, reqs, stderr = runs[policy][method]
            if not reqs:
                fail(f"{policy} {method}: fetch sent nothing (exit {rc}): {stderr[-300:]}")
                continue
            twice = [q for q in reqs if execs[f"{method} {q['id']}"] > 1]
            failed = [q for q in reqs if not q["ok"]]
            if method == "POST" and twice:
                fail(f"{policy}: {len(twice)} POST executed twice")
            if policy == "defaults":
                if method == "GET" and failed:
                    fail(f"defaults: {len(failed)} GET failed: {[q['err'] for q in failed]}")
                if method == "POST" and len(failed) > 1:
                    fail(f"defaults: {len(failed)} POSTs failed (at most 1 allowed)")
                if server_cls is Apache and sum(q["stale"] for q in reqs):
                    fail(f"defaults {method}: reused a connection Apache had closed")
            if policy == "keep-alive off":
                if failed:
                    fail(f"keep-alive off: {len(failed)} {method} failed")
                if any(q["reused"] for q in reqs) or sum(q["connected"] for q in reqs) != len(reqs):
                    fail("keep-alive off: a connection was reused")
            if policy == "retries off":
                for q in failed:
                    if execs[f"{method} {q['id']}"] >= 1 and not q["may"]:
                        fail(f"retries off: {method} {q['id']} ran but its error did not say so")
                    if execs[f"{method} {q['id']}"] > 1:
                        fail(f"retries off: {method} {q['id']} ran twice")
            if server_cls is PythonServer and any(q["reused"] for q in reqs):
                fail(f"{policy} {method}: reused an HTTP/1.0 connection")
            if (rc != 0) != bool(failed):
                fail(f"{policy} {method}: exit status {rc} with {len(failed)} failures")
            by_interval = collections.OrderedDict()
            for q in reqs:
                by_interval.setdefault(q["interval"], []).append(q)
            for label, qs in by_interval.items():
                n_fail = sum(not q["ok"] for q in qs)
                n_twice = sum(execs[f"{method} {q['id']}"] > 1 for q in qs)
                n_reused = sum(q["reused"] for q in qs)
                cell = f"{len(qs) - n_fail} ok"
                if n_fail:
                    cell += f", **{n_fail} failed**"
                if n_twice:
                    cell += f", {n_twice} executed twice" + (" (idempotent)" if method == "GET" else "")
                rows.append((policy, label, method, cell, n_reused))
    results[server.name] = {"rows": rows, "idle": idle}


def render(results, fetch_cmd):
    out = ["<!-- generated by tests/interop/run.py; do not edit by hand -->", ""]
    out.append("### What each server does when a kept-alive connection idles past its timeout")
    out.append("")
    out.append("| server | response | `Connection` | `Keep-Alive` | after the idle timeout |")
    out.append("| --- | --- | --- | --- | --- |")
    for name, r in results.items():
        i = r["idle"]
        if i is None:
            out.append(f"| {name} | HTTP/1.0 | — | — | closes after every response |")
        else:
            out.append(f"| {name} | `{i['status']}` | {i['connection']} | {i['keep_alive']} | {i['after']} |")
    out.append("")
    out.append("### The matrix")
    out.append("")
    out.append("Each cell: requests that got a response, failures, and executions counted twice by")
    out.append("the server (a GET may run twice: it is idempotent). *reused* counts requests sent on a")
    out.append("kept-alive connection. The interval is the idle time before the request.")
    out.append("")
    for name, r in results.items():
        out.append(f"#### {name}")
        out.append("")
        out.append("| policy | interval | method | result | reused |")
        out.append("| --- | --- | --- | --- | --- |")
        for policy, label, method, cell, reused in r["rows"]:
            if label == "first":
                continue  # the opening request of each run: nothing idle yet
            out.append(f"| {policy} | {label} | {method} | {cell} | {reused} |")
        out.append("")
    return "\n".join(out)


def main(argv):
    fetch = argv[1]
    doc = None
    only = []
    i = 2
    while i < len(argv):
        if argv[i] == "--doc":
            doc = argv[i + 1]
            i += 2
        elif argv[i] == "--only":
            only.append(argv[i + 1])
            i += 2
        else:
            print(__doc__)
            return 2
    require_all = os.environ.get("IDEM_INTEROP_REQUIRE_ALL") == "1"
    chosen, problems = [], []
    for cls in SERVERS:
        if only and not any(o.lower() in cls.name.lower() for o in only):
            continue
        if cls().available():
            chosen.append(cls)
        elif require_all:
            problems.append(f"{cls.name}: `{cls.binary}` is not installed")
        else:
            print(f"skipped: {cls.name}: `{cls.binary}` is not installed")
    if not chosen and not problems:
        print("skipped: no server installed (apt-get install golang-go nginx-light apache2 lighttpd)")
        return 77
    results, threads = {}, []
    for cls in chosen:
        t = threading.Thread(target=check_server, args=(cls, fetch, results, problems))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    ordered = {cls.name: results[cls.name] for cls in chosen if cls.name in results}
    for cls in chosen:
        if cls.name not in results:
            problems.append(f"{cls.name}: did not complete (see the error above)")
    text = render(ordered, fetch)
    print(text)
    if doc:
        doc_section.replace(doc, "MATRIX", text)
    for p in problems:
        print("FAIL:", p)
    print(f"{len(chosen) - len({p.split(':')[0] for p in problems})} passed, "
          f"{len({p.split(':')[0] for p in problems})} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
