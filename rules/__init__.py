"""The matching engine: keyword rules compiled into one index (pure library, no I/O).

Everything callers need is importable from here; the submodules are the engine's own.
"""

from pathlib import Path

from rules import loading

# before any other submodule: compiled only when compiled from these very sources
loading.choose(__name__, Path(__file__).parent)

from rules import index  # noqa: E402 - loading.choose() decides where the modules come from
from rules.analyze import Token, tokenize  # noqa: E402
from rules.compile import check_rules  # noqa: E402
from rules.index import RuleIndex, compile_rules  # noqa: E402
from rules.query import parse  # noqa: E402
from rules.syntax import DEFAULT_FIELDS, Node, QuerySyntaxError, iter_terms  # noqa: E402
from rules.types import Document, Hit, RuleErrors, RuleSpec, TermHit  # noqa: E402

# Whether the engine runs as C, compiled by mypyc when the package was installed (setup.py)
COMPILED = not index.__file__.endswith(".py")
# The engine's sources, analyser included: what a cache of compiled indexes is keyed by
ENGINE_VERSION = loading.source_digest(Path(__file__).parent)

__all__ = [
    "COMPILED",
    "DEFAULT_FIELDS",
    "ENGINE_VERSION",
    "Document",
    "Hit",
    "Node",
    "QuerySyntaxError",
    "RuleErrors",
    "RuleIndex",
    "RuleSpec",
    "TermHit",
    "Token",
    "check_rules",
    "compile_rules",
    "iter_terms",
    "parse",
    "tokenize",
]
