"""Which rule engine runs: the modules setup.py compiled, but only from the sources here.

Python prefers a compiled module to its source, so in an editable checkout an edited
``rules/*.py`` would otherwise keep running as the old compiled code, silently. setup.py
therefore writes :data:`STAMP` next to the compiled library: the digest of the sources it
compiled. Before any other submodule is imported, rules/__init__.py calls :func:`choose`,
which compares that digest with the sources' own; when they differ (or the stamp is missing)
a finder placed before Python's own loads every submodule from its source, and one line on
stderr says so. The check reads a few files, well under a millisecond; file times would be
fooled by a checkout or a copy that keeps them, a digest is not.

``NEWSWATCH_PURE_PYTHON=1`` at import runs the sources too, quietly: the tests run both
engines this way.

Standard library only: setup.py loads this file on its own, without the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["PURE_PYTHON_VARIABLE", "STAMP", "choose", "source_digest"]

STAMP = "compiled-sources.sha256"
PURE_PYTHON_VARIABLE = "NEWSWATCH_PURE_PYTHON"
# never compiled, and nothing compiled depends on them
_UNCOMPILED = frozenset({"__init__.py", "loading.py"})


def source_digest(package_dir: Path) -> str:
    """The digest of every source the compiled modules were (or would be) built from."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        if path.name not in _UNCOMPILED:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _SourceFinder(MetaPathFinder):
    """Finds the submodules of one package as their ``.py`` sources, never compiled."""

    def __init__(self, package: str, package_dir: Path) -> None:
        self._package = package
        self._dir = package_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        parent, _, name = fullname.rpartition(".")
        source = self._dir / f"{name}.py"
        if parent != self._package or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def choose(package: str, package_dir: Path) -> None:
    """Make the package's submodules load from their sources unless the compiled modules
    next to them were built from exactly these sources."""
    if os.environ.get(PURE_PYTHON_VARIABLE):
        sys.meta_path.insert(0, _SourceFinder(package, package_dir))
        return
    if not any(name.endswith(tuple(EXTENSION_SUFFIXES)) for name in os.listdir(package_dir)):
        return  # installed as pure Python: nothing compiled to fall back from
    try:
        built_from = (package_dir / STAMP).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        built_from = ""
    if built_from == source_digest(package_dir):
        return
    sys.meta_path.insert(0, _SourceFinder(package, package_dir))
    print(
        f"newswatch: {package}/ changed since it was compiled, so its sources run as pure "
        "Python (slower) until the next install (`make install-dev` or `pip install -e .`)",
        file=sys.stderr,
    )
