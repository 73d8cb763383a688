"""Query string -> syntax tree, with errors that point at the column where the problem is.

The language (DESIGN.md, "Rule language"):

======================  =====================================================================
``visit``               the word, any case, accents folded, whole words, with its inflections
``"United Kingdom"``    the exact words in sequence, any case, no stemming
``!US``                 case-sensitive exact word (``!"US Army"`` for a phrase)
``a AND b``, ``a b``    both
``a OR b``              either
``NOT a``, ``-a``       must not appear
``( … )``               grouping; precedence NOT > AND > OR (NEAR binds tighter than all)
``a NEAR/5 b``          at most 5 words between them, either order; ``ONEAR/5`` in order
``a SENT b``            both in one sentence (NEAR's rules, the sentence as the distance)
``brit*``               prefix wildcard, at least 3 letters before the ``*``
``"prime minister*"``   a phrase whose words may end in a wildcard
``atleast3(term)``      the term (a word, phrase or list) at least 3 times
``title:``, ...         ``title:``, ``summary:``, ``body:``, ``source:``, ``lead:`` (the title
                        and the first paragraph) restrict to a field; the default is the
                        text fields (title, summary, body)
``site:example.org``    the article's URL host is example.org or one of its subdomains
``lang:fr``             the article's language (its code, as detected when normalised)
``@uk``                 any entry of the named list (entries may be phrases)
======================  =====================================================================

Operators are upper case; ``and``/``or``/``not``/``near`` in lower case are ordinary words.
A query word that the analyzer splits into several words (``UK-China``, ``U.K.``,
``example.com``) matches those words in sequence.

The pieces: rules.lexer (tokens), rules.elements (words -> analysed elements, named lists),
rules.syntax (the tree and its error); here, the grammar.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import NoReturn

from rules.elements import ListTable, WordError, phrase_patterns, word_patterns
from rules.lexer import Tok, lex
from rules.syntax import (
    DEFAULT_FIELDS,
    FILTERS,
    STEM,
    And,
    AtLeast,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    QuerySyntaxError,
    Term,
)

__all__ = ["MAX_TIMES", "parse", "parse_all"]

MAX_TIMES = 1000  # atleastN: more would be a typo

_ATLEAST_RE = re.compile(r"atleast(\d*)", re.IGNORECASE)
_HOST_RE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*")
_LANG_RE = re.compile(r"[a-z]{2,3}")
_OPERAND_START = frozenset({"(", "NOT", "FIELD", "WORD", "PHRASE", "LIST"})
_PRIMARY_START = frozenset({"(", "FIELD", "WORD", "PHRASE", "LIST"})
_KIND = itemgetter(0)  # a token's kind


class _Parser:
    def __init__(self, query: str, table: ListTable, rule_id: str | None) -> None:
        self.query = query
        self.table = table
        self.rule_id = rule_id
        self.errors: list[QuerySyntaxError] = []
        self.scope: frozenset[str] = DEFAULT_FIELDS
        self.scoped = False
        self.toks: list[Tok] = []
        self.i = 0

    # -- errors

    def error(self, message: str, column: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, column=column, query=self.query, rule_id=self.rule_id)

    def fail(self, message: str, column: int) -> NoReturn:
        raise self.error(message, column)

    def soft(self, message: str, column: int) -> None:
        """Note an error but keep parsing, so one run reports every problem."""
        self.errors.append(self.error(message, column))

    # -- parsing

    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        self.toks = lex(self.query, self.rule_id)
        if self.peek().kind == "END":
            self.fail("empty query", 1)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            self.fail("unbalanced parenthesis: this ')' has no matching '('", tok.column)
        if tok.kind != "END":  # pragma: no cover - the AND loop consumes every operand
            self.fail(f"unexpected {tok.text!r}", tok.column)
        return node

    def need_operand(self, op: Tok, starts: frozenset[str] = _OPERAND_START) -> None:
        nxt = self.peek()
        if nxt.kind not in starts:
            found = "the end of the query" if nxt.kind == "END" else repr(nxt.text)
            what = "" if op.kind == "FIELD" else "dangling operator: "
            self.fail(f"{what}{op.text} needs a term after it, found {found}", op.column)

    def parse_or(self) -> Node:
        first = self.parse_and()
        children = [first]
        while self.peek().kind == "OR":
            op = self.take()
            self.need_operand(op)
            children.append(self.parse_and())
        if len(children) == 1:
            return first
        flat: list[Node] = []
        for child in children:
            flat.extend(child.children if isinstance(child, Or) else (child,))
        return Or(tuple(flat), _column(first))

    def parse_and(self) -> Node:
        first = self.parse_unary()
        children = [first]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                op = self.take()
                self.need_operand(op)
            elif kind not in _OPERAND_START:
                break
            children.append(self.parse_unary())
        if len(children) == 1:
            return first
        flat: list[Node] = []
        for child in children:
            flat.extend(child.children if isinstance(child, And) else (child,))
        return And(tuple(flat), _column(first))

    def parse_unary(self) -> Node:
        toks, i = self.toks, self.i
        if toks[i].kind == "WORD" and toks[i + 1].kind not in ("NEAR", "("):
            # the common case, without the calls down to parse_primary
            self.i = i + 1
            return self.term(toks[i], word_patterns)
        if toks[i].kind == "NOT":
            op = self.take()
            self.need_operand(op)
            return Not(self.parse_unary(), op.column)
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        while self.peek().kind == "NEAR":
            op = self.take()
            self.need_operand(op, _PRIMARY_START)
            right = self.parse_primary()
            for side in (left, right):
                bad = _non_positional(side)
                if bad is not None:
                    self.soft(
                        f"{op.text} works on words, phrases, lists and OR-groups of them, "
                        "not on AND, NOT, atleastN, site: or lang:",
                        bad,
                    )
            left = Near(left, right, op.number, op.ordered, _column(left))
        return left

    def parse_primary(self) -> Node:
        tok = self.take()
        kind = tok.kind
        if kind == "(":
            if self.peek().kind == ")":
                self.fail("empty parentheses", tok.column)
            inner = self.parse_or()
            if self.peek().kind != ")":
                self.fail("unbalanced parenthesis: this '(' is never closed", tok.column)
            self.take()
            return inner
        if kind == "FIELD" and tok.value in FILTERS:
            return self.filter_term(tok)
        if kind == "FIELD":
            self.need_operand(tok, _PRIMARY_START)
            wanted = frozenset({tok.value})
            if self.scoped and wanted != self.scope:
                outer = next(iter(self.scope))
                self.soft(f"{tok.value}: inside {outer}: can never match", tok.column)
            saved = (self.scope, self.scoped)
            self.scope, self.scoped = wanted, True
            try:
                return self.parse_primary()
            finally:
                self.scope, self.scoped = saved
        if kind == "WORD":
            if self.peek().kind == "(" and not tok.exact:
                times = _ATLEAST_RE.fullmatch(tok.value)
                if times is not None and self.peek().column == tok.column + len(tok.text):
                    return self.at_least(tok, times.group(1))
            return self.term(tok, word_patterns)
        if kind == "PHRASE":
            return self.term(tok, phrase_patterns)
        if kind == "LIST":
            return self.list_term(tok)
        if kind == ")":
            self.fail("unbalanced parenthesis: this ')' has no matching '('", tok.column)
        if kind == "END":  # pragma: no cover - callers check for an operand first
            self.fail("the query ends where a term is needed", tok.column)
        return self.fail(f"dangling operator: {tok.text} needs a term before it", tok.column)

    def at_least(self, tok: Tok, digits: str) -> Node:
        """``atleastN( term )``, the parenthesis right after the N."""
        paren = self.take()
        if not digits or int(digits) < 1 or int(digits) > MAX_TIMES:
            self.soft(
                f"atleastN needs how many times as a number from 1 to {MAX_TIMES}, "
                "e.g. atleast3(visit)",
                tok.column,
            )
        if self.peek().kind == ")":
            self.fail(f"{tok.text}( ) needs a word, phrase or @list inside", paren.column)
        inner = self.parse_or()
        if self.peek().kind != ")":
            self.fail("unbalanced parenthesis: this '(' is never closed", paren.column)
        self.take()
        if not isinstance(inner, Term) or inner.fields & set(FILTERS):
            self.soft(f"{tok.text}( ) counts one word, phrase or @list", _column(inner))
            return inner
        return AtLeast(inner, int(digits or 1), tok.column)

    def filter_term(self, tok: Tok) -> Term:
        """``site:example.org`` or ``lang:fr``: one value, compared whole."""
        name = tok.value
        value_tok = self.peek()
        example = "site:example.org" if name == "site" else "lang:fr"
        if (
            value_tok.kind != "WORD"
            or value_tok.exact
            or value_tok.column != tok.column + len(tok.text)
        ):
            self.fail(f"{tok.text} needs a value right after it, e.g. {example}", tok.column)
        self.take()
        value = value_tok.value.casefold()
        if name == "site":
            value = value.rstrip(".")
            value = value[4:] if value.startswith("www.") else value
            valid = _HOST_RE.fullmatch(value) is not None
            what = "a host name such as example.org (no scheme, path or wildcard)"
        else:
            valid = _LANG_RE.fullmatch(value) is not None
            what = "a two- or three-letter language code such as fr"
        if not valid:
            self.soft(f"{tok.text} needs {what}, not {value_tok.value!r}", value_tok.column)
            return Term(tok.text + value_tok.text, (), frozenset({name}), tok.column)
        pattern: Pattern = ((STEM, value),)
        return Term(tok.text + value_tok.text, (pattern,), frozenset({name}), tok.column)

    def term(self, tok: Tok, patterns: Callable[[str, bool, str], tuple[Pattern, ...]]) -> Term:
        try:
            found: tuple[Pattern, ...] = patterns(tok.value, tok.exact, self.table.lang)
        except WordError as exc:
            self.soft(str(exc), tok.column)
            found = ()
        return Term(tok.text, found, self.scope, tok.column)

    def list_term(self, tok: Tok) -> Term:
        resolved = self.table.resolve(tok.value)
        if resolved is None:
            self.soft(f"unknown list '@{tok.value}'", tok.column)
            return Term(tok.text, (), self.scope, tok.column)
        patterns, problems = resolved
        for problem in problems:
            self.soft(problem, tok.column)
        return Term(tok.text, patterns, self.scope, tok.column)


def _column(node: Node) -> int:
    return node.column


def _non_positional(node: Node) -> int | None:
    """Column of the first part of a NEAR operand that has no word position (AND, NOT,
    atleastN, site:, lang:)."""
    if isinstance(node, Term):
        return node.column if node.fields & set(FILTERS) else None
    if isinstance(node, Near):
        return None
    if isinstance(node, Or):
        for child in node.children:
            bad = _non_positional(child)
            if bad is not None:
                return bad
        return None
    return node.column


def _only_negates(node: Node) -> int | None:
    """Column of a part that lets the rule match without any term appearing, else None.

    Such a rule would match almost every article and cannot be filed in the index.
    """
    if isinstance(node, Term | Near | AtLeast):
        return None
    if isinstance(node, Not):
        return node.column
    if isinstance(node, Or):
        for child in node.children:
            bad = _only_negates(child)
            if bad is not None:
                return bad
        return None
    columns = [_only_negates(child) for child in node.children]
    if all(c is not None for c in columns):
        return node.column
    return None


def parse_all(
    query: str, table: ListTable, *, rule_id: str | None = None
) -> tuple[Node | None, list[QuerySyntaxError]]:
    """Parse, collecting every error found (the tree is None when there is any)."""
    parser = _Parser(query, table, rule_id)
    try:
        node = parser.parse()
    except QuerySyntaxError as exc:
        return None, sorted([*parser.errors, exc], key=lambda e: e.column)
    if not parser.errors and "NOT" in map(_KIND, parser.toks):  # only NOT can negate alone
        bad = _only_negates(node)
        if bad is not None:
            if isinstance(node, Or):
                message = (
                    "this alternative of OR only excludes terms, so the rule would match "
                    "almost every article"
                )
            else:
                message = (
                    "the rule only excludes terms: it needs at least one term that must appear"
                )
            parser.soft(message, bad)
    if parser.errors:
        return None, sorted(parser.errors, key=lambda e: e.column)
    return node, []


_NO_LISTS: Mapping[str, Sequence[str]] = {}


def parse(
    query: str,
    *,
    lists: Mapping[str, Sequence[str]] = _NO_LISTS,
    rule_id: str | None = None,
) -> Node:
    """Parse one query; raises :class:`QuerySyntaxError` (the first problem by column)."""
    node, errors = parse_all(query, ListTable(lists), rule_id=rule_id)
    if node is None:
        raise errors[0]
    return node
