"""The `stories test` input: one JSON article per line, checked line by line.

A mistake names the file, the line and what is wrong with it, so a user fixes the file
without reading a traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from newswatch.stories import StoryInput

REQUIRED = ("id", "title", "published")
TEXT_FIELDS = ("title", "summary", "body", "source", "url")


class StoryFileError(ValueError):
    """A line of the articles file that cannot be read; the message is for the user."""


def _published(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise StoryFileError(f"{where}: 'published' must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StoryFileError(f"{where}: 'published' is not an ISO 8601 date: {value!r}") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_line(line: str, where: str) -> StoryInput:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StoryFileError(f"{where}, column {exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(item, dict):
        raise StoryFileError(f"{where}: expected a JSON object, got {type(item).__name__}")
    missing = [name for name in REQUIRED if name not in item]
    if missing:
        raise StoryFileError(f"{where}: missing {', '.join(repr(m) for m in missing)}")
    if not isinstance(item["id"], str | int) or isinstance(item["id"], bool):
        raise StoryFileError(f"{where}: 'id' must be a string or a number")
    for name in TEXT_FIELDS:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise StoryFileError(f"{where}: {name!r} must be a string")
    return StoryInput(
        id=str(item["id"]),
        title=item.get("title") or "",
        summary=item.get("summary") or "",
        body=item.get("body") or "",
        published_at=_published(item["published"], where),
    )


def read_articles(path: Path) -> list[StoryInput]:
    """Every article of the file, in file order; ids must be unique."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoryFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise StoryFileError(f"{path}: not UTF-8 text") from None
    articles: list[StoryInput] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        article = parse_line(line, where)
        if article.id in first_line:
            raise StoryFileError(
                f"{where}: id {article.id!r} already used on line {first_line[article.id]}"
            )
        first_line[article.id] = number
        articles.append(article)
    return articles
