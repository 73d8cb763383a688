"""What the rules see of an article is the same whether it is new (the cycle) or stored (a
backtest, a rule test, the index's sample): newswatch.matching.article_document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Engine

from newswatch import store
from newswatch.matching import article_document
from newswatch.models import CleanArticle
from rules import Document
from tests.support.aged_store import article

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)


def new_and_stored(engine: Engine, url: str | None) -> tuple[CleanArticle, Document]:
    """An English article with a body as the cycle has it, and what the rules see of it
    once the store gives it back."""
    new = replace(
        article("lammy", stored=NOW, title="Lammy visits Beijing"),
        body="Britain and China plan a visit.",
        lang="en",
        url=url,
        canonical_url=url,
    )
    with store.session_scope(engine) as s:
        store.sync_feeds(s, feeds=[(new.feed_url, "A")])
        feed_id = store.list_feeds(s)[0].id or 0
        store.store_articles(s, feed_id=feed_id, articles=[(new, [])], now=NOW)
    with store.session_scope(engine) as s:
        (stored,) = store.recent_articles(s, limit=5)
        return new, article_document(stored)


def test_a_new_and_a_stored_article_look_the_same_to_the_rules(engine: Engine) -> None:
    new, doc = new_and_stored(engine, "https://www.harbour.example/2024/lammy-beijing")

    assert doc == article_document(new)
    assert (doc.title, doc.body, doc.lang) == (new.title, new.body, "en")
    assert (doc.source, doc.host) == ("Harbour Gazette www.harbour.example", "www.harbour.example")


def test_an_article_without_a_link_is_known_by_its_feed_only_while_new(engine: Engine) -> None:
    new, doc = new_and_stored(engine, None)

    assert article_document(new).host == "a.test"  # the feed's host
    assert (doc.host, doc.source) == ("", "Harbour Gazette")
