"""The parts of an email that newswatch writes itself: its Message-ID and its text part.

Apprise's email plugin makes both on its own: a random Message-ID, written after any header
a URL adds (a `+Message-ID=` header gives two, which some servers refuse), and the text part
converted from the HTML one (links, paragraphs and highlights are lost). So its two helpers
are wrapped once: inside `email_parts(...)`, the ID is made from the message's key, which a
resent alert keeps (a mail client folds a duplicate), and the text part is newswatch's own
plain rendering. Outside the block, and for every other service, Apprise is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Parts:
    key: str | None
    text: str | None


_PARTS: ContextVar[_Parts | None] = ContextVar("newswatch_email_parts", default=None)
_WRAPPED = threading.Event()
_WRAP_LOCK = threading.Lock()


@contextmanager
def email_parts(*, key: str | None, text: str | None) -> Iterator[None]:
    """Emails Apprise sends in this block (this thread or task) get the Message-ID
    `<key@smtp-host>` and, when they have an HTML part, `text` as their text part."""
    if key is None and text is None:
        yield
        return
    _wrap_apprise_email()
    token = _PARTS.set(_Parts(key, text))
    try:
        yield
    finally:
        _PARTS.reset(token)


def _wrap_apprise_email() -> None:
    if _WRAPPED.is_set():
        return
    with _WRAP_LOCK:
        if _WRAPPED.is_set():
            return
        from apprise.plugins.email import base

        helpers = vars(base)  # the plugin module's globals, which its send() looks up
        helpers["make_msgid"] = _keyed_msgid(helpers["make_msgid"])
        helpers["convert_between"] = _own_text_part(helpers["convert_between"])
        _WRAPPED.set()


def _keyed_msgid(original: Callable[..., str]) -> Callable[..., str]:
    def make_msgid(idstring: str | None = None, domain: str | None = None) -> str:
        parts = _PARTS.get()
        if parts is None or parts.key is None:
            return original(idstring, domain)
        return f"<{parts.key}@{domain or 'newswatch.localhost'}>"

    return make_msgid


def _own_text_part(original: Callable[..., str]) -> Callable[..., str]:
    def convert_between(from_format: Any, to_format: Any, content: str) -> str:
        parts = _PARTS.get()
        if parts is None or parts.text is None or to_format != "text":
            return original(from_format, to_format, content)
        return parts.text

    return convert_between
