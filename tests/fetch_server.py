"""A scripted HTTP/1.1 server for tests/check_fetch.sh: every byte it sends is
written here (no Date, no Server), so that fetch and curl can be compared
byte for byte.

    python3 tests/fetch_server.py     prints "port P", then serves 127.0.0.1:P

Routes (any method; HEAD gets the head alone):
    /echo               "METHOD TARGET", the request's headers sorted by name
                        (lower case), an empty line, then the request's body
    /redir/N            N > 0: 302 to /redir/N-1 (?code=301|303|307|308; ?abs=1:
                        an absolute Location), with a body of its own; 0: "landed"
    /moved?code=C&to=P  status C (default 302), Location: P, Content-Type: text/plain
    /status/CODE        that status, body "status CODE"
    /flaky/KEY/N        503 the first N times for KEY, then 200 "ok after N"
                        (?after=S: the 503 says Retry-After: S)
    /gzip               a gzip body (Content-Encoding: gzip) whatever was asked;
                        /badgzip: one that is corrupt
    /slow?ms=D          answers after D ms
    /drip?n=N&ms=D      N pieces of 64 KiB, D ms apart (Content-Length given)
    /files/NAME         "file NAME"
    /cut                promises 100 bytes, sends 10, closes
    /silent             reads the request, closes without a byte
    /bad                a status line that is not HTTP
    /chunks/bad         a chunked body whose second chunk size is not hex
    /chunks/and-length  Transfer-Encoding: chunked and Content-Length both (a
                        head that the library refuses, curl takes)
    /bighead            a head of 310 KiB (curl's limit is 300 KiB)
    /coding/NAME        "hello", said to be in Content-Encoding NAME
    /conc/TAG?until=N&ms=D
                        answers once N /conc/TAG requests have been in flight at
                        once, or after D ms if that never happens; /maxconc/TAG:
                        how many were in flight at once, at most
    CONNECT             403 (a proxy that refuses to tunnel)
A TLS ClientHello gets no answer at all (a handshake that never ends).
A request in the absolute form (through a proxy) is routed by its path.
"""
import gzip
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
arrived = threading.Condition(lock)  # a /conc/TAG request came
hits = {}
conc = {}  # TAG: [in flight now, the most at once]

GZIP_TEXT = b"hello gzip\n" * 100


def response(status, body=b"", headers=(), reason=None):
    reasons = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other", 307: "Temporary Redirect",
               308: "Permanent Redirect", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
               503: "Service Unavailable"}
    head = "HTTP/1.1 %d %s\r\n" % (status, reason or reasons.get(status, "Status"))
    for name, value in headers:
        head += "%s: %s\r\n" % (name, value)
    head += "Content-Length: %d\r\n\r\n" % len(body)
    return head.encode(), body


def route(method, target, headers, body):
    """The head and body to send, or a callable that answers on its own."""
    url = urllib.parse.urlsplit(target)
    path, query = url.path, urllib.parse.parse_qs(url.query)
    parts = path.strip("/").split("/")
    if method == "CONNECT":
        return response(403, b"no tunnels\n")
    if path == "/echo":
        lines = ["%s %s" % (method, target)] + sorted("%s: %s" % (n.lower(), v) for n, v in headers)
        return response(200, ("\n".join(lines) + "\n\n").encode("latin-1") + body, [("Content-Type", "text/plain")])
    if parts[0] == "redir" and len(parts) == 2:
        n = int(parts[1])
        if n == 0:
            return response(200, b"landed\n", [("Content-Type", "text/plain")])
        code = int(query.get("code", ["302"])[0])
        where = "/redir/%d%s" % (n - 1, "?" + url.query if url.query else "")
        if "abs" in query:
            where = "http://%s%s" % (dict((k.lower(), v) for k, v in headers).get("host", ""), where)
        return response(code, b"redirect %d\n" % n, [("Location", where)])
    if parts[0] == "status":
        return response(int(parts[1]), b"status %s\n" % parts[1].encode())
    if parts[0] == "flaky":
        key, n = parts[1], int(parts[2])
        with lock:
            hits[key] = hits.get(key, 0) + 1
            seen = hits[key]
        if seen <= n:
            return response(503, b"try %d\n" % seen, [("Retry-After", a) for a in query.get("after", [])])
        return response(200, b"ok after %d\n" % n)
    if path == "/cookies":  # a head past the library's defaults (16 KiB, 100 fields), as real sites send
        return response(200, b"many cookies\n", [("Set-Cookie", "c%d=%s" % (i, "v" * 200)) for i in range(150)])
    if path == "/gzip":
        return response(200, gzip.compress(GZIP_TEXT, mtime=0), [("Content-Encoding", "gzip")])
    if path == "/badgzip":
        return response(200, gzip.compress(GZIP_TEXT, mtime=0)[:20] + b"garbage!" * 8, [("Content-Encoding", "gzip")])
    if path == "/slow":
        time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
        return response(200, b"slow\n")
    if parts[0] == "conc" and len(parts) == 2:
        # A barrier rather than a sleep: requests sent together meet here
        # however slowly they come, and the most in flight is exact.
        until = int(query.get("until", ["0"])[0])
        with arrived:
            c = conc.setdefault(parts[1], [0, 0])
            c[0] += 1
            c[1] = max(c[1], c[0])
            arrived.notify_all()
            arrived.wait_for(lambda: until and c[1] >= until, int(query.get("ms", ["100"])[0]) / 1000)
            c[0] -= 1
        return response(200, b"conc\n")
    if parts[0] == "maxconc" and len(parts) == 2:
        with lock:
            most = conc.get(parts[1], [0, 0])[1]
        return response(200, b"%d\n" % most)
    if path == "/moved":
        return response(int(query.get("code", ["302"])[0]), b"moved\n",
                        [("Location", query["to"][0]), ("Content-Type", "text/plain")])
    if path == "/chunks/bad":
        return raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nxx\r\n0\r\n\r\n")
    if path == "/chunks/and-length":
        return raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                   b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    if path == "/bighead":
        return response(200, b"ok\n", [("X-Big-%d" % i, "b" * 1000) for i in range(310)])
    if parts[0] == "coding" and len(parts) == 2:
        return response(200, b"hello\n", [("Content-Encoding", parts[1])])
    if parts[0] == "files" and len(parts) == 2:
        return response(200, b"file %s\n" % parts[1].encode())
    if path == "/drip":
        return drip(int(query.get("n", ["10"])[0]), int(query.get("ms", ["100"])[0]))
    if path in ("/cut", "/silent", "/bad"):
        return path
    return response(404, b"no such route\n")


def raw(data):
    """These bytes, and the connection closed: for answers that break the rules."""
    def answer(sock, head_only):
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    return answer


def drip(n, ms):
    def answer(sock, head_only):
        piece = bytes(range(256)) * 256
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (n * len(piece)))
        for _ in range(0 if head_only else n):
            time.sleep(ms / 1000)
            sock.sendall(piece)
    return answer


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        if self.request.recv(1, socket.MSG_PEEK) == b"\x16":
            while self.request.recv(4096):
                pass
            return
        f = self.request.makefile("rb")
        while True:
            line = f.readline(65536)
            if not line.strip():
                return
            try:
                method, target, _ = line.decode("latin-1").split(" ", 2)
            except ValueError:
                return
            headers = []
            while True:
                h = f.readline(65536).decode("latin-1").rstrip("\r\n")
                if not h:
                    break
                name, _, value = h.partition(":")
                headers.append((name, value.strip()))
            length = int(dict((n.lower(), v) for n, v in headers).get("content-length", "0") or 0)
            body = f.read(length) if length else b""
            answer = route(method, target, headers, body)
            if answer == "/silent":
                return
            if answer == "/cut":
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                return
            if answer == "/bad":
                self.request.sendall(b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n")
                return
            if callable(answer):
                answer(self.request, method == "HEAD")
                continue
            head, body = answer
            self.request.sendall(head if method == "HEAD" else head + body)
            if method == "CONNECT":
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-answer is not news


if __name__ == "__main__":
    server = Server(("127.0.0.1", 0), Handler)
    print("port %d" % server.server_address[1], flush=True)
    socket.setdefaulttimeout(None)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
