"""A real HTTP receiver for webhook channels (json://, and Slack's incoming-webhook contract).

It answers each POST with the next planned response (status, headers), so tests can make a
service fail with a 500 or rate-limit with a 429 and Retry-After, then recover.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"  # Slack's webhooks answer 200 "ok"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    payload: Any
    status: int


class WebhookReceiver:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.received: list[Received] = []
        self.plan: list[Reply] = []  # consumed one per request; then `default`
        self.default = Reply()
        self.delay_s = delay_s
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload: Any = json.loads(raw)
                except ValueError:
                    payload = raw.decode("utf-8", "replace")
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._lock:
                    reply = receiver.plan.pop(0) if receiver.plan else receiver.default
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            payload,
                            reply.status,
                        )
                    )
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: tests read `received`."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def json_url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status < 300]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def running_receiver(delay_s: float = 0.0) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(delay_s).start()
    try:
        yield receiver
    finally:
        receiver.stop()
