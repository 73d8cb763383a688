"""A French entry, as a feed gives it, is normalised with its language, stored with it,
matched in French (an inflection of the rule's verb) and alerted with a Language line, as
the email arrives at a real SMTP server."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.entry import RawEntry
from newswatch import store
from newswatch.matching import Matcher
from newswatch.models import Article
from newswatch.normalize import normalize_entry
from newswatch.notify import deliver
from newswatch.plan import prepare
from tests.support.alerts_data import NOW, make_config
from tests.support.smtp import SmtpServer

FRENCH_RULE = """\
rules:
  - id: visites-pekin
    name: Visites à Pékin
    query: visiter AND Pékin
    channels: [desk]
"""
TITLE = "Le chef de la diplomatie britannique a visité Pékin"
SUMMARY = (
    "<p>David Lammy a rencontré Wang Yi vendredi à Pékin, la première visite d'un chef de la "
    "diplomatie britannique en Chine depuis six ans.</p>"
)


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    # the mail may carry accents decomposed; compare letters, not code points
    return unicodedata.normalize("NFC", str(part.get_content()).replace("\r\n", "\n"))


def test_a_french_article_is_matched_in_french_and_alerted_with_its_language(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    url = f"mailto://127.0.0.1:{smtp_server.port}?from=nw@example.org&to=desk@example.org"
    config = make_config(tmp_path, {"desk": f"url: '{url}'"}, more=FRENCH_RULE)
    prepare(engine, config, now=NOW)
    entry = RawEntry(
        feed_url="http://127.0.0.1:9/feed.xml",
        source_title="La Gazette du Port",
        guid="fr-1",
        link="https://gazette.example/fr/1",
        title=TITLE,
        summary_html=SUMMARY,
        content_html="",
        published=NOW - timedelta(hours=1),
    )
    article = normalize_entry(entry, fetched_at=NOW)
    assert article.lang == "fr"
    matcher = Matcher(config)
    hits = matcher.match(article)
    assert [h.rule_id for h in hits] == ["visites-pekin"]  # visité is a form of visiter
    with Session(engine) as session:
        (feed,) = store.list_feeds(session)
        store.store_articles(
            session,
            feed_id=feed.id or 0,
            articles=[(article, [matcher.to_store(h, article) for h in hits])],
            now=NOW,
        )
        session.commit()
        (stored,) = session.exec(select(Article)).all()
        assert stored.lang == "fr"

    report = deliver(engine, config, environ={}, now=NOW)

    assert report.sent == 1
    (message,) = smtp_server.inbox.messages
    lines = _text(message).splitlines()
    assert "Language: fr" in lines
    # the title's participle and the summary's "visite" are both forms of visiter
    assert "Matched: visité, visite, Pékin" in lines
