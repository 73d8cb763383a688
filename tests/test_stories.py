"""Story grouping: copies of one story alert once, naming every outlet; other stories on the
same topic and day alert on their own; `newswatch stories test` as a user runs it.

The cycle tests run whole cycles, the feeds served from memory (FeedTransport), the alerts to a
local SMTP server; the worked example's Lammy story is re-run by a fourth outlet under its own
URL and guid, the way real syndication arrives (the example feeds' own copy links to the
original URL).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from newswatch import store
from newswatch.models import Article, CleanArticle, Delivery, MatchToStore
from newswatch.settings import Settings
from newswatch.store import make_engine, migrate, session_scope, store_articles
from newswatch.store.stories import LOOKBACK, StoryWindow
from newswatch.stories import DEFAULT_THRESHOLD, StoryInput, group, new_story_key
from tests.support.cycles import cycle
from tests.support.examples import ROOT, example_feeds, feed_url, write_config
from tests.support.smtp import SmtpServer

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
NEWSWATCH = Path(sys.executable).with_name("newswatch")
LABELLED = ROOT / "tests" / "data" / "stories" / "articles.jsonl"

LAMMY_TITLE = "Lammy visits Beijing as UK and China seek a reset"
LAMMY_TEXT = (
    "<p>UK Foreign Secretary David Lammy arrived in Beijing on Friday, 18 October 2024, for "
    "talks with Chinese Foreign Minister Wang Yi, the first visit to China by a British "
    "foreign secretary in more than six years.</p><p>Wang told his guest that relations "
    "between the two countries &ldquo;stand at a new starting point&rdquo;, while Lammy said "
    "he would raise human rights and Russia's war in Ukraine alongside trade and climate.</p>"
)
SUMMONED_TITLE = "Britain summons Chinese ambassador over sanctions on MPs"
SUMMONED_TEXT = (
    "<p>The Foreign Office in London summoned China's ambassador on Friday to protest against "
    "sanctions imposed on five members of parliament, hours after the foreign secretary's "
    "visit to Beijing. Officials called the measures an unacceptable attack on democratic "
    "debate in the UK and urged China to lift them.</p>"
)


def outlet_feed(*items: tuple[str, str, str, str]) -> bytes:
    """An RSS feed of the Metro Herald: (guid, title, link, html) per item."""
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        f"<guid isPermaLink='false'>{guid}</guid>"
        f"<pubDate>Fri, 18 Oct 2024 10:30:00 +0000</pubDate>"
        f"<description><![CDATA[{html}]]></description></item>"
        for guid, title, link, html in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Metro Herald</title>'
        f"{entries}</channel></rss>"
    ).encode()


WIRE_COPY = (
    "mh-1",
    LAMMY_TITLE,
    "https://metroherald.example/world/lammy-in-beijing",
    LAMMY_TEXT,
)


def deliveries(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Delivery)).all())


def story_of(engine: Engine, url: str) -> str:
    with Session(engine) as session:
        return session.exec(select(Article.story_key).where(col(Article.url) == url)).one()


def test_a_wire_copy_under_its_own_url_and_guid_alerts_once_naming_every_outlet(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    feeds.set(feed_url(feeds, "/metro.xml"), body=outlet_feed(WIRE_COPY))
    config = write_config(
        tmp_path, feeds, smtp_server.channel_url(), extra_feeds={"/metro.xml": "Metro Herald"}
    )

    report = cycle(engine, config, NOW, transport=feeds)

    assert report.delivery.sent == 1
    (message,) = smtp_server.inbox.messages
    assert message["Subject"] == f"[UK-China visits] {LAMMY_TITLE}"
    body = message.get_content()
    also = next(line for line in body.splitlines() if line.startswith("Also reported by:"))
    assert "Metro Herald" in also
    assert "Northern Ledger" in also
    assert "Continental Wire" in also
    assert deliveries(engine) == 1
    assert story_of(engine, WIRE_COPY[2]) == story_of(
        engine, "https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit"
    )


def test_a_copy_arriving_after_the_alert_adds_its_outlet_and_sends_nothing(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    cycle(engine, write_config(tmp_path, feeds, smtp_server.channel_url()), NOW, transport=feeds)
    assert len(smtp_server.inbox.messages) == 1

    rewrite = (
        "mh-2",
        "Foreign secretary Lammy in Beijing for talks with Wang Yi",  # its own headline
        "https://metroherald.example/world/lammy-wang-talks",
        LAMMY_TEXT.replace("arrived in Beijing", "landed in Beijing"),
    )
    feeds.set(feed_url(feeds, "/metro.xml"), body=outlet_feed(rewrite))
    later = write_config(
        tmp_path, feeds, smtp_server.channel_url(), extra_feeds={"/metro.xml": "Metro Herald"}
    )
    report = cycle(engine, later, NOW + timedelta(hours=3), transport=feeds)

    assert (report.new_articles, report.matches) == (1, 1)  # stored and matched ...
    assert report.delivery.sent == 0  # ... and not alerted again
    assert len(smtp_server.inbox.messages) == 1
    assert deliveries(engine) == 1
    original = "https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit"
    assert story_of(engine, rewrite[2]) == story_of(engine, original)


def test_another_story_on_the_same_topic_the_same_day_is_alerted_on_its_own(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    feeds = example_feeds()
    summoned = (
        "mh-3",
        SUMMONED_TITLE,
        "https://metroherald.example/politics/ambassador-summoned",
        SUMMONED_TEXT,
    )
    feeds.set(feed_url(feeds, "/metro.xml"), body=outlet_feed(WIRE_COPY, summoned))
    config = write_config(
        tmp_path, feeds, smtp_server.channel_url(), extra_feeds={"/metro.xml": "Metro Herald"}
    )

    report = cycle(engine, config, NOW, transport=feeds)

    assert report.delivery.sent == 2
    assert sorted(smtp_server.inbox.subjects()) == sorted(
        [f"[UK-China visits] {LAMMY_TITLE}", f"[UK-China visits] {SUMMONED_TITLE}"]
    )
    assert story_of(engine, summoned[2]) != story_of(engine, WIRE_COPY[2])


def test_a_cycle_reads_its_window_of_sketches_through_the_index(engine: Engine) -> None:
    """The grouping reads the stored sketches of its window by time: an index range, never a
    scan of the table (the bands are cut in memory, no table of them is stored)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan is read with SQLite's EXPLAIN QUERY PLAN")
    with engine.connect() as connection:
        plan = connection.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT id, story_key, signature, published_at "
                "FROM story_sketch WHERE published_at >= '2024-10-16' "
                "AND published_at <= '2024-10-20' AND id <= 99"
            )
        ).all()
        tables = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_story_sketch_published_at" in details
    assert "SCAN" not in details
    assert "story_band" not in tables


# --- `newswatch stories test` ---------------------------------------------------------------


def run_stories(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSWATCH), "stories", "test", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def test_stories_test_prints_one_key_per_article_and_copies_share_it() -> None:
    done = run_stories("--articles", str(LABELLED), "--format", "jsonl")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    labelled = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    assert [line["article"] for line in lines] == [item["id"] for item in labelled]
    assert all(set(line) == {"article", "story"} for line in lines)
    key = {line["article"]: line["story"] for line in lines}
    for kind in ("copy", "rewrite", "headline"):
        assert key[f"lammy-visit-{kind}"] == key["lammy-visit-original"]
    # the same topic, the same day, another story
    assert key["ambassador-summoned-original"] != key["lammy-visit-original"]
    assert key["quake-japan-original"] != key["quake-chile-original"]
    assert key["ecb-cut-copy"] != key["fed-hold-copy"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"id": "a", "title": "t", "published": "2024-10-18T09:00:00Z"}\n{"id": "b"\n',
            ":2, column",
        ),
        ('{"id": "a", "title": "t"}\n', ":1: missing 'published'"),
        ('{"id": "a", "title": "t", "published": "yesterday"}\n', ":1: 'published' is not an ISO"),
        ("[1, 2]\n", ":1: expected a JSON object"),
        (
            '{"id": "a", "title": "t", "published": "2024-10-18T09:00:00Z"}\n'
            '{"id": "a", "title": "u", "published": "2024-10-18T09:00:00Z"}\n',
            ":2: id 'a' already used on line 1",
        ),
        ('{"id": "a", "title": 5, "published": "2024-10-18T09:00:00Z"}\n', ":1: 'title' must be"),
    ],
)
def test_stories_test_names_the_bad_line_and_exits_2(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "articles.jsonl"
    path.write_text(content, encoding="utf-8")

    done = run_stories("--articles", str(path), "--format", "jsonl")

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {path}{message}"), done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_stories_test_refuses_a_missing_file_and_an_unknown_format(tmp_path: Path) -> None:
    missing = run_stories("--articles", str(tmp_path / "none.jsonl"), "--format", "jsonl")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "none.jsonl: cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr

    wrong = run_stories("--articles", str(LABELLED), "--format", "csv")
    assert (wrong.returncode, wrong.stdout) == (2, "")
    assert "only 'jsonl'" in wrong.stderr


def test_the_bench_reports_precision_and_recall_and_the_default_is_among_the_best() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stories.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["pairs"]["positive"] + result["pairs"]["hard_negative"] >= 200
    assert result["default_threshold"] == DEFAULT_THRESHOLD == Settings().story_threshold
    assert DEFAULT_THRESHOLD in result["best_thresholds"]
    default = result["thresholds"][str(DEFAULT_THRESHOLD)]
    assert default["false_merges_same_topic"] == 0


def test_the_readme_stories_command_runs_as_written(tmp_path: Path) -> None:
    """The README's Stories block, verbatim, in a folder holding the articles file it names."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n### Stories\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines()]
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "articles.jsonl").write_text(LABELLED.read_text(encoding="utf-8"), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}

    (line,) = [line for line in lines if line]
    done = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    keys = {json.loads(x)["article"]: json.loads(x)["story"] for x in done.stdout.splitlines()}
    assert len(keys) == 80
    assert keys["quake-chile-headline"] == keys["quake-chile-original"]
    assert keys["quake-chile-original"] != keys["quake-japan-original"]


def test_an_alert_sent_before_the_upgrade_is_not_sent_again_for_a_later_copy(
    database_url: str,
) -> None:
    """A store at the revision before stories, holding a story alerted on `desk`, upgraded:
    a copy of that story stored after the upgrade (another outlet's guid and URL) is
    matched and sends nothing."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    engine = make_engine(database_url)
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(ROOT / "newswatch/store/migrations"))
    with engine.begin() as connection:
        alembic.attributes["connection"] = connection
        command.upgrade(alembic, "0007")
    summary = re.sub("<[^>]+>", " ", LAMMY_TEXT)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO feed (url, name, title, health, consecutive_failures, "
                "entries_seen, gone) VALUES ('https://hg.example/rss', 'HG', '', 'ok', 0, 0, false)"
            )
        )
        connection.execute(
            text("INSERT INTO rule (id, query, name, updated_at) VALUES ('r', 'q', '', :t)"),
            {"t": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO article (fingerprint, story_key, feed_id, source, title, summary, "
                "body, published_at, fetched_at) VALUES ('fp', 'old-key', 1, 'HG', :title, "
                ":summary, '', :t, :t)"
            ),
            {"t": NOW, "title": LAMMY_TITLE, "summary": summary},
        )
        connection.execute(
            text(
                "INSERT INTO match (article_id, rule_id, terms, matched_at) "
                "VALUES (1, 'r', '[]', :t)"
            ),
            {"t": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO delivery (match_id, channel, kind, status, attempts, created_at, "
                "next_attempt_at) VALUES (1, 'desk', 'instant', 'sent', 1, :t, :t)"
            ),
            {"t": NOW},
        )

    migrate(engine)
    copy = CleanArticle(
        fingerprint="metro-copy",
        canonical_url="https://metroherald.example/world/lammy-in-beijing",
        story_key="",
        feed_url="https://hg.example/rss",
        source="Metro Herald",
        title=LAMMY_TITLE,
        summary=summary,
        body="",
        url="https://metroherald.example/world/lammy-in-beijing",
        author=None,
        published_at=NOW + timedelta(hours=2),
        fetched_at=NOW + timedelta(hours=2),
    )
    with session_scope(engine) as session:
        counts = store_articles(
            session,
            feed_id=1,
            articles=[(copy, [MatchToStore(rule_id="r", terms=["q"], channels=["desk"])])],
            now=NOW + timedelta(hours=2),
        )
    engine.dispose()
    assert (counts.new_articles, counts.matches, counts.deliveries) == (1, 1, 0)


SCALE_ARGS = ("--small", "50", "--large", "150", "--new", "10")


def test_the_scale_bench_groups_against_two_store_sizes_and_prints_json() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stories_scale.py"), *SCALE_ARGS],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["stored"] == {"small": 50, "large": 150}
    assert set(result["ms_per_article"]) == {"small", "large"}
    assert result["large_over_small"] > 0


def headline_only(id_: str, title: str) -> StoryInput:
    return StoryInput(id=id_, title=title, summary="", body="", published_at=NOW)


def test_headline_only_copies_group_and_a_one_word_difference_stays_apart() -> None:
    """A feed that carries headlines only: the same headline from two outlets is one story,
    but "strikes Japan" and "strikes Chile" are two, though most of their words agree."""
    keys = group(
        [
            headline_only("jp", "Magnitude 6 earthquake strikes Japan"),
            headline_only("jp-copy", "Magnitude 6 earthquake strikes Japan."),
            headline_only("cl", "Magnitude 6 earthquake strikes Chile"),
        ]
    )
    assert keys["jp-copy"] == keys["jp"]
    assert keys["cl"] != keys["jp"]


def test_prune_keeps_a_copy_of_a_matched_story_that_matched_nothing_itself(
    engine: Engine, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The copy's outlet is one of the story's "also reported by": it stays while its
    story's match does, and the unmatched articles of other stories go."""
    from newswatch.prune import prune_articles

    feeds = example_feeds()
    cycle(engine, write_config(tmp_path, feeds, smtp_server.channel_url()), NOW, transport=feeds)
    no_visit = (
        "mh-3",
        "Lammy in Beijing for talks with Wang Yi",
        "https://metroherald.example/world/lammy-talks",
        LAMMY_TEXT.replace("the first visit to China", "the first trip to China"),
    )
    feeds.set(feed_url(feeds, "/metro.xml"), body=outlet_feed(no_visit))
    later = write_config(
        tmp_path, feeds, smtp_server.channel_url(), extra_feeds={"/metro.xml": "Metro Herald"}
    )
    report = cycle(engine, later, NOW + timedelta(hours=3), transport=feeds)
    assert (report.new_articles, report.matches) == (1, 0)
    original = "https://harbourgazette.example/world/2024/10/18/lammy-beijing-visit"
    assert story_of(engine, no_visit[2]) == story_of(engine, original)

    pruned = prune_articles(engine, older_than=timedelta(hours=1), now=NOW + timedelta(days=1))

    with Session(engine) as session:
        urls = {a.url for a in session.exec(select(Article)).all()}
    assert pruned.articles > 0
    assert no_visit[2] in urls
    assert len(urls) == 2  # the matched story's two copies


# --- the cycle's window of stored sketches (store/stories.py) ---------------------------------


def clean(fingerprint: str, title: str, text: str, published_at: datetime) -> CleanArticle:
    return CleanArticle(
        fingerprint=fingerprint,
        canonical_url=f"https://{fingerprint}.example/story",
        story_key="",
        feed_url=f"https://{fingerprint}.example/rss",
        source=fingerprint,
        title=title,
        summary=text,
        body="",
        url=f"https://{fingerprint}.example/story",
        author=None,
        published_at=published_at,
        fetched_at=published_at,
    )


def store_one(engine: Engine, stories: StoryWindow, article: CleanArticle) -> str:
    """Store one article as a cycle's batch would, grouped through `stories`; its story."""
    with session_scope(engine) as session:
        feed_id = one_feed(session)
        store_articles(session, feed_id=feed_id, articles=[(article, [])], now=NOW, stories=stories)
    return story_of(engine, article.url or "")


def one_feed(session: Session) -> int:
    store.sync_feeds(session, feeds=[("https://wire.example/rss", "Wire")])
    return store.list_feeds(session)[0].id or 0


LAMMY_PLAIN = re.sub("<[^>]+>", " ", LAMMY_TEXT)
SUMMONED_PLAIN = re.sub("<[^>]+>", " ", SUMMONED_TEXT)


def test_two_runs_storing_at_once_group_each_others_copies(engine: Engine) -> None:
    """Shard runs keep a window each: a copy one stores after the other read its window
    still joins the story the other stored meanwhile, both ways."""
    first, second = StoryWindow(), StoryWindow()
    store_one(engine, first, clean("a1", "Markets calm", "Shares were flat on Friday.", NOW))
    store_one(engine, second, clean("b1", "Rain due", "Rain is due over the weekend.", NOW))

    lammy = store_one(engine, first, clean("wire", LAMMY_TITLE, LAMMY_PLAIN, NOW))
    assert store_one(engine, second, clean("metro", LAMMY_TITLE, LAMMY_PLAIN, NOW)) == lammy

    summoned = store_one(engine, second, clean("post", SUMMONED_TITLE, SUMMONED_PLAIN, NOW))
    copy = clean("herald", SUMMONED_TITLE, SUMMONED_PLAIN, NOW + timedelta(hours=1))
    assert store_one(engine, first, copy) == summoned != lammy


def test_a_copy_published_long_before_the_window_read_finds_its_story(engine: Engine) -> None:
    """The window is read around every article's own date: a copy of a year-old story joins
    it, though the cycle read the window of today's articles first."""
    stories = StoryWindow()
    year_ago = NOW - timedelta(days=365)
    old = store_one(engine, StoryWindow(), clean("archive", LAMMY_TITLE, LAMMY_PLAIN, year_ago))
    later = [  # more than a first read takes by id (LOOKBACK), whatever their dates
        (clean(f"n{i}", f"Item {i}", f"Note number {i} of many, text {i * 7}.", NOW), [])
        for i in range(LOOKBACK + 1)
    ]
    with session_scope(engine) as session:
        store_articles(session, feed_id=one_feed(session), articles=later, now=NOW)
    store_one(engine, stories, clean("today", "Markets calm", "Shares were flat.", NOW))
    copy = clean("reprint", LAMMY_TITLE, LAMMY_PLAIN, year_ago + timedelta(hours=2))
    assert store_one(engine, stories, copy) == old


def test_a_story_whose_transaction_rolled_back_is_not_joined(engine: Engine) -> None:
    """A batch that fails is stored again feed by feed: the window forgets what the failed
    transaction grouped, so a copy starts its story instead of joining one never stored."""
    stories = StoryWindow()
    mark = stories.mark()
    with pytest.raises(RuntimeError, match="the batch failed"):
        store_then_fail(engine, stories, clean("wire", LAMMY_TITLE, LAMMY_PLAIN, NOW))
    stories.rollback(mark)

    metro = store_one(engine, stories, clean("metro", LAMMY_TITLE, LAMMY_PLAIN, NOW))
    herald = store_one(engine, stories, clean("herald", LAMMY_TITLE, LAMMY_PLAIN, NOW))
    with Session(engine) as session:
        assert sorted(session.exec(select(Article.fingerprint)).all()) == ["herald", "metro"]
    assert metro == new_story_key("metro") == herald


def store_then_fail(engine: Engine, stories: StoryWindow, article: CleanArticle) -> None:
    with session_scope(engine) as session:
        store_articles(
            session, feed_id=one_feed(session), articles=[(article, [])], now=NOW, stories=stories
        )
        raise RuntimeError("the batch failed")
