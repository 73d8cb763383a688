"""`newswatch feeds status / import / add` against a real database, real files and a real
feed server (`add` probes it); the status tests' cycles read their feeds from FeedTransport.
The config file must come out with the user's comments and layout intact."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors.testing import FeedTransport
from flows.cli import app
from newswatch import cycle, store
from newswatch.config import load_config
from newswatch.feeds_admin import FeedsAdminError, insert_feeds
from tests.support.examples import EXAMPLES
from tests.support.feedserver import FeedServer, Route

NOW = datetime(2024, 10, 18, 12, 0, tzinfo=UTC)
RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quay Times</title>'
    b"<item><title>One</title><link>https://quay.example/1</link></item>"
    b"<item><title>Two</title><link>https://quay.example/2</link></item></channel></rss>"
)
OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="World">
      <outline type="rss" text="World desk" xmlUrl="https://news.example/world.xml"/>
      <outline text="Asia">
        <outline type="rss" text="Asia: desk #2" xmlUrl="https://news.example/asia.xml"/>
      </outline>
    </outline>
    <outline type="rss" text="Gazette again" xmlUrl="HTTP://127.0.0.1:8719/harbour-gazette.xml"/>
  </body>
</opml>"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Where the commands keep their database: a SQLite file of this test's own."""
    return {"NEWSWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'nw.db'}"}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The example config, comments and all."""
    path = tmp_path / "newswatch.yaml"
    path.write_bytes((EXAMPLES / "newswatch.yaml").read_bytes())
    return path


def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    # A traceback would show up as an exception other than the exit itself.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def keeps_every_line(before: str, after: str) -> bool:
    """Every original line is still there, in order (new lines may sit between them)."""
    remaining = iter(after.splitlines())
    return all(any(line == other for other in remaining) for line in before.splitlines())


# --- status ----------------------------------------------------------------------------------


def at(path: str) -> str:
    """Where FeedTransport serves `path` for the status tests."""
    return "https://feeds.example" + path


def write_config(path: Path, paths: dict[str, str]) -> Path:
    feeds = [{"name": name, "url": at(p)} for p, name in paths.items()]
    path.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
    return path


def test_status_shows_each_feed_health_as_a_table_and_as_json(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feeds = FeedTransport()
    feeds.set(at("/ok.xml"), RSS)
    feeds.set(at("/down.xml"), b"oops", status=500)
    path = write_config(
        tmp_path / "c.yaml",
        {"/ok.xml": "Quay Times", "/down.xml": "Down Daily", "/later.xml": "Later"},
    )
    config = load_config(path, environ={})
    engine = store.make_engine(env["NEWSWATCH_DATABASE_URL"])
    only = ["Quay Times", "Down Daily"]
    cycle.run_cycle(engine, config, environ={}, now=NOW, only=only, transport=feeds)
    engine.dispose()

    code, out, _ = invoke(env, "feeds", "status", "--config", str(path))

    assert code == 0
    header, ok, down, later = out.splitlines()
    assert header.split() == [
        "FEED", "STATUS", "FAILS", "LAST", "SUCCESS", "(UTC)", "NEXT", "POLL", "(UTC)", "HEALTH"
    ]  # fmt: skip
    assert ok.startswith("Quay Times ")
    assert ok.endswith(f"200 OK, {len(RSS)} bytes, 2 entries (2 new)")
    assert "2024-10-18 12:00" in ok  # last success
    assert "2024-10-18 12:09" in ok  # next poll: a plain interval ends a minute early
    assert down.split()[:4] == ["Down", "Daily", "500", "1"]
    assert down.endswith("HTTP 500 Internal Server Error")
    assert later.split()[1:4] == ["-", "0", "-"]
    assert later.endswith("never polled")

    code, out, _ = invoke(env, "feeds", "status", "--json", "--config", str(path))
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["Down Daily"]["last_status"] == 500
    assert rows["Down Daily"]["consecutive_failures"] == 1
    assert rows["Down Daily"]["last_error"] == "HTTP 500 Internal Server Error"
    assert rows["Down Daily"]["next_poll_at"] == "2024-10-18T12:10:00+00:00"  # a failure: no slack
    assert rows["Quay Times"]["entries_seen"] == 2
    assert rows["Quay Times"]["last_success_at"] == "2024-10-18T12:00:00+00:00"
    assert rows["Later"]["health"] == "never polled"


def test_status_says_when_a_feed_moved_and_the_config_should_follow(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feeds = FeedTransport()
    feeds.redirect(at("/old"), "/new")
    feeds.set(at("/new"), RSS)
    path = write_config(tmp_path / "c.yaml", {"/old": "Quay Times"})
    engine = store.make_engine(env["NEWSWATCH_DATABASE_URL"])
    cycle.run_cycle(engine, load_config(path, environ={}), environ={}, now=NOW, transport=feeds)
    engine.dispose()

    _, out, _ = invoke(env, "feeds", "status", "--config", str(path))
    assert out.splitlines()[1].endswith(f"[moved to {at('/new')}: update the config]")
    _, out, _ = invoke(env, "feeds", "status", "--json", "--config", str(path))
    (row,) = json.loads(out)
    assert (row["url"], row["polled_url"]) == (at("/old"), at("/new"))


# --- import ----------------------------------------------------------------------------------


def test_import_adds_new_feeds_keeps_the_file_and_skips_known_urls(
    tmp_path: Path, env: dict[str, str], config_file: Path
) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    before = config_file.read_text()

    code, out, _ = invoke(env, "feeds", "import", str(opml), "--config", str(config_file))

    assert code == 0
    assert out.splitlines() == [
        "  added    https://news.example/world.xml  (World desk)",
        "  added    https://news.example/asia.xml  (Asia: desk #2)",
        "  skipped  http://127.0.0.1:8719/harbour-gazette.xml  (already in the config)",
        f"{config_file}: added 2 feeds, skipped 1 already there",
    ]
    after = config_file.read_text()
    assert keeps_every_line(before, after)
    assert after.count("\n") == before.count("\n") + 4  # two entries of two lines, nothing else
    assert (
        "    url: http://127.0.0.1:8719/continental-wire.xml\n"
        "    full_text: never  # the sample articles' pages do not exist (an offline demo): drop"
        " for real feeds\n"
        "  - name: World desk\n"
        "    url: https://news.example/world.xml\n"
        "  - name: 'Asia: desk #2'\n"
        "    url: https://news.example/asia.xml\n"
        "\n"
        "lists:\n"
    ) in after
    config = load_config(config_file, environ={})
    assert [f.name for f in config.feeds][-2:] == ["World desk", "Asia: desk #2"]

    code, out, _ = invoke(env, "feeds", "import", str(opml), "--config", str(config_file))
    assert code == 0
    assert out.splitlines()[-1] == f"{config_file}: added 0 feeds, skipped 3 already there"
    assert config_file.read_text() == after


@pytest.mark.parametrize(
    ("opml", "message"),
    [
        (None, "{opml}: cannot read it: No such file or directory"),
        (b"", "{opml}: empty file, not an OPML document"),
        (
            b"<opml>\n<body>\n<outline xmlUrl='x'>\n</body></opml>",
            "{opml}: not well-formed XML at line 4, column 3: mismatched tag",
        ),
        (b"<rss version='2.0'/>", "{opml}: not an OPML file (the root element is <rss>)"),
        (b"<opml><body/></opml>", "{opml}: no feeds in this OPML file (no xmlUrl outlines)"),
    ],
    ids=["missing", "empty", "malformed", "not-opml", "no-feeds"],
)
def test_import_problems_are_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], config_file: Path, opml: bytes | None, message: str
) -> None:
    path = tmp_path / "subs.opml"
    if opml is not None:
        path.write_bytes(opml)
    before = config_file.read_bytes()
    code, out, err = invoke(env, "feeds", "import", str(path), "--config", str(config_file))
    assert (code, out) == (2, "")
    assert err == f"error: {message.format(opml=path)}\n"
    assert config_file.read_bytes() == before


def test_a_broken_config_is_named_with_its_line_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.yaml"
    config.write_text("feeds:\n  - url: http://a.example/feed\n  - url: [oops\n")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "feeds", "import", str(opml), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {config}:4: not valid YAML")


# --- the YAML edit itself ------------------------------------------------------------------


NEW = [("World desk", "https://news.example/world.xml")]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "monitor:\n  poll_interval_minutes: 5\n",
            "monitor:\n  poll_interval_minutes: 5\nfeeds:\n"
            "  - name: World desk\n    url: https://news.example/world.xml\n",
        ),
        (
            "# mine\nfeeds: []   # none yet\nrules: []\n",
            "# mine\nfeeds:   # none yet\n"
            "  - name: World desk\n    url: https://news.example/world.xml\nrules: []\n",
        ),
        (
            "feeds:\nrules: []\n",
            "feeds:\n  - name: World desk\n    url: https://news.example/world.xml\nrules: []\n",
        ),
        (
            "feeds: [{url: 'http://a.example/f'}]\n",
            "feeds: [{url: 'http://a.example/f'}, "
            "{name: World desk, url: https://news.example/world.xml}]\n",
        ),
        (
            "feeds:\n-   url: http://a.example/f  # first\n    name: A\n# done\n",
            "feeds:\n-   url: http://a.example/f  # first\n    name: A\n"
            "-   url: https://news.example/world.xml\n    name: World desk\n# done\n",
        ),
        (
            "feeds:\r\n    - name: A\r\n      url: http://a.example/f",
            "feeds:\r\n    - name: A\r\n      url: http://a.example/f\r\n"
            "    - name: World desk\r\n      url: https://news.example/world.xml\r\n",
        ),
    ],
    ids=["no-section", "empty-flow", "bare-key", "flow-list", "url-first", "crlf-deep"],
)
def test_new_feeds_follow_the_layout_already_there(before: str, after: str) -> None:
    edited = insert_feeds(before, NEW, source="c.yaml")
    assert edited == after
    assert yaml.safe_load(edited)["feeds"][-1] == {
        "name": "World desk",
        "url": "https://news.example/world.xml",
    }


def test_a_feeds_key_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(FeedsAdminError, match=r"^c.yaml:2: 'feeds' must be a list, not edited$"):
        insert_feeds("monitor: {}\nfeeds: 3\n", NEW, source="c.yaml")


# --- add -------------------------------------------------------------------------------------


def test_add_probes_a_feed_url_and_names_it_by_its_title(
    env: dict[str, str], config_file: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/quay.xml"] = Route(body=RSS)
    url = feed_server.url("/quay.xml")
    before = config_file.read_text()

    code, out, _ = invoke(env, "feeds", "add", url, "--config", str(config_file))

    assert code == 0
    assert out == f"{config_file}: added 'Quay Times' ({url}), 2 entries now\n"
    assert keeps_every_line(before, config_file.read_text())
    assert load_config(config_file, environ={}).feeds[-1].url == url
    agent = feed_server.hits("/quay.xml")[0].headers["user-agent"]
    assert agent.endswith("(+https://github.com/newswatch/newswatch)")  # the config's contact

    code, out, _ = invoke(env, "feeds", "add", url, "--config", str(config_file))
    assert (code, out) == (0, f"{config_file}: already has {url} (Quay Times); not changed\n")


def test_add_finds_the_feed_a_web_page_links(
    env: dict[str, str], config_file: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/feeds/quay.xml"] = Route(body=RSS)
    feed_server.routes["/"] = Route(
        body=b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml"'
        b' href="/feeds/quay.xml"></head><body>Quay Times</body></html>',
        content_type="text/html; charset=utf-8",
    )
    page, feed = feed_server.url("/"), feed_server.url("/feeds/quay.xml")

    code, out, _ = invoke(env, "feeds", "add", page, "--name", "Quay", "-c", str(config_file))

    assert code == 0
    assert out.splitlines() == [
        f"{page} is a web page; it links to the feed {feed}",
        f"{config_file}: added 'Quay' ({feed}), 2 entries now",
    ]
    assert load_config(config_file, environ={}).feeds[-1].model_dump() == {
        "url": feed,
        "name": "Quay",
        "full_text": "auto",  # the default: pages read for entries under 80 words
    }


def test_add_records_where_a_feed_moved_permanently(
    env: dict[str, str], config_file: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/old"] = Route(status=308, headers={"Location": "/new"}, etag=False)
    feed_server.routes["/new"] = Route(body=RSS)
    old, new = feed_server.url("/old"), feed_server.url("/new")
    code, out, _ = invoke(env, "feeds", "add", old, "-c", str(config_file))
    assert code == 0
    assert out.splitlines()[0] == f"{old} moved permanently to {new}: added the new URL"
    assert load_config(config_file, environ={}).feeds[-1].url == new


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(body=b"nope", status=404), "{url}: HTTP 404 Not Found"),
        (
            Route(body=b"<!doctype html><html><body>Hi</body></html>", content_type="text/html"),
            "{url}: an HTML page that links to no RSS, Atom or JSON feed"
            ' (no <link rel="alternate">)',
        ),
        (Route(body=b"", content_type="text/plain"), "{url}: empty document"),
    ],
    ids=["404", "page-without-feed", "empty"],
)
def test_add_problems_are_one_line_and_exit_2(
    env: dict[str, str], config_file: Path, feed_server: FeedServer, route: Route, message: str
) -> None:
    feed_server.routes["/x"] = route
    url = feed_server.url("/x")
    before = config_file.read_bytes()
    code, out, err = invoke(env, "feeds", "add", url, "-c", str(config_file))
    assert (code, out, err) == (2, "", f"error: {message.format(url=url)}\n")
    assert config_file.read_bytes() == before


def test_add_refuses_what_is_not_a_web_url(env: dict[str, str], config_file: Path) -> None:
    code, _, err = invoke(env, "feeds", "add", "ftp://files.example/feed", "-c", str(config_file))
    assert (code, err) == (2, "error: ftp://files.example/feed: not an http(s) URL\n")
