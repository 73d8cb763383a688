"""Every `newswatch` command line the README and docs/ show is one the CLI accepts: its
subcommands exist and its options and arguments parse (nothing runs), so a renamed option
cannot leave a doc behind. The README's Rules commands run here as written; its "Use it"
steps run in tests/test_quickstart.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main
from typer.core import TyperGroup

from flows.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands() -> list[tuple[str, str]]:
    """(file, command line) for each `newswatch …` line of an sh block, comments removed."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
            for line in block.splitlines():
                line = re.sub(r"\s+#\s.*$", "", line).strip()
                line = line.removeprefix(".venv/bin/")
                if line.startswith("newswatch "):
                    found.append((doc.name, line))
    return found


def test_the_docs_show_commands() -> None:
    assert len(shown_commands()) > 30


@pytest.mark.parametrize(("doc", "line"), shown_commands())
def test_each_shown_command_parses(doc: str, line: str) -> None:
    args = [a for a in shlex.split(line.replace("[", "").replace("]", ""))[1:] if a != "&&"]
    args = args[: args.index("newswatch")] if "newswatch" in args else args
    command: object = typer.main.get_group(app)
    path = []
    while isinstance(command, TyperGroup) and args and not args[0].startswith("-"):
        name = args.pop(0)
        path.append(name)
        ctx = typer.Context(command)
        found = command.load(name) if hasattr(command, "load") else command.get_command(ctx, name)
        assert found is not None, f"{doc}: no command `newswatch {' '.join(path)}`"
        command = found
    assert not isinstance(command, TyperGroup) or args == ["--help"] or args == ["--version"], line
    if isinstance(command, TyperGroup):
        return
    try:
        command.make_context(" ".join(["newswatch", *path]), list(args))
    except Exception as exc:  # a usage error: the doc's line is wrong
        pytest.fail(f"{doc}: `{line}` does not parse: {exc}")


def test_the_readme_rules_commands_run_as_written(tmp_path: Path) -> None:
    """The README's Rules block, verbatim, in a folder with a starter config, a rules file
    and an articles file (the files it names)."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n### Rules\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines()]
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}

    def sh(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    assert sh(".venv/bin/newswatch init").returncode == 0
    (tmp_path / "rules.yaml").write_text(
        "lists:\n  uk: [UK, Britain]\nrules:\n  - id: uk-visit\n    query: '@uk AND visit'\n",
        encoding="utf-8",
    )
    articles = [
        {"id": "a1", "title": "Britain's minister to visit Beijing", "body": "UK and China."},
        {"id": "a2", "title": "Harbour repairs", "body": "The quay reopens."},
    ]
    (tmp_path / "articles.jsonl").write_text(
        "".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8"
    )
    results = {line: sh(line) for line in lines if line}
    assert len(results) >= 5
    for line, done in results.items():
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    jsonl = results[next(line for line in results if "--format jsonl" in line)]
    assert [json.loads(x) for x in jsonl.stdout.splitlines()] == [
        {"article": "a1", "rule": "uk-visit", "terms": ["@uk", "visit"]}
    ]
    one_rule = results[next(line for line in results if " uk-china-visit --articles" in line)]
    assert "1 match in 1 of 2 articles (1 rule)" in one_rule.stdout
