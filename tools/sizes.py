#!/usr/bin/env python3
"""The sizes an embedded user reads first: a minimal program (one GET, its status printed) with
each policy pair, next to a raw socket loop that does the same, stripped, at -Os and -O2, for
x86-64, armhf and aarch64; and the shared libraries each links.

    python3 tools/sizes.py [--write-doc]     (--write-doc rewrites docs/sizes.md's table)

Needs g++, g++-arm-linux-gnueabihf and g++-aarch64-linux-gnu (a missing one is left out).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import doc_section  # tools/doc_section.py, beside this file

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = [("x86-64", "g++", "strip", "readelf"),
           ("armhf", "arm-linux-gnueabihf-g++", "arm-linux-gnueabihf-strip", "arm-linux-gnueabihf-readelf"),
           ("aarch64", "aarch64-linux-gnu-g++", "aarch64-linux-gnu-strip", "aarch64-linux-gnu-readelf")]

IDEM = """#include <idem/idem.hpp>
#include <cstdio>
int main(int argc, char** argv) {
    if (argc < 2) return 2;
    %s c{argv[1]};
    auto r = c.get("/");
    std::printf("%%d\\n", r ? r->status : 0);
    return r ? 0 : 1;
}
"""
PROGRAMS = [
    ("idem, `disabled` + `never`", IDEM % "idem::basic_client<idem::keep_alive::disabled, idem::retry::never>"),
    ("idem, the defaults (`timeout_bounded` + `idempotent`)", IDEM % "idem::client"),
    ("raw socket loop (one GET to 127.0.0.1:PORT, no parsing)", """#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char** argv) {
    if (argc < 2) return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::atoi(argv[1]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 1;
    const char req[] = "GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n";
    send(s, req, sizeof req - 1, MSG_NOSIGNAL);
    char buf[4096];
    long n = recv(s, buf, sizeof buf, 0);
    std::printf("%ld\\n", n);
    close(s);
    return 0;
}
"""),
]


class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def peaks(exe, arg, tmp):
    """Heap and stack peak of one run (valgrind massif, --stacks=yes): the largest of each over
    its snapshots, in bytes."""
    out = tmp / "massif.out"
    subprocess.run(["valgrind", "--tool=massif", "--stacks=yes", f"--massif-out-file={out}", str(exe), arg],
                   check=True, capture_output=True)
    text = out.read_text()
    heap = max(int(v) for v in re.findall(r"mem_heap_B=(\d+)", text))
    stack = max(int(v) for v in re.findall(r"mem_stacks_B=(\d+)", text))
    return heap, stack


def main(argv):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="idem-sizes-"))
    try:
        rows = []
        libs = {}
        for arch, cxx, strip, readelf in TARGETS:
            if not shutil.which(cxx):
                print(f"skipped: {arch}: {cxx} is not installed")
                continue
            for k, (name, src) in enumerate(PROGRAMS):
                path = tmp / f"p{k}.cpp"
                path.write_text(src)
                sizes = []
                for opt in ("-Os", "-O2"):
                    exe = tmp / f"p{k}-{arch}{opt}"
                    subprocess.run([cxx, "-std=c++17", opt, "-pthread", f"-I{ROOT}/include", str(path), "-o", str(exe)],
                                   check=True)
                    subprocess.run([strip, str(exe)], check=True)
                    sizes.append(os.path.getsize(exe))
                    if opt == "-O2":
                        d = subprocess.run([readelf, "-d", str(exe)], capture_output=True, text=True).stdout
                        libs[(arch, name)] = [l.split("[")[1].rstrip("]") for l in d.splitlines() if "(NEEDED)" in l]
                rows.append((arch, name, sizes[0], sizes[1]))
        mem = []
        if shutil.which("valgrind"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            port = server.server_address[1]
            for k, (name, src) in enumerate(PROGRAMS):
                exe = tmp / f"p{k}-x86-64-O2"
                # The idem programs take a URL; the raw loop a port.
                arg = str(port) if "raw" in name else f"http://127.0.0.1:{port}"
                subprocess.run(["g++", "-std=c++17", "-O2", "-pthread", f"-I{ROOT}/include", str(tmp / f"p{k}.cpp"),
                                "-o", str(exe)], check=True)
                mem.append((name,) + peaks(exe, arg, tmp))
            server.shutdown()
        lines = ["| target | program | stripped, -Os | stripped, -O2 | shared libraries |", "| --- | --- | --- | --- | --- |"]
        for arch, name, os_, o2 in rows:
            lines.append(f"| {arch} | {name} | {os_ / 1024:.1f} KiB | {o2 / 1024:.1f} KiB | {', '.join(libs[(arch, name)])} |")
        if mem:
            lines += ["", "One request on x86-64 at -O2 (valgrind massif, `--stacks=yes`; the C++ runtime's own "
                      "start-up allocation included):", "",
                      "| program | heap peak | stack peak |", "| --- | --- | --- |"]
            for name, heap, stack in mem:
                lines.append(f"| {name} | {heap / 1024:.1f} KiB | {stack / 1024:.1f} KiB |")
        text = "\n".join(lines)
        print(text)
        if "--write-doc" in argv:
            doc = ROOT / "docs" / "sizes.md"
            doc_section.replace(doc, "SIZES", text, "tools/sizes.py")
            print(f"wrote {doc}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
