"""docs/rules.md says what the engine does: every row of its operator table is run through
the rule engine with the doc's own lists, and every `rules test` command it shows is run as
written (against a config made of the doc's YAML), so the doc cannot drift from the engine."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rules import Document, RuleSpec, compile_rules

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
CONSOLE_SCRIPT = Path(sys.executable).with_name("newswatch")
FIELDS = ("title", "summary", "source")


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def doc_config() -> dict[str, object]:
    """The doc's YAML block: its lists and its rule."""
    block = re.search(r"```yaml\n(.*?)```", doc_text(), re.DOTALL)
    assert block is not None
    loaded = yaml.safe_load(block.group(1))
    assert isinstance(loaded, dict)
    return loaded


def table_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in doc_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows.append((cells[0][1:-1], cells[1], cells[2]))
    return rows


def article(text: str) -> Document:
    """A table cell as an article: `host: H — text` and `lang: L — text` set the host or the
    language, `<br>` is a paragraph break, `title: ` (and the like) picks the field."""
    known: dict[str, str] = {}
    for name in ("host", "lang"):
        if text.startswith(f"{name}: "):
            value, _, text = text.removeprefix(f"{name}: ").partition(" — ")
            known[name] = value
    text = text.replace("<br>", "\n")
    for name in FIELDS:
        if text.startswith(f"{name}: "):
            return Document(**{name: text.removeprefix(f"{name}: ")}, **known)
    return Document(body=text, **known)


def test_the_table_covers_every_operator() -> None:
    queries = " ".join(q for q, _, _ in table_rows())
    for operator in ["AND", "OR", "NOT", " -", "NEAR/", "ONEAR/", "*", "!", '"', "(", "@"]:
        assert operator in queries, operator
    for field in ["title:", "source:", "lead:", "site:", "lang:"]:
        assert field in queries, field
    for operator in ["atleast3(", " SENT "]:
        assert operator in queries, operator


@pytest.mark.parametrize(("query", "hit", "miss"), table_rows())
def test_each_example_matches_and_each_counter_example_does_not(
    query: str, hit: str, miss: str
) -> None:
    lists = doc_config()["lists"]
    assert isinstance(lists, dict)
    index = compile_rules([RuleSpec("doc", query)], lists)
    assert index.match(article(hit)), f"{query!r} should match {hit!r}"
    assert not index.match(article(miss)), f"{query!r} should not match {miss!r}"


def rules_test_commands() -> list[str]:
    lines = [line.strip() for line in doc_text().splitlines()]
    commands = [re.sub(r"\s+#\s.*$", "", line) for line in lines]
    return [c for c in commands if c.startswith("newswatch rules test ") and "--text" in c]


def test_the_rules_test_commands_it_shows_work_as_written(tmp_path: Path) -> None:
    config = {
        **doc_config(),
        "feeds": [],
        "channels": {"desk-email": {"url": "json://127.0.0.1:9/"}},
    }
    (tmp_path / "newswatch.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    commands = rules_test_commands()
    assert len(commands) >= 4
    codes = []
    for command in commands:
        done = subprocess.run(
            [str(CONSOLE_SCRIPT), *shlex.split(command)[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr
        codes.append(done.returncode)
    # the doc says: the first matches, the second does not, the config's examples match
    assert codes == [0, 1] + [0] * (len(commands) - 2), list(zip(commands, codes, strict=True))
