"""Every `newswatch` command line the README and docs/ show is one the CLI accepts: its
subcommands exist and its options and arguments parse (nothing runs), so a renamed option
cannot leave a doc behind. The README's "Use it" steps really run: tests/test_quickstart.py."""

from __future__ import annotations

import re
import shlex
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
