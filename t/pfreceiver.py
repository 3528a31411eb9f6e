"""A webhook receiver on loopback for the tests: records every request
(path, headers, exact body bytes, arrival and end times) and answers by
path:

  /ok/...          200
  /status/N/...    N (410, 500, 302 with a Location back to /ok/redirected)
  /flaky/K/...     500 for the first K requests to that exact path, then 200
  /hang/S/...      holds the request S seconds, then 200
"""
import http.server
import socket
import threading
import time


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receiver:
    def __init__(self, host="127.0.0.1"):
        self.requests = []
        self.lock = threading.Lock()
        self.counts = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                start = time.time()
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = {"path": self.path, "headers": {k.lower(): v for k, v in
                                                      self.headers.items()},
                       "body": body, "t": start, "end": None}
                with outer.lock:
                    outer.requests.append(rec)
                    outer.counts[self.path] = outer.counts.get(self.path, 0) + 1
                    seen = outer.counts[self.path]
                status, extra = outer._answer(self.path, seen)
                rec["status"] = status
                self.send_response(status)
                for k, v in extra:
                    self.send_header(k, v)
                reply = b'{"received":true}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                try:
                    self.wfile.write(reply)
                except OSError:
                    pass
                rec["end"] = time.time()

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _Server.address_family = family
        self.server = _Server((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, path, seen):
        parts = path.strip("/").split("/")
        kind = parts[0] if parts else ""
        if kind == "status":
            code = int(parts[1])
            extra = [("Location", "/ok/redirected")] if 300 <= code < 400 else []
            return code, extra
        if kind == "flaky":
            return (500 if seen <= int(parts[1]) else 200), []
        if kind == "hang":
            time.sleep(float(parts[1]))
            return 200, []
        return 200, []

    def url(self, path, scheme="http"):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def received(self, prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def wait_for(self, prefix, count, timeout=30.0):
        end = time.time() + timeout
        while time.time() < end:
            got = self.received(prefix)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.received(prefix)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
