"""The rule engine runs compiled (setup.py, mypyc), and its pure-Python fallback still works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rules

ROOT = Path(__file__).resolve().parent.parent
RULE_TESTS = [
    str(path.relative_to(ROOT))
    for path in sorted(ROOT.glob("tests/test_rule*_*.py"))
    if path.name != Path(__file__).name
]


@pytest.mark.skipif(
    bool(os.environ.get("NEWSWATCH_PURE_PYTHON")), reason="installed as pure Python on purpose"
)
def test_the_installed_engine_is_compiled() -> None:
    # a compiler failure only warns during the install (setup.py): without this test a
    # pure-Python install would pass everything else, a third slower on large indexes
    assert rules.COMPILED


@pytest.mark.skipif(not rules.COMPILED, reason="the whole suite runs on pure Python")
def test_the_pure_python_engine_passes_the_rule_tests() -> None:
    # users without a C compiler get the same sources uncompiled: the rule tests run there too
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.pure_rules",
            "-q",
            "-p",
            "no:cacheprovider",
            *RULE_TESTS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(RULE_TESTS) >= 6
    assert " passed" in done.stdout
