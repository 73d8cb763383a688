"""A real HTTP feed server on 127.0.0.1 for tests: ETags, Last-Modified, faults, a request log."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: bool = True  # send an ETag (and honour If-None-Match)
    last_modified: str | None = "Fri, 18 Oct 2024 09:00:00 GMT"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    # a feed that answers only when the test says so: the request waits until this is set
    hold: threading.Event | None = None

    def etag_value(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    status: int


class FeedServer:
    """Serve `routes` (path -> Route); change them between cycles to simulate news."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests read `requests` instead."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.requests if s.path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        route = self.routes.get(path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if route is not None and route.hold is not None:
            route.hold.wait()
        status = 404 if route is None else route.status
        if route is not None and route.delay_s:
            time.sleep(route.delay_s)
        if route is not None and status == 200:
            etag_matches = route.etag and headers.get("if-none-match") == route.etag_value()
            date_matches = (
                not route.etag
                and route.last_modified
                and headers.get("if-modified-since") == route.last_modified
            )
            if etag_matches or date_matches:
                status = 304
        with self._lock:
            self.requests.append(Seen(path, headers, status))
        handler.send_response(status)
        body = b"" if route is None or status == 304 else route.body
        if route is not None:
            handler.send_header("Content-Type", route.content_type)
            if route.etag:
                handler.send_header("ETag", route.etag_value())
            if route.last_modified:
                handler.send_header("Last-Modified", route.last_modified)
            for name, value in route.headers.items():
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for route in self.routes.values():  # no request is left waiting for a test that ended
            if route.hold is not None:
                route.hold.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def running_feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
