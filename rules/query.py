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

Words are turned into *elements* here, using the same analysis as article text, so the engine
only ever compares analysed forms: ``stem`` for plain words, ``norm`` for phrases, ``exact``
for ``!Word``, ``prefix`` for wildcards.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final, Literal, NamedTuple, NoReturn, TypeAlias

from mypy_extensions import mypyc_attr

from rules import analyze

__all__ = [
    "DEFAULT_FIELDS",
    "EXACT",
    "FIELDS",
    "FILTERS",
    "NORM",
    "PREFIX",
    "SAME_SENTENCE",
    "STEM",
    "And",
    "AtLeast",
    "Element",
    "ListTable",
    "Near",
    "Node",
    "Not",
    "Or",
    "Pattern",
    "QuerySyntaxError",
    "Term",
    "iter_terms",
    "parse",
    "parse_all",
]

FIELDS: tuple[str, ...] = ("title", "summary", "body", "source", "lead")
DEFAULT_FIELDS: frozenset[str] = frozenset({"title", "summary", "body"})
# properties of the article rather than text: ``site:host`` and ``lang:code`` take one value
FILTERS: tuple[str, ...] = ("site", "lang")
MIN_PREFIX = 3
SAME_SENTENCE = -1  # a Near's distance for ``a SENT b``
MAX_TIMES = 1000  # atleastN: more would be a typo

STEM: Final = "stem"
NORM: Final = "norm"
EXACT: Final = "exact"
PREFIX: Final = "prefix"
Mode: TypeAlias = Literal["stem", "norm", "exact", "prefix"]
Element: TypeAlias = tuple[Mode, str]
Pattern: TypeAlias = tuple[Element, ...]  # consecutive words


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


# --------------------------------------------------------------------------- words -> elements


class _WordError(Exception):
    """A word that cannot be turned into elements; the caller adds the location."""


@functools.lru_cache(maxsize=1 << 16)  # desks reuse the same words in thousands of rules
def _word_patterns(text: str, exact: bool) -> tuple[Pattern, ...]:
    """A bare word's patterns: one per language that reads it differently (rules.analyze)."""
    return _language_variants(_word_elements, text, exact)


@functools.lru_cache(maxsize=1 << 16)
def _phrase_patterns(text: str, exact: bool) -> tuple[Pattern, ...]:
    """A phrase's patterns: one per language that keys its words differently."""
    return _language_variants(_phrase_elements, text, exact)


def _language_variants(
    elements: Callable[[str, bool, str], tuple[Pattern, ...]], text: str, exact: bool
) -> tuple[Pattern, ...]:
    """The patterns of ``text`` in every analysis language, one per distinct set of keys.

    An article's words are keyed by their lemmas in the article's language, so a query word
    is lemmatised in each language it can match in (French ``visites`` -> ``visiter``,
    English ``visits`` -> ``visit``); most words read the same in all of them, one pattern.
    """
    from rules.keys import element_key  # keys imports this module

    found: dict[tuple[str, ...], Pattern] = {}
    for lang in analyze.LANGUAGES:
        for pattern in elements(text, exact, lang):
            found.setdefault(tuple(element_key(m, v) for m, v in pattern), pattern)
    return tuple(found.values())


def _word_elements(
    text: str, exact: bool, lang: str = analyze.DEFAULT_LANGUAGE
) -> tuple[Pattern, ...]:
    """A bare word (maybe several analysed words, maybe a trailing ``*``) keyed in ``lang``.

    A capitalised word is a name or a demonym, compared by its form: the word (its
    possessive reads as the word) or, for a single word, its plural in -s where the
    language's dictionary lists one (``German``: German, German's, Germans; never Germanic;
    ``France`` never "francs" or "Frances").
    """
    wildcard = text.endswith("*")
    base = text[:-1] if wildcard else text
    if "*" in base:
        raise _WordError("'*' is only allowed at the end of a word")
    matches = analyze.spans(base)
    if not matches:
        if wildcard:
            raise _WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
        raise _WordError(f"{text!r} has no letters or digits to match")
    surfaces = [base[s:e] for s, e in matches]
    if wildcard:
        if exact:
            raise _WordError("'!' (case-sensitive) cannot be combined with a '*' wildcard")
        last_end = matches[-1][1]
        if last_end != len(base) or len(analyze.norm_of(surfaces[-1])) < MIN_PREFIX:
            raise _WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
        head = [_plain_element(w, lang) for w in surfaces[:-1]]
        return ((*head, (PREFIX, analyze.norm_of(surfaces[-1]))),)
    if exact:
        return (tuple(_form_element(EXACT, w, lang) for w in surfaces),)
    word = tuple(_plain_element(w, lang) for w in surfaces)
    name = surfaces[0]
    if len(surfaces) == 1 and analyze.is_name(name):
        plural = name + "s"
        if analyze.is_listed_plural(plural, name, lang):  # Germans, not Frances
            return (word, (_form_element(NORM, plural, lang),))
    return (word,)


def _plain_element(surface: str, lang: str) -> Element:
    """A word with its inflections (its lemma's key), or a name (its form)."""
    if analyze.is_name(surface):
        return _form_element(NORM, surface, lang)
    return (STEM, analyze.key_in(surface, lang))


def _form_element(mode: Mode, surface: str, lang: str) -> Element:
    """A word compared by its form (phrase word, ``!Word``), keyed in ``lang``."""
    form = analyze.exact_of(surface) if mode == EXACT else analyze.norm_of(surface)
    if lang == analyze.DEFAULT_LANGUAGE:
        return (mode, form)
    text = analyze.exact_of(surface) if mode == EXACT else analyze.LOWER[surface]
    return (mode, analyze.tag(lang, text))


def _phrase_elements(
    text: str, exact: bool, lang: str = analyze.DEFAULT_LANGUAGE
) -> tuple[Pattern, ...]:
    """The words of a phrase, not lemmatised; a word ending in ``*`` is a prefix."""
    matches = analyze.spans(text)
    if not matches:
        raise _WordError("empty phrase")
    elements: list[Element] = []
    for start, end in matches:
        surface = text[start:end]
        if text.startswith("*", end):
            if exact:
                raise _WordError("'!' (case-sensitive) cannot be combined with a '*' wildcard")
            if len(analyze.norm_of(surface)) < MIN_PREFIX:
                raise _WordError(f"a wildcard needs at least {MIN_PREFIX} letters before '*'")
            elements.append((PREFIX, analyze.norm_of(surface)))
        else:
            elements.append(_form_element(EXACT if exact else NORM, surface, lang))
    return (tuple(elements),)


def _entry_patterns(entry: str) -> tuple[Pattern, ...]:
    """One ``@list`` entry: a word, ``"a phrase"``, ``!Word``, ``brit*``; several words = phrase.

    In YAML ``[UK, "United Kingdom"]`` the quotes are YAML's and are gone by the time the
    entry reaches us, so an entry with spaces is read as the phrase it obviously is.
    """
    text = entry.strip()
    exact = text.startswith("!")
    if exact:
        text = text[1:].strip()
    if len(text) >= 2 and text[0] in _OPEN_QUOTES and text[-1] in _CLOSE_QUOTES:
        return _phrase_patterns(text[1:-1], exact)
    if not text:
        raise _WordError("empty entry")
    if any(ch.isspace() for ch in text):
        return _phrase_patterns(text, exact)
    return _word_patterns(text, exact)


@mypyc_attr(native_class=False)  # a Python class even compiled: pickles, compares
@dataclass
class ListTable:
    """Named lists, each entry analysed once however many rules use the list."""

    lists: Mapping[str, Sequence[str]]
    _cache: dict[str, tuple[tuple[Pattern, ...], list[str]]] = field(default_factory=dict)

    def resolve(self, name: str) -> tuple[tuple[Pattern, ...], list[str]] | None:
        """The list's patterns and the problems with its entries; None if no such list."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name not in self.lists:
            return None
        entries = self.lists[name]
        if isinstance(entries, str):  # a lone string is one entry, not a list of letters
            entries = [entries]
        patterns: list[Pattern] = []
        problems: list[str] = []
        for entry in entries:
            if not isinstance(entry, str):
                problems.append(f"list '{name}' entry {entry!r} is not text")
                continue
            try:
                entry_patterns = _entry_patterns(entry)
            except _WordError as exc:
                problems.append(f"list '{name}' entry {entry!r}: {exc}")
                continue
            patterns.extend(p for p in entry_patterns if p not in patterns)
        if not patterns and not problems:
            problems.append(f"list '{name}' is empty")
        result = (tuple(patterns), problems)
        self._cache[name] = result
        return result


# --------------------------------------------------------------------------- lexer

_OPEN_QUOTES = '"“'
_CLOSE_QUOTES = '"”'


def _is_stop(ch: str) -> bool:
    """Does ``ch`` end a word (white space, a parenthesis, a quote)?"""
    return ch in '()"“”' or ch.isspace()


_NEAR_RE = re.compile(r"(O?NEAR)(?:/(.*))?", re.DOTALL)
_ATLEAST_RE = re.compile(r"atleast(\d*)", re.IGNORECASE)
_HOST_RE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*")
_LANG_RE = re.compile(r"[a-z]{2,3}")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_LIST_RE = re.compile(r"[\w.-]*\w")
_RUN_RE = re.compile(r"[^\s()\"“”]+")  # a word: up to white space, a parenthesis or a quote
# The tokens most queries are made of, after any white space: parentheses, straight-quoted
# phrases, '-' where it means NOT (after a stop, before a term), and runs that start like a
# word (lex_word classifies those that are not plain words). Matches nothing else.
_FAST_TOKEN_RE = re.compile(
    r"\s*(?:(?P<paren>[()])"
    r"|(?P<phrase>\"[^\"]*\")"
    r"|(?P<neg>(?<![^\s()\"“”])-(?=[^\s)”]))"
    r"|(?P<run>[^\s()\"“”!@-][^\s()\"“”]*))?"
)

TokKind: TypeAlias = Literal[
    "(", ")", "AND", "OR", "NOT", "NEAR", "FIELD", "WORD", "PHRASE", "LIST", "END"
]
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_OPERAND_START = frozenset({"(", "NOT", "FIELD", "WORD", "PHRASE", "LIST"})
_PRIMARY_START = frozenset({"(", "FIELD", "WORD", "PHRASE", "LIST"})


class _Tok(NamedTuple):
    kind: TokKind
    text: str  # as written
    column: int
    value: str = ""  # the word / phrase inside the quotes / list or field name
    exact: bool = False  # preceded by '!'
    number: int = 0  # NEAR distance
    ordered: bool = False  # ONEAR


_KIND = itemgetter(0)  # a token's kind


class _Parser:
    def __init__(self, query: str, table: ListTable, rule_id: str | None) -> None:
        self.query = query
        self.table = table
        self.rule_id = rule_id
        self.errors: list[QuerySyntaxError] = []
        self.scope: frozenset[str] = DEFAULT_FIELDS
        self.scoped = False
        self.toks: list[_Tok] = []
        self.i = 0

    # -- errors

    def error(self, message: str, column: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, column=column, query=self.query, rule_id=self.rule_id)

    def fail(self, message: str, column: int) -> NoReturn:
        raise self.error(message, column)

    def soft(self, message: str, column: int) -> None:
        """Note an error but keep parsing, so one run reports every problem."""
        self.errors.append(self.error(message, column))

    # -- lexing

    def lex(self) -> list[_Tok]:
        q = self.query
        n = len(q)
        i = 0
        toks: list[_Tok] = []
        fast = _FAST_TOKEN_RE.match
        new = tuple.__new__
        while i < n:
            # the common tokens with one regular expression; anything else (and every
            # error) through lex_one, character by character
            found = fast(q, i)
            assert found is not None  # the pattern can match the empty string
            kind = found.lastgroup
            if kind is None:
                end = found.end()
                i = end if end > i else self.lex_one(i, toks)
                continue
            start = found.start(kind)
            if kind == "run":
                word = found.group(kind)
                if word.isalnum() and not word.isupper():  # the common case: a plain word
                    toks.append(new(_Tok, ("WORD", word, start + 1, word, False, 0, False)))
                    i = found.end()
                elif word in _OPERATORS:
                    toks.append(new(_Tok, (word, word, start + 1, "", False, 0, False)))
                    i = found.end()
                else:
                    i = self.lex_word(start, toks, exact=False, start=start)
            elif kind == "phrase":
                text = found.group(kind)
                toks.append(new(_Tok, ("PHRASE", text, start + 1, text[1:-1], False, 0, False)))
                i = found.end()
            else:
                text = found.group(kind)
                token_kind = "NOT" if kind == "neg" else text
                toks.append(new(_Tok, (token_kind, text, start + 1, "", False, 0, False)))
                i = found.end()
        toks.append(_Tok("END", "", n + 1))
        return toks

    def lex_one(self, i: int, toks: list[_Tok]) -> int:
        """Lex the token at ``i`` (or report the error there); the index after it."""
        q = self.query
        n = len(q)
        ch = q[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(_Tok("(" if ch == "(" else ")", ch, col))
            i += 1
        elif ch in _OPEN_QUOTES or ch == "”":
            i = self.lex_phrase(i, toks, exact=False, start=i)
        elif ch == "!":
            if i + 1 < n and q[i + 1] in _OPEN_QUOTES:
                i = self.lex_phrase(i + 1, toks, exact=True, start=i)
            elif i + 1 < n and not _is_stop(q[i + 1]) and q[i + 1] not in "!-@":
                i = self.lex_word(i + 1, toks, exact=True, start=i)
            else:
                self.fail("'!' must be followed directly by a word or a phrase", col)
        elif ch == "-" and (i == 0 or _is_stop(q[i - 1])):
            if i + 1 < n and (not _is_stop(q[i + 1]) or q[i + 1] in '("“'):
                toks.append(_Tok("NOT", "-", col))
                i += 1
            else:
                self.fail("'-' must be followed directly by the term to exclude", col)
        elif ch == "@":
            match = _LIST_RE.match(q, i + 1)
            if match is None:
                self.fail("'@' must be followed by the name of a list", col)
            toks.append(_Tok("LIST", q[i : match.end()], col, value=match.group()))
            i = match.end()
        else:
            i = self.lex_word(i, toks, exact=False, start=i)
        return i

    def lex_phrase(self, i: int, toks: list[_Tok], *, exact: bool, start: int) -> int:
        q = self.query
        close = q.find('"', i + 1) if q[i] == '"' else _find_any(q, _CLOSE_QUOTES, i + 1)
        if close < 0:
            self.fail("unterminated phrase: the closing quote is missing", start + 1)
        toks.append(
            _Tok("PHRASE", q[start : close + 1], start + 1, value=q[i + 1 : close], exact=exact)
        )
        return close + 1

    def lex_word(self, i: int, toks: list[_Tok], *, exact: bool, start: int) -> int:
        q = self.query
        run = _RUN_RE.match(q, i)
        j = run.end() if run is not None else i
        word = q[i:j]
        col = start + 1
        if word.isalnum() and not word.isupper():  # the common case: a plain word
            toks.append(_Tok("WORD", q[start:j], col, value=word, exact=exact))
            return j
        if not exact:
            if word in ("AND", "OR", "NOT"):
                kind: TokKind = "AND" if word == "AND" else "OR" if word == "OR" else "NOT"
                toks.append(_Tok(kind, word, col))
                return j
            if word == "SENT":
                toks.append(_Tok("NEAR", word, col, number=SAME_SENTENCE))
                return j
            near = _NEAR_RE.fullmatch(word)
            if near is not None:
                op, number = near.group(1), near.group(2)
                if number is None or not number.isascii() or not number.isdigit():
                    self.fail(f"{op} needs a distance in words, e.g. {op}/5", col)
                toks.append(_Tok("NEAR", word, col, number=int(number), ordered=op == "ONEAR"))
                return j
            scope = _FIELD_RE.match(word)
            if scope is not None:
                name = scope.group(1).lower()
                if name not in FIELDS and name not in FILTERS:
                    fields = ", ".join(f"{f}:" for f in (*FIELDS, *FILTERS))
                    self.fail(f"unknown field '{scope.group(1)}:' (fields are {fields})", col)
                toks.append(_Tok("FIELD", scope.group(), col, value=name))
                if name in FILTERS and i + scope.end() < j:  # site:x.org, lang:fr: one value
                    value = q[i + scope.end() : j]
                    toks.append(_Tok("WORD", value, col + scope.end(), value=value))
                    return j
                return i + scope.end()
        star = word.find("*")
        if 0 <= star < len(word) - 1:
            self.fail("'*' is only allowed at the end of a word", i + star + 1)
        toks.append(_Tok("WORD", q[start:j], col, value=word, exact=exact))
        return j

    # -- parsing

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        self.toks = self.lex()
        if self.peek().kind == "END":
            self.fail("empty query", 1)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            self.fail("unbalanced parenthesis: this ')' has no matching '('", tok.column)
        if tok.kind != "END":  # pragma: no cover - the AND loop consumes every operand
            self.fail(f"unexpected {tok.text!r}", tok.column)
        return node

    def need_operand(self, op: _Tok, starts: frozenset[str] = _OPERAND_START) -> None:
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
            return self.term(toks[i], _word_patterns)
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
            return self.term(tok, _word_patterns)
        if kind == "PHRASE":
            return self.term(tok, _phrase_patterns)
        if kind == "LIST":
            return self.list_term(tok)
        if kind == ")":
            self.fail("unbalanced parenthesis: this ')' has no matching '('", tok.column)
        if kind == "END":  # pragma: no cover - callers check for an operand first
            self.fail("the query ends where a term is needed", tok.column)
        return self.fail(f"dangling operator: {tok.text} needs a term before it", tok.column)

    def at_least(self, tok: _Tok, digits: str) -> Node:
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

    def filter_term(self, tok: _Tok) -> Term:
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

    def term(self, tok: _Tok, patterns: Callable[[str, bool], tuple[Pattern, ...]]) -> Term:
        try:
            found: tuple[Pattern, ...] = patterns(tok.value, tok.exact)
        except _WordError as exc:
            self.soft(str(exc), tok.column)
            found = ()
        return Term(tok.text, found, self.scope, tok.column)

    def list_term(self, tok: _Tok) -> Term:
        resolved = self.table.resolve(tok.value)
        if resolved is None:
            self.soft(f"unknown list '@{tok.value}'", tok.column)
            return Term(tok.text, (), self.scope, tok.column)
        patterns, problems = resolved
        for problem in problems:
            self.soft(problem, tok.column)
        return Term(tok.text, patterns, self.scope, tok.column)


def _find_any(text: str, chars: str, start: int) -> int:
    positions = [p for p in (text.find(c, start) for c in chars) if p >= 0]
    return min(positions) if positions else -1


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
