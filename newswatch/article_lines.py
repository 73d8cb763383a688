"""Articles as JSON lines (``id``, ``title``, ``summary``, ``body``, ``source``, ``url``,
``lang``), read for `newswatch rules test`: a bad line is reported as ``file:line`` and
skipped, the others go on; each article's language is detected once, when it is read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from newswatch.language import detect_language
from rules import Document


@dataclass(frozen=True)
class ArticleLine:
    id: Any  # as given in the file (usually a string), "" when missing
    doc: Document


class Unreadable(Exception):
    """The articles file cannot be read (the OS said why)."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(str(path))
        self.path, self.cause = path, cause


def read_articles(path: Path, err: TextIO) -> Iterator[ArticleLine]:
    """Articles from a JSON-lines file; bad lines are reported and skipped."""
    try:
        yield from _read_articles(path, err)
    except OSError as exc:
        raise Unreadable(path, exc) from None


def _read_articles(path: Path, err: TextIO) -> Iterator[ArticleLine]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                err.write(f"{path}:{number}: not valid JSON: {exc.msg} (column {exc.colno})\n")
                continue
            if not isinstance(data, dict):
                err.write(f"{path}:{number}: expected a JSON object with id, title, body…\n")
                continue
            yield ArticleLine(_value(data.get("id"), ""), document_of(data))


def _value(value: object, default: Any) -> Any:
    return default if value is None else value


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def document_of(data: Mapping[str, object]) -> Document:
    """The article's fields; the URL's host joins the source, so ``source:`` finds domains."""
    source = _text(data.get("source"))
    url_host = urlsplit(_text(data.get("url"))).hostname or ""
    host = url_host[4:] if url_host.startswith("www.") else url_host
    if host and host not in source:
        source = f"{source} {host}".strip()
    title, summary, body = (_text(data.get(f)) for f in ("title", "summary", "body"))
    return Document(
        title=title,
        summary=summary,
        body=body,
        source=source,
        # words are lemmatised in the article's language, as the monitor does
        lang=_text(data.get("lang")) or detect_language(title, summary, body),
        host=url_host,
    )
