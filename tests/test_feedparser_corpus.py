"""feedparser's own test corpus (its source distribution's tests/: about 2,240 XML and JSON
files: well-formed, ill-formed, encodings, entities) through the project's parse-and-normalise
path, connectors.feed.parse_feed -> normalize.normalize_entry, as a cycle's digest runs it.

Every file must end in entries or in a typed FeedParseError (never another exception), within
a time limit, with as many entries as feedparser itself finds, and with every word of
feedparser's visible text of a plain-text field. The source distribution is fetched once
with pip and kept in ~/.cache/newswatch-tests (or $NEWSWATCH_TEST_CACHE).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import feedparser
import pytest

from connectors.feed import FeedParseError, parse_feed
from newswatch.html_text import html_to_text
from newswatch.normalize import normalize_entry

PER_FILE_LIMIT_S = 5
NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    cache = Path(os.environ.get("NEWSWATCH_TEST_CACHE", Path.home() / ".cache/newswatch-tests"))
    version = feedparser.__version__
    root = cache / f"feedparser-{version}"
    if not (root / "tests").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        sdist = cache / f"feedparser-{version}.tar.gz"
        if not sdist.exists():
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary"]
            command += [":all:", f"feedparser=={version}", "-d", str(cache), "-q"]
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        with tarfile.open(sdist) as archive:
            archive.extractall(cache, filter="data")
    files = sorted(
        p for p in (root / "tests").rglob("*") if p.suffix in (".xml", ".json") and p.is_file()
    )
    assert len(files) > 2000
    return files


def relative(path: Path) -> str:
    """The file's path under feedparser's tests/ folder."""
    parts = path.parts
    return "/".join(parts[len(parts) - parts[::-1].index("tests") :])


class Hung(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def hung(_signum: int, _frame: FrameType | None) -> None:
        raise Hung

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_every_file_parses_to_its_entries_or_a_typed_error(corpus: list[Path]) -> None:
    untyped: list[str] = []
    hangs: list[str] = []
    lost: list[str] = []
    typed = entries = 0
    for path in corpus:
        body = path.read_bytes()
        name = relative(path)
        try:
            with time_limit(PER_FILE_LIMIT_S):
                parsed = parse_feed(body, url=f"https://feeds.example/{name}")
                articles = [normalize_entry(e, fetched_at=NOW) for e in parsed.entries]
        except FeedParseError:
            typed += 1
            articles = []
        except Hung:
            hangs.append(name)
            continue
        except Exception as exc:  # what the test is for: any other exception is a bug
            untyped.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        expected = len(feedparser.parse(io.BytesIO(body)).entries) if path.suffix == ".xml" else 0
        if len(articles) < expected:
            lost.append(f"{name}: {len(articles)} of {expected}")
        entries += len(articles)
    print(f"files={len(corpus)} entries={entries} typed_errors={typed}")
    assert untyped == []
    assert hangs == []
    assert lost == []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        # text/plain content is shown as written, never read as HTML
        ("wellformed/atom10/entry_content_text_plain_brackets.xml", "History of the <blink> tag"),
        ("wellformed/atom/entry_content_mode_base64.xml", "Example <b>Atom</b>"),
    ],
)
def test_plain_text_fields_keep_every_word(corpus: list[Path], name: str, words: str) -> None:
    (path,) = [p for p in corpus if str(p).endswith(name)]
    (entry,) = parse_feed(path.read_bytes(), url="https://feeds.example/f").entries
    article = normalize_entry(entry, fetched_at=NOW)
    assert words in f"{article.title}\n{article.summary}\n{article.body}"
    assert html_to_text(entry.summary_html) == html_to_text(entry.content_html) or article.body


# Where the project's text differs from feedparser's visible text (its sanitised HTML as a
# browser shows it), and why. Anything else that differs fails the test below.
KNOWN_DIFFERENCES = {
    # "<>" is no tag to an HTML5 parser: a browser shows it; feedparser's sanitiser drops it.
    "encoding/bozo_linenoise.xml": "'<>' is text in HTML5",
    # An ill-formed file with no declared encoding: both decodings are guesses (mojibake);
    # feedparser guesses differently when it is given HTTP headers (parse_feed gives it the
    # feed's URL as content-location).
    "illformed/chardet/shiftjis.xml": "undeclared encoding guessed differently",
    # "<!'" opens a bogus comment in HTML5: a browser shows nothing.
    "wellformed/rss/item_description_not_a_doctype.xml": "bogus comment",
    # Script source is never shown; feedparser's sanitiser drops the tag but keeps its text.
    "wellformed/sanitize/entry_content_crazy.xml": "script text dropped",
    "wellformed/sanitize/entry_summary_crazy.xml": "script text dropped",
    "wellformed/sanitize/entry_title_crazy.xml": "script text dropped",
    "wellformed/sanitize/item_content_encoded_crazy.xml": "script text dropped",
    "wellformed/sanitize/item_description_crazy.xml": "script text dropped",
    "wellformed/sanitize/item_fullitem_crazy.xml": "script text dropped",
    # A frame's or an object's fallback content is not shown by a browser; the sanitiser
    # drops the tag and keeps the fallback ("description").
    "wellformed/sanitize/entry_content_iframe.xml": "frame fallback dropped",
    "wellformed/sanitize/entry_summary_iframe.xml": "frame fallback dropped",
    "wellformed/sanitize/entry_content_object.xml": "object fallback dropped",
    "wellformed/sanitize/entry_summary_object.xml": "object fallback dropped",
    "wellformed/sanitize/entry_title_object.xml": "object fallback dropped",
    "wellformed/sanitize/item_content_encoded_object.xml": "object fallback dropped",
    "wellformed/sanitize/item_description_object.xml": "object fallback dropped",
    "wellformed/sanitize/item_fullitem_object.xml": "object fallback dropped",
    # "<![CDATA[<script>" is a bogus comment ending at the first ">": a browser shows "]]>".
    "wellformed/sanitize/item_content_encoded_script_nested_cdata.xml": "HTML5 comment rules",
}


def feedparser_visible(entry: dict[str, object], field: str) -> str | None:
    value = entry.get(field)
    if not isinstance(value, str):
        return None
    detail = entry.get(f"{field}_detail")
    kind = detail.get("type") if isinstance(detail, dict) else None
    contents = entry.get("content")
    if kind is None and field == "summary" and isinstance(contents, list) and contents:
        kind = contents[0].get("type") if contents[0].get("value") == value else None
    return " ".join((value if kind == "text/plain" else html_to_text(value)).split())


def test_text_differs_from_feedparsers_only_where_listed(corpus: list[Path]) -> None:
    differing: set[str] = set()
    compared = 0
    for path in corpus:
        if path.suffix != ".xml":
            continue
        body = path.read_bytes()
        try:
            ours = parse_feed(body, url="https://feeds.example/f").entries
        except FeedParseError:
            continue
        for raw, theirs in zip(ours, feedparser.parse(io.BytesIO(body)).entries, strict=False):
            article = normalize_entry(raw, fetched_at=NOW)
            for field, mine in (("title", article.title), ("summary", article.summary)):
                visible = feedparser_visible(theirs, field)
                if visible is None:
                    continue
                compared += 1
                if " ".join(mine.split()) != visible:
                    differing.add(relative(path))
    print(f"fields compared={compared} differing files={len(differing)}")
    assert differing == set(KNOWN_DIFFERENCES)
