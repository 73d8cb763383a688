"""Compiles the rule engine to C with mypyc when the package is built or installed.

The rule engine (``rules/``) is plain, fully typed Python; mypyc turns the same source into
C extension modules, which match a large rule index about a third faster and build it in
about half the time (``bench/rules.py`` prints ``"compiled"``). Everything else stays Python.

Compiling is optional: with ``NEWSWATCH_PURE_PYTHON=1`` in the environment, or when no C
compiler or Python headers are at hand, the package installs as pure Python (with a warning
in the second case) and behaves the same, only slower. After editing a compiled module,
install again (``make test`` does) or the old compiled code keeps running: tests/conftest.py
stops the tests when a compiled module is older than its source.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

COMPILED_MODULES = ["rules/analyze.py", "rules/engine.py", "rules/preselect.py", "rules/query.py"]
# the compiled modules share one library, rules/compiled__mypyc.*.so: inside the package, so
# nothing lands at the top level of site-packages or of the checkout
_GROUP = "rules.compiled"
# mypy options for compiling: the project's [tool.mypy] section loads the pydantic plugin
# and expects numpy's stubs, neither of which the isolated build environment has (nor
# needs: `make test` type-checks the code strictly with them)
_MYPYC_OPTIONS = ["--config-file", os.devnull, "--ignore-missing-imports"]


def _warn(message: str) -> None:
    print(f"newswatch: {message}; installing the rule engine as pure Python", file=sys.stderr)


def _remove_compiled() -> None:
    """Remove modules an earlier editable install compiled into the checkout: Python would
    load them instead of the sources being installed now."""
    for source in COMPILED_MODULES:
        path = Path(source)
        for compiled in path.parent.glob(f"{path.stem}.*.so"):
            compiled.unlink()
    package, _, name = _GROUP.rpartition(".")
    for library in Path(package).glob(f"{name}__mypyc.*.so"):
        library.unlink()


def _compiled_rule_engine() -> list[Extension]:
    if os.environ.get("NEWSWATCH_PURE_PYTHON"):
        _remove_compiled()
        return []
    try:
        from mypyc.build import mypycify  # only a build needs mypy

        return mypycify(_MYPYC_OPTIONS + COMPILED_MODULES, opt_level="3", group_name=_GROUP)
    except Exception as error:  # whatever stops mypyc, pure Python still works
        _warn(f"mypyc could not compile the rule engine ({error})")
        _remove_compiled()
        return []


class _OptionalBuildExt(build_ext):
    """Builds the compiled modules, or none of them: a half-built set would not import."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # e.g. no C compiler or no Python headers
            _warn(f"the C compiler failed ({error})")
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            _remove_compiled()
            self.extensions = []


options: dict[str, Any] = {"ext_modules": _compiled_rule_engine()}
if options["ext_modules"]:
    options["cmdclass"] = {"build_ext": _OptionalBuildExt}
setup(**options)
