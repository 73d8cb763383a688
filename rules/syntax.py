"""The query language's vocabulary: fields, element modes, the syntax tree and its error.

A query (rules.query parses it, DESIGN.md "Rule language" describes it) becomes a tree of the
nodes here; its leaves hold *elements*, analysed words the engine compares: ``stem`` for plain
words, ``norm`` for phrases, ``exact`` for ``!Word``, ``prefix`` for wildcards.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Final, Literal, TypeAlias

__all__ = [
    "CLOSE_QUOTES",
    "DEFAULT_FIELDS",
    "EXACT",
    "FIELDS",
    "FILTERS",
    "NORM",
    "OPEN_QUOTES",
    "PREFIX",
    "SAME_SENTENCE",
    "STEM",
    "And",
    "AtLeast",
    "Element",
    "Mode",
    "Near",
    "Node",
    "Not",
    "Or",
    "Pattern",
    "QuerySyntaxError",
    "Term",
    "iter_terms",
]

FIELDS: tuple[str, ...] = ("title", "summary", "body", "source", "lead")
DEFAULT_FIELDS: frozenset[str] = frozenset({"title", "summary", "body"})
# properties of the article rather than text: ``site:host`` and ``lang:code`` take one value
FILTERS: tuple[str, ...] = ("site", "lang")
SAME_SENTENCE = -1  # a Near's distance for ``a SENT b``

STEM: Final = "stem"
NORM: Final = "norm"
EXACT: Final = "exact"
PREFIX: Final = "prefix"
Mode: TypeAlias = Literal["stem", "norm", "exact", "prefix"]
Element: TypeAlias = tuple[Mode, str]
Pattern: TypeAlias = tuple[Element, ...]  # consecutive words

# quotes that open and close a phrase (straight, or typographic as word processors write them)
OPEN_QUOTES = '"“'
CLOSE_QUOTES = '"”'


class QuerySyntaxError(ValueError):
    """A malformed query, located by rule id and 1-based column."""

    def __init__(
        self, message: str, *, column: int, query: str, rule_id: str | None = None
    ) -> None:
        self.message = message
        self.column = column
        self.query = query
        self.rule_id = rule_id
        super().__init__(self.render())

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (self.message, self.column, self.query, self.rule_id))

    def render(self) -> str:
        """``rule 'id': message at column N``, then the query and a caret under the spot."""
        head = f"rule '{self.rule_id}': " if self.rule_id is not None else ""
        line = re.sub(r"[\t\r\n\f\v]", " ", self.query)
        before = line[: max(self.column - 1, 0)]
        pad = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in before)
        return f"{head}{self.message} at column {self.column}\n  {line}\n  {' ' * pad}^"


def _rebuild_error(message: str, column: int, query: str, rule_id: str | None) -> QuerySyntaxError:
    return QuerySyntaxError(message, column=column, query=query, rule_id=rule_id)


# --------------------------------------------------------------------------- syntax tree


# The nodes are plain classes, not dataclasses: compiled (setup.py), a dataclass keeps the
# __init__ the decorator writes in Python, which made building the nodes a tenth of the
# compile time of a large rule set. Final: nothing changes a node once it is built.


class Term:
    """A leaf: matches where any of its patterns occurs in one of its fields."""

    __slots__ = ("column", "fields", "patterns", "text")

    def __init__(
        self, text: str, patterns: tuple[Pattern, ...], fields: frozenset[str], column: int
    ) -> None:
        self.text: Final = text  # as the user wrote it: visit, "United Kingdom", !US, @uk
        self.patterns: Final = patterns
        self.fields: Final = fields
        self.column: Final = column


class And:
    __slots__ = ("children", "column")

    def __init__(self, children: tuple[Node, ...], column: int) -> None:
        self.children: Final = children
        self.column: Final = column


class Or:
    __slots__ = ("children", "column")

    def __init__(self, children: tuple[Node, ...], column: int) -> None:
        self.children: Final = children
        self.column: Final = column


class Not:
    __slots__ = ("child", "column")

    def __init__(self, child: Node, column: int) -> None:
        self.child: Final = child
        self.column: Final = column


class Near:
    """``left NEAR/distance right``: at most ``distance`` words between them."""

    __slots__ = ("column", "distance", "left", "ordered", "right")

    def __init__(self, left: Node, right: Node, distance: int, ordered: bool, column: int) -> None:
        self.left: Final = left
        self.right: Final = right
        self.distance: Final = distance
        self.ordered: Final = ordered  # ONEAR: left must come before right
        self.column: Final = column


class AtLeast:
    """``atleastN(term)``: the term occurs at least ``times`` times."""

    __slots__ = ("child", "column", "times")

    def __init__(self, child: Term, times: int, column: int) -> None:
        self.child: Final = child
        self.times: Final = times
        self.column: Final = column


Node: TypeAlias = Term | And | Or | Not | Near | AtLeast


def iter_terms(node: Node) -> Iterator[Term]:
    """Every leaf, in query order."""
    if isinstance(node, Term):
        yield node
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from iter_terms(child)
    elif isinstance(node, Not | AtLeast):
        yield from iter_terms(node.child)
    else:
        yield from iter_terms(node.left)
        yield from iter_terms(node.right)
