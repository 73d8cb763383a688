"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]


def accept_any_login(*_args: Any) -> AuthResult:
    return AuthResult(success=True)


class SmtpServer:
    """Takes any login over plain SMTP (the tests' channel URLs may carry a password)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self._controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=accept_any_login,
            auth_require_tls=False,
        )

    def channel_url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?from=newswatch@example.org"
            "&to=desk@example.org&format=text"
        )

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@contextmanager
def running_smtp_server(port: int | None = None) -> Iterator[SmtpServer]:
    server = SmtpServer(port).start()
    try:
        yield server
    finally:
        server.stop()
