"""The rule engine runs compiled (setup.py, mypyc), never from stale compiled modules, and its
pure-Python form passes the same tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rules

ROOT = Path(__file__).resolve().parent.parent
# The engine's own tests. test_rules_checking is left out: it drives the `rules` CLI over a
# stored database (child processes, migrations) and its engine calls are the ones the engine
# tests already make, so rerunning it in pure Python cost a third of this rerun for nothing.
NOT_RERUN = {Path(__file__).name, "test_rules_checking.py"}
RULE_TESTS = [
    str(path.relative_to(ROOT))
    for path in sorted(ROOT.glob("tests/test_rule*_*.py"))
    if path.name not in NOT_RERUN
]
PURE = bool(os.environ.get("NEWSWATCH_PURE_PYTHON"))
needs_compiled = pytest.mark.skipif(not rules.COMPILED, reason="the engine runs as pure Python")


@pytest.mark.skipif(PURE, reason="pure Python on purpose (NEWSWATCH_PURE_PYTHON)")
def test_the_installed_engine_is_compiled() -> None:
    # a compiler failure only warns during the install (setup.py), and an edit since the
    # install runs the sources (rules/loading.py): either passes everything else, slower
    assert rules.COMPILED, "rules/ runs as pure Python: `make install-dev` compiles it again"


@needs_compiled
def test_the_pure_python_engine_passes_the_rule_tests() -> None:
    # users without a C compiler get the same sources uncompiled: the rule tests run there too
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *RULE_TESTS],
        cwd=ROOT,
        env={**os.environ, "NEWSWATCH_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(RULE_TESTS) >= 6
    assert " passed" in done.stdout


def _import_rules(where: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``import rules`` in a fresh interpreter that finds the package in ``where`` first."""
    code = "import rules, rules.index; print(rules.COMPILED, rules.index.__file__)"
    environ = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_PURE_PYTHON"}
    environ.update(PYTHONPATH=str(where), **env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=where, env=environ, capture_output=True, text=True
    )


@pytest.fixture
def installed_copy(tmp_path: Path) -> Path:
    """A copy of the installed package, compiled modules and stamp included."""
    shutil.copytree(
        ROOT / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


@needs_compiled
def test_the_compiled_modules_run_while_their_sources_are_unchanged(installed_copy: Path) -> None:
    done = _import_rules(installed_copy)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"True {installed_copy / 'rules'}")
    assert done.stderr == ""


@needs_compiled
def test_an_edited_source_runs_instead_of_its_stale_compiled_module(installed_copy: Path) -> None:
    source = installed_copy / "rules" / "query.py"
    source.write_text(source.read_text(encoding="utf-8") + "# an edit\n", encoding="utf-8")
    done = _import_rules(installed_copy)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(installed_copy / "rules" / "index.py")]
    [note] = done.stderr.splitlines()  # one line, whatever imports follow
    assert "rules/ changed since it was compiled" in note


@needs_compiled
def test_pure_python_can_be_asked_for_at_import(installed_copy: Path) -> None:
    done = _import_rules(installed_copy, NEWSWATCH_PURE_PYTHON="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("False ")
    assert done.stderr == ""
