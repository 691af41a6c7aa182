#!/usr/bin/env python3
"""Python's http.server as users run it (HTTP/1.0: one request per connection), counting
executions per method and X-Request-Id. Prints "listening PORT"; GET /stats lists the counts."""
import collections
import http.server
import sys
import threading

counts = collections.Counter()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path == "/stats":
            with lock:
                body = "".join(f"{k} {v}\n" for k, v in sorted(counts.items())).encode()
        else:
            rid = self.headers.get("X-Request-Id")
            if rid:
                with lock:
                    counts[f"{self.command} {rid}"] += 1
            body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _serve

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
sys.exit(0)
