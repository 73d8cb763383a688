"""Query string -> tokens, each with its 1-based column; a malformed token is an error there.

Most queries are plain words, parentheses and straight-quoted phrases: one regular expression
takes those, and everything else (every error included) goes character by character.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, NoReturn, TypeAlias

from rules.syntax import CLOSE_QUOTES, FIELDS, FILTERS, OPEN_QUOTES, SAME_SENTENCE, QuerySyntaxError

__all__ = ["Tok", "TokKind", "lex"]


def _is_stop(ch: str) -> bool:
    """Does ``ch`` end a word (white space, a parenthesis, a quote)?"""
    return ch in '()"“”' or ch.isspace()


_NEAR_RE = re.compile(r"(O?NEAR)(?:/(.*))?", re.DOTALL)
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


class Tok(NamedTuple):
    kind: TokKind
    text: str  # as written
    column: int
    value: str = ""  # the word / phrase inside the quotes / list or field name
    exact: bool = False  # preceded by '!'
    number: int = 0  # NEAR distance
    ordered: bool = False  # ONEAR


def lex(query: str, rule_id: str | None = None) -> list[Tok]:
    """The query's tokens, ending with an ``END`` token; raises QuerySyntaxError."""
    return _Lexer(query, rule_id).lex()


class _Lexer:
    def __init__(self, query: str, rule_id: str | None) -> None:
        self.query = query
        self.rule_id = rule_id

    def fail(self, message: str, column: int) -> NoReturn:
        raise QuerySyntaxError(message, column=column, query=self.query, rule_id=self.rule_id)

    def lex(self) -> list[Tok]:
        q = self.query
        n = len(q)
        i = 0
        toks: list[Tok] = []
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
                    toks.append(new(Tok, ("WORD", word, start + 1, word, False, 0, False)))
                    i = found.end()
                elif word in _OPERATORS:
                    toks.append(new(Tok, (word, word, start + 1, "", False, 0, False)))
                    i = found.end()
                else:
                    i = self.lex_word(start, toks, exact=False, start=start)
            elif kind == "phrase":
                text = found.group(kind)
                toks.append(new(Tok, ("PHRASE", text, start + 1, text[1:-1], False, 0, False)))
                i = found.end()
            else:
                text = found.group(kind)
                token_kind = "NOT" if kind == "neg" else text
                toks.append(new(Tok, (token_kind, text, start + 1, "", False, 0, False)))
                i = found.end()
        toks.append(Tok("END", "", n + 1))
        return toks

    def lex_one(self, i: int, toks: list[Tok]) -> int:
        """Lex the token at ``i`` (or report the error there); the index after it."""
        q = self.query
        n = len(q)
        ch = q[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            toks.append(Tok("(" if ch == "(" else ")", ch, col))
            i += 1
        elif ch in OPEN_QUOTES or ch == "”":
            i = self.lex_phrase(i, toks, exact=False, start=i)
        elif ch == "!":
            if i + 1 < n and q[i + 1] in OPEN_QUOTES:
                i = self.lex_phrase(i + 1, toks, exact=True, start=i)
            elif i + 1 < n and not _is_stop(q[i + 1]) and q[i + 1] not in "!-@":
                i = self.lex_word(i + 1, toks, exact=True, start=i)
            else:
                self.fail("'!' must be followed directly by a word or a phrase", col)
        elif ch == "-" and (i == 0 or _is_stop(q[i - 1])):
            if i + 1 < n and (not _is_stop(q[i + 1]) or q[i + 1] in '("“'):
                toks.append(Tok("NOT", "-", col))
                i += 1
            else:
                self.fail("'-' must be followed directly by the term to exclude", col)
        elif ch == "@":
            match = _LIST_RE.match(q, i + 1)
            if match is None:
                self.fail("'@' must be followed by the name of a list", col)
            toks.append(Tok("LIST", q[i : match.end()], col, value=match.group()))
            i = match.end()
        else:
            i = self.lex_word(i, toks, exact=False, start=i)
        return i

    def lex_phrase(self, i: int, toks: list[Tok], *, exact: bool, start: int) -> int:
        q = self.query
        close = q.find('"', i + 1) if q[i] == '"' else _find_any(q, CLOSE_QUOTES, i + 1)
        if close < 0:
            self.fail("unterminated phrase: the closing quote is missing", start + 1)
        toks.append(
            Tok("PHRASE", q[start : close + 1], start + 1, value=q[i + 1 : close], exact=exact)
        )
        return close + 1

    def lex_word(self, i: int, toks: list[Tok], *, exact: bool, start: int) -> int:
        q = self.query
        run = _RUN_RE.match(q, i)
        j = run.end() if run is not None else i
        word = q[i:j]
        col = start + 1
        if word.isalnum() and not word.isupper():  # the common case: a plain word
            toks.append(Tok("WORD", q[start:j], col, value=word, exact=exact))
            return j
        if not exact:
            if word in ("AND", "OR", "NOT"):
                kind: TokKind = "AND" if word == "AND" else "OR" if word == "OR" else "NOT"
                toks.append(Tok(kind, word, col))
                return j
            if word == "SENT":
                toks.append(Tok("NEAR", word, col, number=SAME_SENTENCE))
                return j
            near = _NEAR_RE.fullmatch(word)
            if near is not None:
                op, number = near.group(1), near.group(2)
                if number is None or not number.isascii() or not number.isdigit():
                    self.fail(f"{op} needs a distance in words, e.g. {op}/5", col)
                toks.append(Tok("NEAR", word, col, number=int(number), ordered=op == "ONEAR"))
                return j
            scope = _FIELD_RE.match(word)
            if scope is not None:
                name = scope.group(1).lower()
                if name not in FIELDS and name not in FILTERS:
                    fields = ", ".join(f"{f}:" for f in (*FIELDS, *FILTERS))
                    self.fail(f"unknown field '{scope.group(1)}:' (fields are {fields})", col)
                toks.append(Tok("FIELD", scope.group(), col, value=name))
                if name in FILTERS and i + scope.end() < j:  # site:x.org, lang:fr: one value
                    value = q[i + scope.end() : j]
                    toks.append(Tok("WORD", value, col + scope.end(), value=value))
                    return j
                return i + scope.end()
        star = word.find("*")
        if 0 <= star < len(word) - 1:
            self.fail("'*' is only allowed at the end of a word", i + star + 1)
        toks.append(Tok("WORD", q[start:j], col, value=word, exact=exact))
        return j


def _find_any(text: str, chars: str, start: int) -> int:
    positions = [p for p in (text.find(c, start) for c in chars) if p >= 0]
    return min(positions) if positions else -1
