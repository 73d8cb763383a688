"""The `newswatch` console script as a user meets it: every command in help order, a fast
`--help` that imports none of the heavy libraries, an example in every command's help,
`--version`, `init`, a missing config that says how to start one, a database that cannot
be opened named in one line, and `rules test` with a config's rules and lists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
import yaml
from typer.core import TyperGroup
from typer.testing import CliRunner

from flows.cli import app
from newswatch import cycle, store
from newswatch.cli import LazyGroup
from newswatch.config import load_config
from newswatch.models import utcnow
from tests.support.examples import example_feeds, write_config
from tests.support.postgres import PG_ADMIN_URL, postgres_or_skip

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
HEAVY = ("prefect", "apprise", "sqlmodel", "sqlalchemy", "alembic", "httpx", "feedparser")


def newswatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user's shell runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def root_group() -> LazyGroup:
    group = typer.main.get_group(app)
    assert isinstance(group, LazyGroup)
    return group


def test_the_console_script_has_every_command_in_help_order() -> None:
    group = root_group()
    assert group.list_commands(typer.Context(group)) == [
        "init",
        "run",
        "matches",
        "backtest",
        "up",
        "rules",
        "alerts",
        "feeds",
        "prune",
        "stories",
    ]


def test_help_imports_none_of_the_heavy_libraries(tmp_path: Path) -> None:
    """`newswatch --help` must not pay for Prefect, Apprise, SQLModel or the pipeline: the
    console script itself, run with -X importtime, lists every module it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(CONSOLE_SCRIPT), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    core = sorted(m for m in imported if m.startswith(("newswatch.", "connectors", "rules")))
    assert heavy == []
    cli = [
        "newswatch.cli",
        "newswatch.cli.common",
        "newswatch.cli.exit_codes",
        "newswatch.cli.lazy",
    ]
    assert core == cli
    assert "init" in done.stdout
    assert "Exit codes" in done.stdout


def test_the_listed_help_line_is_each_commands_own() -> None:
    """The line `--help` lists without importing a command is the command's own first line."""
    group = root_group()
    for name, lazy in group.lazy.items():
        real = group.load(name)
        assert lazy.help == real.get_short_help_str(limit=200), name


def walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, TyperGroup):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            sub = command.load(name) if isinstance(command, LazyGroup) else None
            sub = sub or command.get_command(ctx, name)
            assert sub is not None
            yield from walk(sub, (*path, name))


def test_every_commands_help_shows_an_example() -> None:
    runner = CliRunner()
    paths = [p for p in walk(root_group(), ()) if p]
    assert len(paths) >= 12
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Example" in result.output, f"newswatch {' '.join(path)} --help has no example"
    run_help = runner.invoke(app, ["run", "--help"]).output
    assert "Exit codes: 0 all well" in run_help
    assert "3 some feeds failed; 4 alerts failed" in " ".join(run_help.split())


def test_version(tmp_path: Path) -> None:
    done = newswatch("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert re.fullmatch(r"newswatch \d+\.\d+\.\d+\S*\n", done.stdout)


def test_a_mistyped_command_is_told_the_right_one(tmp_path: Path) -> None:
    done = newswatch("rulez", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert "No such command 'rulez'. Did you mean 'rules'" in done.stderr  # the closest first


def test_a_missing_config_says_how_to_start_one(tmp_path: Path) -> None:
    done = newswatch("rules", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert "newswatch.yaml: config file not found" in done.stderr
    assert "newswatch init" in done.stderr
    assert "examples/newswatch.yaml" in done.stderr


def test_init_writes_a_commented_config_that_checks_and_never_overwrites(tmp_path: Path) -> None:
    done = newswatch("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "newswatch.yaml").read_text(encoding="utf-8")
    assert written.count("#") > 10
    config = load_config(tmp_path / "newswatch.yaml", environ={})
    assert config.feeds == []  # `newswatch feeds add URL` is the next step the README shows
    assert "newswatch feeds add URL" in written
    assert config.rules
    assert config.channels
    assert newswatch("rules", "check", cwd=tmp_path).returncode == 0

    (tmp_path / "newswatch.yaml").write_text("# mine\n", encoding="utf-8")
    again = newswatch("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists; not overwritten" in again.stderr
    assert (tmp_path / "newswatch.yaml").read_text(encoding="utf-8") == "# mine\n"

    other = newswatch("init", "-c", "elsewhere.yaml", cwd=tmp_path)
    assert other.returncode == 0
    assert (tmp_path / "elsewhere.yaml").read_text(encoding="utf-8") == written


def test_every_command_takes_config(tmp_path: Path) -> None:
    """-c/--config on every command, and a broken one is exit 2."""
    (tmp_path / "broken.yaml").write_text("feeds: 7\n", encoding="utf-8")
    runner = CliRunner()
    for path in [p for p in walk(root_group(), ()) if p]:
        result = runner.invoke(app, [*path, "--help"])
        if "COMMAND" in result.output.splitlines()[1]:
            continue  # a group: its commands take it
        assert "--config" in result.output, path
    commands = [["matches"], ["backtest", "x"], ["run"], ["up"], ["rules", "check"]]
    commands += [["feeds", "status"], ["rules", "test", "--text", "x"]]
    commands += [["stories", "test", "--articles", "a.jsonl"]]
    for args in commands:
        done = newswatch(*args, "-c", "broken.yaml", cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "broken.yaml:1:" in done.stderr, args
        assert "Traceback" not in done.stderr


LOGIN_WORD = "s3cret-pw"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("{base}/newswatch_no_such_db", "does not exist", id="missing-database"),
        pytest.param(
            f"postgresql+psycopg://newswatch:{LOGIN_WORD}@127.0.0.1:9/newswatch",
            "Connection refused",
            id="nothing-listens",
        ),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line_and_exit_2(
    tmp_path: Path, url: str, reason: str
) -> None:
    postgres_or_skip()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", f"postgres:{LOGIN_WORD}@")
    url = url.format(base=base)
    (tmp_path / "newswatch.yaml").write_text("feeds: []\n", encoding="utf-8")
    for args in (["matches"], ["run"]):
        done = newswatch(*args, cwd=tmp_path, env={"NEWSWATCH_DATABASE_URL": url})
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith("error: cannot open the database postgresql+psycopg://")
        assert reason in line
        assert LOGIN_WORD not in line
        assert ":***@" in line
        assert url.rsplit("/", 1)[1] in line  # the database's name


RULES_CONFIG = """\
lists:
  uk: [UK, Britain, British]
rules:
  - id: uk-visit
    query: '@uk AND visit'
  - id: china
    query: China OR Beijing
channels: {}
"""


def test_rules_test_uses_the_configs_rules_and_lists(tmp_path: Path) -> None:
    (tmp_path / "newswatch.yaml").write_text(RULES_CONFIG, encoding="utf-8")

    def rules_test(*args: str) -> subprocess.CompletedProcess[str]:
        return newswatch("rules", "test", *args, cwd=tmp_path)

    text = "Britain's foreign secretary will visit Beijing"
    both = rules_test("-c", "newswatch.yaml", "--text", text)
    assert both.returncode == 0, both.stderr
    assert "uk-visit" in both.stdout
    assert "2 matches in 1 of 1 article (2 rules)" in both.stdout

    one = rules_test("-c", "newswatch.yaml", "uk-visit", "--text", "Britain plans a visit")
    assert one.returncode == 0
    assert "(1 rule)" in one.stdout
    miss = rules_test("-c", "newswatch.yaml", "china", "--text", "Britain plans a visit")
    assert miss.returncode == 1
    assert "0 matches" in miss.stdout
    unknown = rules_test("-c", "newswatch.yaml", "nope", "--text", "x")
    assert unknown.returncode == 2
    assert "no rule 'nope' (rules: uk-visit, china)" in unknown.stderr

    near = ("--query", "@uk NEAR/3 visit", "--text", "British officials visit")
    query = rules_test("-c", "newswatch.yaml", *near)
    assert query.returncode == 0, query.stderr
    assert "@uk: body word 0" in query.stdout
    no_lists = rules_test(*near)
    assert no_lists.returncode == 2
    assert "unknown list '@uk'" in no_lists.stderr

    as_rules = rules_test("--rules", "newswatch.yaml", "--text", text)
    assert as_rules.returncode == 0
    assert "2 matches" in as_rules.stdout

    articles = tmp_path / "a.jsonl"
    articles.write_text('{"id": "a1", "title": "UK minister to visit"}\n', encoding="utf-8")
    jsonl = rules_test("-c", "newswatch.yaml", "--articles", str(articles), "--format", "jsonl")
    assert [yaml.safe_load(line) for line in jsonl.stdout.splitlines()] == [
        {"article": "a1", "rule": "uk-visit", "terms": ["@uk", "visit"]}
    ]


def test_gitignore_ignores_what_users_create_and_nothing_tracked(tmp_path: Path) -> None:
    tracked_but_ignored = subprocess.run(
        ["git", "ls-files", "-ci", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tracked_but_ignored.stdout == ""
    created = ["newswatch.yaml", "data/newswatch.db", "data/demo/newswatch.db", ".env"]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *created],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == created


def test_matches_lists_one_rules_matches_and_checks_the_rule_id(tmp_path: Path) -> None:
    feeds = example_feeds()
    path = write_config(tmp_path, feeds, "json://127.0.0.1:9/hook")
    text = path.read_text(encoding="utf-8").replace(
        "channels:\n  desk",
        "  - id: ukulele\n    query: ukulele\n    channels: []\nchannels:\n  desk",
    )
    path.write_text(text, encoding="utf-8")
    engine = store.open_database(f"sqlite:///{tmp_path / 'data' / 'newswatch.db'}")
    cycle.run_cycle(
        engine, load_config(path, environ={}), environ={}, now=utcnow(), transport=feeds
    )
    engine.dispose()

    every = newswatch("matches", cwd=tmp_path)
    only = newswatch("matches", "--rule", "ukulele", cwd=tmp_path)
    unknown = newswatch("matches", "--rule", "nope", cwd=tmp_path)

    assert every.returncode == 0, every.stderr
    assert "uk-china-visit" in every.stdout
    assert "ukulele " in every.stdout
    assert only.returncode == 0
    assert "uk-china-visit" not in only.stdout
    assert "Ukulele" in only.stdout
    assert unknown.returncode == 2
    assert "no rule 'nope' (rules: uk-china-visit, ukulele)" in unknown.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param(
            {"NEWSWATCH_DATABASE_URL": f"postgresql+pg8000://u:{LOGIN_WORD}@127.0.0.1/x"},
            "cannot use the database postgresql+pg8000://u:***@127.0.0.1/x: No module named",
            id="a-driver-not-installed",
        ),
        pytest.param(
            {"NEWSWATCH_DATABASE_URL": "not a url"},
            "cannot use the database (an unreadable database URL)",
            id="not-a-url",
        ),
        pytest.param(
            {"NEWSWATCH_DATA_DIR": "/proc/newswatch"},
            "cannot open the database sqlite:////proc/newswatch/newswatch.db",
            id="a-folder-that-cannot-be-made",
        ),
    ],
)
def test_other_databases_that_cannot_be_used_are_one_line_too(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    done = newswatch("matches", cwd=tmp_path, env=env)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {says}")
    assert LOGIN_WORD not in line
