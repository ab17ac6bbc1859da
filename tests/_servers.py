"""A real HTTP server on 127.0.0.1 with fault injection, for the pull and sources tests.

Routes: ``/data.csv`` (current ``body``, strong ETag, Last-Modified, 304 on a
conditional GET), ``/missing`` (404), ``/error`` (always 500), ``/flaky``
(500 ``flaky_failures`` times, then the data), ``/slow`` (headers, then silence),
``/truncated`` (announces more bytes than it sends), ``/trickle`` (sends the
data slowly, for kill -9 tests). Every request is recorded with its headers.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self) -> None:
        self.body = b"a,b\n1,2\n"
        self.modified = time.time() - 3600
        self.flaky_failures = 0
        self.trickle_delay = 0.2
        self.use_etag = True
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, route: str = "data.csv") -> str:
        return f"http://127.0.0.1:{self.port}/{route}"

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.modified = self.modified + 60

    def reset(self) -> None:
        self.body = b"a,b\n1,2\n"
        self.modified = time.time() - 3600
        self.flaky_failures = 0
        self.trickle_delay = 0.2
        self.use_etag = True
        self.requests.clear()

    def count(self, route: str) -> int:
        return sum(1 for path, _, _ in self.requests if path == "/" + route)

    def statuses(self, route: str) -> list[int]:
        return [status for path, _, status in self.requests if path == "/" + route]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _record(self, status: int) -> None:
                with server._lock:
                    server.requests.append((self.path, dict(self.headers), status))

            def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self._record(status)
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def do_GET(self):
                route = self.path.lstrip("/")
                if route == "data.csv" or (route == "flaky" and server.flaky_failures <= 0):
                    return self._data()
                if route == "flaky":
                    server.flaky_failures -= 1
                    return self._reply(500, b"boom\n")
                if route == "missing":
                    return self._reply(404, b"no such file\n")
                if route == "error":
                    return self._reply(500, b"boom\n")
                if route == "slow":
                    self._record(200)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.flush()
                    time.sleep(5)
                    return None
                if route == "truncated":
                    self._record(200)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.body) + 1000))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(server.body)
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                if route == "trickle":
                    self._record(200)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    try:
                        for i in range(0, len(server.body), 64):
                            self.wfile.write(server.body[i : i + 64])
                            self.wfile.flush()
                            time.sleep(server.trickle_delay)
                    except OSError:
                        pass
                    return None
                return self._reply(404, b"unknown route\n")

            def _data(self):
                headers = {"Last-Modified": formatdate(server.modified, usegmt=True)}
                if server.use_etag:
                    headers["ETag"] = server.etag
                    if self.headers.get("If-None-Match") == server.etag:
                        return self._reply(304, b"", headers)
                elif self.headers.get("If-Modified-Since") == headers["Last-Modified"]:
                    return self._reply(304, b"", headers)
                return self._reply(200, server.body, headers)

        return Handler


def refused_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
