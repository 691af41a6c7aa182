"""What the Python tests and benchmarks share: test certificates made with the openssl command
line, a loopback server that takes one connection at a time, and reading a head."""
import os
import socket
import subprocess
import threading


def make_certs(d, names="IP:127.0.0.1,DNS:localhost"):
    """A CA (d/ca.pem) and a P-256 server certificate it signed for `names` (d/server.pem,
    d/server.key), valid for two days. Returns (ca, cert, key)."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=idem test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write(f"subjectAltName={names}\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return tuple(os.path.join(d, f) for f in ("ca.pem", "server.pem", "server.key"))


def read_head(conn):
    """Reads from a socket until a blank line ends a head (or the peer stops). Returns (head,
    rest): the head without the blank line, and what came after it; head is None if the peer
    stopped first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


class OneAtATime:
    """Listens on 127.0.0.1 (an ephemeral port) and hands each connection, in turn, to
    serve(conn), with a 5 s timeout on the socket; `tls`, an ssl.SSLContext, wraps each one
    first. A connection that fails (a client that refused the certificate, a reset) is dropped
    and the next one taken. stop() ends the loop within 0.2 s and closes the listener."""

    def __init__(self, backlog=8, tls=None):
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._loop)
        self.thread.start()

    def serve(self, conn):
        raise NotImplementedError

    def _loop(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if self.tls is not None:
                        conn = self.tls.wrap_socket(conn, server_side=True)
                    self.serve(conn)
                except OSError:  # ssl.SSLError too
                    pass

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


class ConnectProxy(OneAtATime):
    """An HTTP proxy that makes CONNECT tunnels (RFC 9110 §9.3.6) to loopback ports, one at a
    time, and records each CONNECT head (its request line and fields, as bytes). Bytes pass
    both ways unchanged until either side closes."""

    def __init__(self):
        self.heads = []
        super().__init__()

    def serve(self, conn):
        import select
        head, rest = read_head(conn)
        if head is None:
            return
        self.heads.append(head)
        line = head.split(b"\r\n")[0].split(b" ")
        if line[0] != b"CONNECT" or len(line) != 3:
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        port = int(line[1].rpartition(b":")[2])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as up:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                up.sendall(rest)
            ends = {conn: up, up: conn}
            while ends:
                ready, _, _ = select.select(list(ends), [], [], 5)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    ends[s].sendall(data)
