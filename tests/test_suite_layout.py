"""The test suite's own layout: helpers live in tests/support/, never in another test module."""

from __future__ import annotations

import ast
from pathlib import Path

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
