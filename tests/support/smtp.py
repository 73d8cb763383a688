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
    """Offers no AUTH (a login fails the send), or with `accept_login` takes any login over
    plain SMTP (for channel URLs that carry a password)."""

    def __init__(self, port: int | None = None, *, accept_login: bool = False) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        login: dict[str, Any] = (
            {"authenticator": accept_any_login, "auth_require_tls": False} if accept_login else {}
        )
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **login)

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
def running_smtp_server(
    port: int | None = None, *, accept_login: bool = False
) -> Iterator[SmtpServer]:
    server = SmtpServer(port, accept_login=accept_login).start()
    try:
        yield server
    finally:
        server.stop()
