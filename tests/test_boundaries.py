"""The layering DESIGN.md promises, checked on the source: who may import what.

Imports are read from the syntax tree, so an import inside a function (a lazy one), under
`if TYPE_CHECKING:`, a relative one (resolved to its full name) and
`importlib.import_module("...")` with a literal name all count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = frozenset({"newswatch", "connectors", "rules", "flows", "tests"})
CORE = ("newswatch", "connectors", "rules")
"""Everything but flows/: none of it may import prefect or flows."""

DATABASE = frozenset({"sqlmodel", "sqlalchemy", "alembic", "sqlite3", "psycopg", "asyncpg"})
IO_LIBRARIES = DATABASE | {
    "httpx",
    "requests",
    "urllib3",
    "aiohttp",
    "socket",
    "ssl",
    "http",
    "urllib",
    "smtplib",
    "subprocess",
    "asyncio",
    "feedparser",
    "apprise",
    "prefect",
}


@dataclass(frozen=True)
class Import:
    """One imported module (`import m`), or names taken from it (`from m import a, b`)."""

    path: str
    line: int
    module: str
    names: tuple[str, ...] = ()

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        what = f"from {self.module} import {', '.join(self.names)}" if self.names else self.module
        return f"{self.path}:{self.line}: {what}"


def module_name(path: Path) -> str:
    """newswatch/cli/__init__.py -> newswatch.cli; flows/up.py -> flows.up."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, *, module: str, is_package: bool, path: str = "<src>") -> list[Import]:
    """Every import in source, wherever it sits; relative ones resolved against module."""
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names = tuple(alias.name for alias in node.names)
            found.append(Import(path, node.lineno, base, names))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and _call_name(node.func) in {"import_module", "__import__"}
            and not node.args[0].value.startswith(".")
        ):
            found.append(Import(path, node.lineno, node.args[0].value))
    return sorted(found, key=lambda i: i.line)


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def python_files(package: str) -> Iterator[Path]:
    for path in sorted((ROOT / package).rglob("*.py")):
        if ".venv" not in path.parts:
            yield path


def imports_of(package: str) -> list[Import]:
    """Every import in every module of package (a top-level folder of the checkout)."""
    found: list[Import] = []
    for path in python_files(package):
        found += imports_in(
            path.read_text(encoding="utf-8"),
            module=module_name(path),
            is_package=path.name == "__init__.py",
            path=str(path.relative_to(ROOT)),
        )
    return found


def offenders(package: str, forbidden: set[str] | frozenset[str]) -> list[str]:
    return [str(i) for i in imports_of(package) if i.top in forbidden]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(package: str) -> list[str]:
    """Imports of another top-level package's private names or private modules."""
    found = []
    for imp in imports_of(package):
        if imp.top not in PROJECT or imp.top == package:
            continue
        if any(is_private(part) for part in imp.module.split(".")) or any(
            is_private(name) for name in imp.names
        ):
            found.append(str(imp))
    return found


# ---------------------------------------------------------------- the reader itself


def test_the_reader_sees_lazy_relative_and_dynamic_imports() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    import prefect.flows\n"
        "    from . import sibling\n"
        "    from ..store import _private\n"
        "    importlib.import_module('flows.monitor')\n"
        "if TYPE_CHECKING:\n"
        "    from flows import up\n"
    )
    found = imports_in(source, module="newswatch.cli.matches", is_package=False)
    assert [(i.module, i.names) for i in found] == [
        ("os", ()),
        ("prefect.flows", ()),
        ("newswatch.cli", ("sibling",)),
        ("newswatch.store", ("_private",)),
        ("flows.monitor", ()),
        ("flows", ("up",)),
    ]
    in_package = imports_in("from . import x", module="newswatch.cli", is_package=True)
    assert in_package[0].module == "newswatch.cli"


# ---------------------------------------------------------------- the rules


@pytest.mark.parametrize("package", CORE)
def test_only_flows_import_prefect(package: str) -> None:
    assert offenders(package, {"prefect"}) == []


@pytest.mark.parametrize("package", CORE)
def test_nothing_outside_flows_imports_flows(package: str) -> None:
    assert offenders(package, {"flows"}) == []


def test_rules_is_a_pure_library() -> None:
    assert offenders("rules", (PROJECT - {"rules"}) | IO_LIBRARIES) == []


def test_connectors_never_touch_the_database_or_the_core() -> None:
    assert offenders("connectors", DATABASE | {"newswatch", "flows"}) == []


@pytest.mark.parametrize(
    "package",
    [
        *CORE,
        "flows",
        "tests",
        "bench",
        "examples",
    ],
)
def test_no_module_imports_another_packages_private_names(package: str) -> None:
    assert private_imports(package) == []


def test_callers_use_only_public_connectors_names() -> None:
    """Every name imported from connectors/ elsewhere is public and named by its __init__."""
    import connectors

    imported = {
        (str(path.relative_to(ROOT)), alias.name)
        for package in ("newswatch", "flows", "bench", "examples")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("connectors")
        for alias in node.names
    }
    assert imported
    assert {(path, name) for path, name in imported if name not in connectors.__all__} == set()
    assert all(getattr(connectors, name) is not None for name in connectors.__all__)


def test_a_parser_worker_does_not_load_the_http_client() -> None:
    """Workers import connectors.parser_pool: the package's API must not drag httpx in."""
    import subprocess
    import sys

    code = "import sys, connectors.parser_pool; print('httpx' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- sizes and circles

MAX_LINES = 600
SOURCE_FOLDERS = ("newswatch", "connectors", "rules", "flows", "tests", "bench", "examples")


def project_sources() -> dict[str, Path]:
    """Every project module by its dotted name (bench/ and examples/ too: scripts, no package)."""
    return {module_name(path): path for folder in SOURCE_FOLDERS for path in python_files(folder)}


def import_graph(sources: dict[str, Path]) -> dict[str, dict[str, Import]]:
    """module -> {project module it imports: the first import that does}.

    `from package import name` leads to package.name when that is a module, else to the
    package (its __init__); a package is not an import of its submodules' importers: only
    what a module names counts, as in the rest of this file.
    """
    graph: dict[str, dict[str, Import]] = {}
    for module, path in sources.items():
        edges: dict[str, Import] = {}
        found = imports_in(
            path.read_text(encoding="utf-8"),
            module=module,
            is_package=path.name == "__init__.py",
            path=str(path.relative_to(ROOT)),
        )
        for imp in found:
            targets = [f"{imp.module}.{name}" for name in imp.names]
            targets = [t for t in targets if t in sources] or [imp.module]
            for target in targets:
                if target in sources and target != module:
                    edges.setdefault(target, imp)
        graph[module] = edges
    return graph


def import_circles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(circles)


def describe_circle(group: list[str], graph: dict[str, dict[str, Import]]) -> str:
    """The imports that tie one circle together, by file and line."""
    members = set(group)
    lines = [str(imp) for m in group for t, imp in graph[m].items() if t in members]
    return "import circle among " + ", ".join(group) + ":\n  " + "\n  ".join(lines)


def test_the_circle_finder_names_a_circle_and_its_imports() -> None:
    a = Import("a.py", 3, "pkg", ("b",))
    b = Import("pkg/b.py", 7, "pkg.c")
    c = Import("pkg/c.py", 1, "a")
    graph = {"a": {"pkg.b": a}, "pkg.b": {"pkg.c": b}, "pkg.c": {"a": c}, "d": {"a": c}}
    (circle,) = import_circles(graph)
    assert circle == ["a", "pkg.b", "pkg.c"]
    assert "pkg/c.py:1: a" in describe_circle(circle, graph)
    assert import_circles({"a": {"b": a}, "b": {}}) == []


def test_no_module_is_over_600_lines() -> None:
    """One concern per module: a file past 600 lines holds more than one (issue 23)."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in project_sources().values()
    }
    assert [f"{path}: {n} lines" for path, n in sorted(sizes.items()) if n > MAX_LINES] == []


def test_no_import_circles_among_project_modules() -> None:
    """Lazy imports and `if TYPE_CHECKING:` count: a circle hidden in a function is one still."""
    graph = import_graph(project_sources())
    assert [describe_circle(group, graph) for group in import_circles(graph)] == []
