"""Compiles the rule engine to C with mypyc when the package is built or installed.

The rule engine (``rules/``) is plain, fully typed Python; mypyc turns the same source into
C extension modules, which match a large rule index faster and build it in about half the
time (``bench/rules.py`` prints ``"compiled"``). Everything else stays Python.

Compiling is optional: with ``NEWSWATCH_PURE_PYTHON=1`` in the environment, or when no C
compiler or Python headers are at hand, the package installs as pure Python (saying so in
one line in the second case) and behaves the same, only slower. Next to the compiled
library goes a stamp, the digest of the sources compiled (rules/loading.py): after an edit
the sources run, never the old compiled code, until the next install compiles them again.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PACKAGE = "rules"
# every module but the value types (rules/types.py), which gain nothing compiled, and the
# loader (rules/loading.py), which decides whether the compiled modules may run
COMPILED_MODULES = [
    "rules/analyze.py",
    "rules/compile.py",
    "rules/elements.py",
    "rules/evaluate.py",
    "rules/index.py",
    "rules/keys.py",
    "rules/lexer.py",
    "rules/preselect.py",
    "rules/query.py",
    "rules/spans.py",
    "rules/syntax.py",
    "rules/textview.py",
]
# the compiled modules share one library, rules/compiled__mypyc.*.so: inside the package, so
# nothing lands at the top level of site-packages or of the checkout
_GROUP = f"{PACKAGE}.compiled"
# mypy options for compiling: the project's [tool.mypy] section loads the pydantic plugin,
# which the isolated build environment lacks (and needs not: `make test` type-checks the
# code strictly with it)
_MYPYC_OPTIONS = ["--config-file", os.devnull, "--ignore-missing-imports"]


def _rules_loading() -> ModuleType:
    """rules/loading.py on its own: importing the package needs its dependencies."""
    spec = importlib.util.spec_from_file_location("_rules_loading", f"{PACKAGE}/loading.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LOADING = _rules_loading()
# taken before compiling: a source edited during the build leaves the stamp stale, so safe
_DIGEST: str = _LOADING.source_digest(Path(PACKAGE))


class RuleEngineNotCompiled(UserWarning):
    """Of all a build prints, pip shows whoever installs only its UserWarnings."""


def _warn(reason: str) -> None:
    # no real file and line 0: pip prints no source line under it, so the warning is one line
    message = f"{reason}: the rule engine is installed as pure Python (same results, slower)"
    warnings.warn_explicit(message, RuleEngineNotCompiled, "newswatch setup.py", 0)


def _first_line(error: Exception) -> str:
    return next(iter(str(error).splitlines()), type(error).__name__)[:200]


def _remove_compiled() -> None:
    """Remove what an earlier editable install compiled into the checkout."""
    package = Path(PACKAGE)
    for source in COMPILED_MODULES:
        for compiled in package.glob(f"{Path(source).stem}.*.so"):
            compiled.unlink()
    for library in package.glob(f"{_GROUP.rpartition('.')[2]}__mypyc.*.so"):
        library.unlink()
    (package / _LOADING.STAMP).unlink(missing_ok=True)


def _compiled_rule_engine() -> list[Extension]:
    if os.environ.get(_LOADING.PURE_PYTHON_VARIABLE):
        _remove_compiled()
        return []
    try:
        from mypyc.build import mypycify  # only a build needs mypy

        return mypycify(_MYPYC_OPTIONS + COMPILED_MODULES, opt_level="3", group_name=_GROUP)
    except Exception as error:  # whatever stops mypyc, pure Python still works
        _warn(f"mypyc could not compile it ({_first_line(error)})")
        _remove_compiled()
        return []


class _OptionalBuildExt(build_ext):
    """Builds the compiled modules and their stamp, or none of them."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # e.g. no C compiler or no Python headers
            _warn(f"the C compiler failed ({type(error).__name__})")
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            _remove_compiled()
            self.extensions = []
            return
        places = {Path(self.build_lib, PACKAGE)}
        if self.inplace or getattr(self, "editable_mode", False):
            places.add(Path(self.get_finalized_command("build_py").get_package_dir(PACKAGE)))
        for place in places:
            (place / _LOADING.STAMP).write_text(_DIGEST + "\n", encoding="ascii")


options: dict[str, Any] = {"ext_modules": _compiled_rule_engine()}
if options["ext_modules"]:
    options["cmdclass"] = {"build_ext": _OptionalBuildExt}
setup(**options)
