"""The layering DESIGN.md promises, checked on the source: who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_LIBRARIES = {"httpx", "sqlmodel", "sqlalchemy", "prefect", "requests", "socket", "apprise"}


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["newswatch", "connectors", "rules"])
def test_only_flows_import_prefect(package: str) -> None:
    offenders = [f for f, names in imported_modules(package).items() if "prefect" in names]
    assert offenders == []


def test_rules_is_a_pure_library() -> None:
    for path, names in imported_modules("rules").items():
        assert not names & ({"newswatch", "connectors", "flows"} | IO_LIBRARIES), path


def test_connectors_never_touch_the_database() -> None:
    for path, names in imported_modules("connectors").items():
        assert not names & {"sqlmodel", "sqlalchemy", "newswatch", "flows"}, path


def test_callers_use_only_public_connectors_names() -> None:
    """Every name imported from connectors/ elsewhere is public and named by its __init__."""
    import connectors

    # schedule.py is polling policy on its way to newswatch/: not part of the API.
    imported = {
        (str(path.relative_to(ROOT)), alias.name)
        for package in ("newswatch", "flows", "bench", "examples")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("connectors")
        and node.module != "connectors.schedule"
        for alias in node.names
    }
    assert imported
    assert {(path, name) for path, name in imported if name not in connectors.__all__} == set()
    assert all(getattr(connectors, name) is not None for name in connectors.__all__)


def test_a_parser_worker_does_not_load_the_http_client() -> None:
    """Workers import connectors.feed: the package's API must not drag httpx in with it."""
    import subprocess
    import sys

    code = "import sys, connectors.feed; print('httpx' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
