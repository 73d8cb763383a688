"""The test suite's own layout: helpers live in tests/support/, never in another test module."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.support import kinds
from tests.support.groups import group_of

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, lazy imports inside functions included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def test_no_test_module_or_support_module_imports_a_test_module_or_conftest() -> None:
    files = sorted(TESTS.glob("test_*.py")) + sorted((TESTS / "support").glob("*.py"))
    files.append(TESTS / "conftest.py")
    offenders = {
        str(path.relative_to(TESTS.parent)): sorted(filter(is_test_module, imported_modules(path)))
        for path in files
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_every_test_module_has_a_kind_and_every_slow_or_first_entry_names_a_test() -> None:
    modules = {path.stem: path for path in TESTS.glob("test_*.py")}
    assert sorted(set(modules) - set(kinds.MODULES)) == [], "add them to tests/support/kinds.py"
    assert sorted(set(kinds.MODULES) - set(modules)) == [], "gone: drop them from kinds.py"
    assert sorted(set(kinds.GROUPS) - set(modules)) == [], "gone: drop them from GROUPS"
    for entry in (*kinds.SLOW, *kinds.FIRST):
        module, _, name = entry.partition("::")
        assert module in modules, entry
        if name:
            tree = ast.parse(modules[module].read_text(encoding="utf-8"))
            assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, entry


def test_each_test_gets_one_kind_from_its_module_fixtures_and_markers() -> None:
    assert kinds.kind_of("test_normalize", [], []) == "unit"
    assert kinds.kind_of("test_normalize", ["tmp_path", "engine"], []) == "integration"
    assert kinds.kind_of("test_up", ["tmp_path"], ["prefect", "postgres"]) == "e2e"
    assert kinds.kind_of("test_flow", [], []) == "e2e"
    assert kinds.is_slow("test_bench_rules", "test_anything[1]")
    assert not kinds.is_slow("test_normalize", "test_anything")


def test_the_scheduler_groups_a_module_s_tests_by_kinds_groups() -> None:
    assert group_of("tests/test_demo.py::test_the_demo[x::y]") == kinds.GROUPS["test_demo"]
    assert group_of("tests/test_hostile_cycle.py::test_a") == "hostile_cycle"
    assert group_of("tests/test_normalize.py::test_a") is None


def test_every_module_on_the_session_prefect_server_shares_one_worker() -> None:
    """A module that takes the session's Prefect server, on a worker of its own, would make
    that worker start a second server (kinds.SESSION_SERVER says why)."""
    server_fixtures = {"prefect_api", "prefect_server_url"}
    on_the_server = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef) and server_fixtures & {
                a.arg for a in node.args.args
            }:
                on_the_server.add(path.stem)
    assert "test_flow" in on_the_server  # the search finds them
    grouped = {m for m, group in kinds.GROUPS.items() if group == kinds.SESSION_SERVER}
    assert sorted(on_the_server - grouped) == [], "add them to kinds.GROUPS"


def test_the_longest_tests_are_collected_first_and_the_rest_keep_their_order(
    request: pytest.FixtureRequest,
) -> None:
    """This session's own collection (each xdist worker collects every test, and hands
    them out in this order)."""
    items = request.session.items
    ranks = [kinds.first_rank(item.path.stem, item.name) for item in items]
    assert ranks == sorted(ranks)
    rest = [
        str(item.path) for item, rank in zip(items, ranks, strict=True) if rank == len(kinds.FIRST)
    ]
    assert rest == sorted(rest), "the others run in file order"


def test_make_test_fast_runs_pytest_without_the_e2e_and_slow_tests() -> None:
    """The README's inner-loop command is what the Makefile runs (shown by `make -n`)."""
    readme = (TESTS.parent / "README.md").read_text(encoding="utf-8")
    command = '.venv/bin/pytest -n auto --dist loadgroup -m "not e2e and not slow"'
    assert f"`make test-fast` runs `{command}`" in readme.replace("\n", " ")
    shown = subprocess.run(
        ["make", "-n", "test-fast"],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert command in shown.splitlines()
