"""Normalisation: what makes one story one article whatever link or markup it comes with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.entry import RawEntry
from newswatch.html_text import html_to_text
from newswatch.normalize import canonical_url, normalize_entry, story_key

FETCHED = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def entry(**overrides: object) -> RawEntry:
    fields: dict[str, object] = {
        "feed_url": "http://127.0.0.1/feed.xml",
        "source_title": "Harbour Gazette",
        "guid": "hg-1",
        "link": "https://harbourgazette.example/world/a",
        "title": "Title",
        "summary_html": "<p>Summary</p>",
        "content_html": "",
        "published": datetime(2024, 10, 18, 9, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return RawEntry(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "HTTPS://HarbourGazette.Example/world/a?utm_source=x&utm_medium=rss#top",
            "https://harbourgazette.example/world/a",
        ),
        (
            "https://harbourgazette.example/world/a?id=7&fbclid=abc&gclid=def&utm_campaign=w",
            "https://harbourgazette.example/world/a?id=7",
        ),
        ("http://example.org:80/x?mc_cid=1&msclkid=2", "http://example.org/x"),
        ("https://example.org:8443/x", "https://example.org:8443/x"),
        ("https://example.org", "https://example.org/"),
        ("ftp://example.org/file", None),
        ("not a url", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_url_drops_tracking_and_noise(raw: str | None, expected: str | None) -> None:
    assert canonical_url(raw) == expected


def test_html_to_text_keeps_words_and_drops_markup() -> None:
    html = (
        "<p>Wang said ties &ldquo;stand at a new starting point&rdquo;.</p>"
        "<script>alert('x')</script><p>Second&nbsp;para &amp; more</p>"
    )
    assert html_to_text(html) == (
        "Wang said ties \u201cstand at a new starting point\u201d.\nSecond para & more"
    )


def test_plain_text_with_entities_is_unescaped() -> None:
    assert html_to_text("AT&amp;T profits") == "AT&T profits"


def test_published_time_is_utc_and_falls_back_to_fetch_time() -> None:
    plus2 = timezone(timedelta(hours=2))
    article = normalize_entry(
        entry(published=datetime(2024, 10, 18, 11, 0, tzinfo=plus2)), fetched_at=FETCHED
    )
    assert article.published_at == datetime(2024, 10, 18, 9, 0, tzinfo=UTC)
    assert normalize_entry(entry(published=None), fetched_at=FETCHED).published_at == FETCHED


def test_fingerprint_is_stable_across_polls_and_prefers_guid() -> None:
    first = normalize_entry(entry(title="Old headline"), fetched_at=FETCHED)
    later = normalize_entry(
        entry(title="Headline edited later"), fetched_at=FETCHED + timedelta(hours=1)
    )
    assert first.fingerprint == later.fingerprint


def test_without_guid_the_canonical_url_identifies_the_article() -> None:
    a = normalize_entry(
        entry(guid=None, link="https://x.example/a?utm_source=1"), fetched_at=FETCHED
    )
    b = normalize_entry(entry(guid=None, link="https://X.example/a#comments"), fetched_at=FETCHED)
    assert a.fingerprint == b.fingerprint
    assert a.canonical_url == "https://x.example/a"


def test_without_guid_or_link_title_and_date_identify_it() -> None:
    a = normalize_entry(entry(guid=None, link=None, title="Same"), fetched_at=FETCHED)
    b = normalize_entry(entry(guid=None, link=None, title="Same"), fetched_at=FETCHED)
    c = normalize_entry(
        entry(guid=None, link=None, title="Same", published=datetime(2024, 1, 1, tzinfo=UTC)),
        fetched_at=FETCHED,
    )
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_story_key_ignores_case_accents_and_punctuation() -> None:
    assert story_key("Lammy visits Beijing!") == story_key("  lammy VISITS beijing ")
    assert story_key("Québec") == story_key("Quebec")
    assert story_key("Lammy visits Beijing") != story_key("Lammy visits Tokyo")
