"""Run pytest with the rule engine's pure-Python sources even where compiled modules exist.

    python -m tests.support.pure_rules tests/test_rules_engine.py ...

setup.py compiles ``rules/`` in place; a finder placed before Python's own loads every
``rules.*`` module from its ``.py`` file instead, as on a machine without a C compiler.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

RULES = Path(__file__).resolve().parent.parent.parent / "rules"


class PureRulesFinder(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        package, _, name = fullname.partition(".")
        source = RULES / f"{name}.py"
        if package != "rules" or not name or not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def install() -> None:
    """Load ``rules`` from its sources from now on (before anything imports it)."""
    sys.meta_path.insert(0, PureRulesFinder())


def main(args: list[str]) -> int:
    install()
    import pytest

    import rules

    if rules.COMPILED:
        print(f"still compiled: {rules.engine.__file__}", file=sys.stderr)
        return 3
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
