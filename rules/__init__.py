"""The matching engine: keyword rules compiled into one index (pure library, no I/O)."""

from rules import engine
from rules.analyze import Token, tokenize
from rules.engine import (
    Document,
    Hit,
    RuleErrors,
    RuleIndex,
    RuleSpec,
    TermHit,
    check_rules,
    compile_rules,
)
from rules.query import Node, QuerySyntaxError, parse

# Whether these modules run as C, compiled by mypyc when the package was installed (setup.py)
COMPILED = not engine.__file__.endswith(".py")

__all__ = [
    "COMPILED",
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
    "parse",
    "tokenize",
]
