"""`newswatch rules test`: try rules on articles, or one query on one text, and show why.

Plain functions writing to the streams they are given and returning the exit code, so the
CLI stays a thin wrapper and tests need no subprocess. The contract other tools rely on:

* ``run_rules_test`` reads a YAML file with ``lists`` and ``rules`` (a rule needs only ``id``
  and ``query``) and articles as JSON lines (``id``, ``title``, ``summary``, ``body``,
  ``source``, ``url``; a missing key is empty). With ``fmt="jsonl"`` it prints one object per
  match, ``{"article": ID, "rule": RULE_ID, "terms": [...]}``; without, a table with the
  matched terms highlighted. Exit 0; 2 for bad rules or a file that cannot be read, with
  every message on ``err`` and never a traceback. A bad article line is reported as
  ``file:line`` on ``err`` and the other lines go on.
* ``run_query_test`` tries one query on one text: 0 matched, 1 not matched, 2 bad query;
  ``lists`` (the config's) make ``@name`` known.
* ``run_config_test`` tries the rules of a loaded config (or one of them) on articles or on
  one text, with the config's lists: the rules exactly as the monitor will run them.
"""

from __future__ import annotations

import gc
import heapq
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from json.encoder import encode_basestring as _STRING  # a str as JSON, not escaping non-ASCII
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import yaml

from newswatch.article_lines import ArticleLine, Unreadable, read_articles
from newswatch.language import detect_language
from newswatch.lemmas import install as install_lemma_dictionaries
from rules import (
    DEFAULT_FIELDS,
    Document,
    Hit,
    Node,
    QuerySyntaxError,
    RuleErrors,
    RuleIndex,
    RuleSpec,
    TermHit,
    compile_rules,
    iter_terms,
    parse,
)

install_lemma_dictionaries()  # decoded once per machine (newswatch.lemmas)

if TYPE_CHECKING:  # the config module pulls in the models and SQLAlchemy: --query needs neither
    from sqlalchemy import Engine

    from newswatch.config import Config
    from newswatch.models import Article

__all__ = [
    "NEWEST_HITS",
    "run_config_test",
    "run_query_test",
    "run_rules_test",
    "run_stored_test",
    "term_index",
]

NEWEST_HITS = 5  # hits shown by a test over the stored articles

TEXT_FIELDS = ("title", "summary", "body", "source")
_EVER = datetime(1, 1, 2, tzinfo=UTC)  # a stored-articles test reads them all
_NEVER = datetime(9999, 12, 30, tzinfo=UTC)
SNIPPET = 70  # characters of context either side of the first hit in a long field


class _Failed(Exception):
    """The rules file cannot be used; the messages say why."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


# --------------------------------------------------------------------------- reading rules


def _load_rules(path: Path) -> tuple[list[RuleSpec], dict[str, list[str]], dict[str, int]]:
    """Rules, lists and each rule's line; raises _Failed with every problem found."""
    from newswatch.config import line_of, read_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Failed([f"error: cannot read rules file {path}: {_reason(exc)}"]) from None
    try:
        root, data = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise _Failed([f"{where}: not valid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Failed([f"{path}:1: expected a mapping with 'lists' and 'rules'"])

    problems: list[str] = []

    def line(*keys: object) -> str:
        return f"{path}:{line_of(root, keys)}"

    lists: dict[str, list[str]] = {}
    raw_lists = data.get("lists") or {}
    if not isinstance(raw_lists, dict):
        problems.append(f"{line('lists')}: 'lists' must map names to lists of words")
    else:
        for name, entries in raw_lists.items():
            if isinstance(entries, str):
                entries = [entries]
            if not isinstance(entries, list) or not all(
                isinstance(e, str | int | float) for e in entries
            ):
                problems.append(f"{line('lists', name)}: list {name!r} must be a list of words")
                continue
            lists[str(name)] = [str(e) for e in entries]

    specs: list[RuleSpec] = []
    lines: dict[str, int] = {}
    raw_rules = data.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.append(f"{line('rules')}: 'rules' must be a list")
        raw_rules = []
    for i, rule in enumerate(raw_rules):
        where = line("rules", i)
        if not isinstance(rule, dict):
            problems.append(f"{where}: rule #{i + 1} must be a mapping with 'id' and 'query'")
            continue
        rule_id, query = rule.get("id"), rule.get("query")
        if not isinstance(rule_id, str | int) or isinstance(rule_id, bool) or rule_id == "":
            problems.append(f"{where}: rule #{i + 1} needs an 'id'")
            continue
        rule_id = str(rule_id)
        if not isinstance(query, str):
            problems.append(f"{where}: rule {rule_id!r} needs a 'query' (text)")
            continue
        if rule_id in lines:
            problems.append(f"{where}: duplicate rule id {rule_id!r}")
            continue
        lines[rule_id] = line_of(root, ("rules", i, "query"))
        specs.append(RuleSpec(rule_id, query))
    if problems:
        raise _Failed(problems)
    return specs, lists, lines


def _compile(path: Path) -> tuple[RuleIndex, int]:
    specs, lists, lines = _load_rules(path)
    try:
        return compile_rules(specs, lists), len(specs)
    except RuleErrors as exc:
        raise _Failed(
            [f"{path}:{lines.get(e.rule_id or '', 1)}: {e.render()}" for e in exc.errors]
        ) from None


# --------------------------------------------------------------------------- output


def _highlighter(out: TextIO) -> tuple[str, str]:
    isatty = getattr(out, "isatty", None)
    try:
        tty = bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):
        tty = False
    return ("\x1b[1m", "\x1b[0m") if tty else ("«", "»")


def _snippet(text: str, spans: Sequence[tuple[int, int]], marks: tuple[str, str]) -> str:
    """The field (or a window around its first hit) with every hit in the window marked."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    lo, hi = 0, len(text)
    if len(text) > 2 * SNIPPET + 40 and merged:
        lo = max(0, merged[0][0] - SNIPPET)
        hi = min(len(text), merged[0][1] + SNIPPET)
    pieces: list[str] = ["…" if lo > 0 else ""]
    at = lo
    for start, end in merged:
        if start < lo or end > hi:
            continue
        pieces += [text[at:start], marks[0], text[start:end], marks[1]]
        at = end
    pieces += [text[at:hi], "…" if hi < len(text) else ""]
    return " ".join("".join(pieces).split())  # one line, whatever the text's line breaks


def _where(terms: Sequence[TermHit]) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = {}
    for term in terms:
        spans.setdefault(term.field, []).extend(term.spans)
    return spans


def _write_table(
    out: TextIO, results: list[tuple[ArticleLine, list[Hit]]], articles: int, rules: int
) -> None:
    marks = _highlighter(out)
    rows = [(str(a.id), hit) for a, hits in results for hit in hits]
    id_width = max([len("ARTICLE"), *(len(r[0]) for r in rows)])
    rule_width = max([len("RULE"), *(len(r[1].rule_id) for r in rows)])
    indent = " " * (id_width + rule_width + 4)
    if rows:
        out.write(f"{'ARTICLE':<{id_width}}  {'RULE':<{rule_width}}  TERMS\n")
    docs = {id(a): a.doc for a, _ in results}
    for article, hits in results:
        for hit in hits:
            terms = ", ".join(hit.matched_terms)
            out.write(f"{article.id!s:<{id_width}}  {hit.rule_id:<{rule_width}}  {terms}\n")
            for name, spans in _where(hit.terms).items():
                text = getattr(docs[id(article)], name)
                out.write(f"{indent}{name + ':':<9}{_snippet(text, spans, marks)}\n")
    matched = sum(1 for _, hits in results if hits)
    out.write(
        f"{_count(len(rows), 'match', 'matches')} in {matched} of "
        f"{_count(articles, 'article', 'articles')} ({_count(rules, 'rule', 'rules')})\n"
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def run_rules_test(
    *,
    rules_path: Path,
    articles_path: Path | None,
    fmt: str | None,
    out: TextIO,
    err: TextIO,
    text: str | None = None,
) -> int:
    """Match every article (or ``text`` as one article's body) against every rule; see the
    module docstring for the contract."""
    if fmt not in (None, "jsonl"):
        err.write(f"error: unknown format {fmt!r} (use jsonl, or none for a table)\n")
        return 2
    try:
        index, rule_count = _compile(rules_path)
    except _Failed as failed:
        for message in failed.messages:
            err.write(message + "\n")
        return 2
    return _match_source(index, rule_count, articles_path, text, fmt, out, err)


def _match_source(
    index: RuleIndex,
    rule_count: int,
    articles_path: Path | None,
    text: str | None,
    fmt: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Articles from a file (exit 0), or one text as a body (0 matched, 1 not)."""
    if articles_path is not None:
        return _match_articles(index, rule_count, read_articles(articles_path, err), fmt, out, err)
    one = ArticleLine("--text", Document(body=text or "", lang=detect_language(text or "")))
    code = _match_articles(index, rule_count, iter([one]), fmt, out, err)
    return code if code else (0 if index.match(one.doc) else 1)


def _collector_paused(articles: Iterator[ArticleLine]) -> Iterator[ArticleLine]:
    """The articles, with the garbage collector paused while they are matched.

    Matching makes no garbage cycles, and the collector's full passes scanned the rule index's
    million objects again and again: a fifth of the matching time at 100,000 rules (more with
    an index built for a second language meanwhile). Resumed when the articles are done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield from articles
    finally:
        if enabled:
            gc.enable()


_JSONL = json.JSONEncoder(ensure_ascii=False)


def _jsonl_lines(article_id: object, hits: list[Hit]) -> str:
    """An article's hits as JSON lines, ``{"article": ..., "rule": ..., "terms": [...]}``
    each, as ``json.dumps(record, ensure_ascii=False)`` writes them.

    One string per article, its id encoded once: at 100,000 rules an article has hundreds of
    hits, and a JSON encoder and a write per hit (a system call each when Python's output
    is unbuffered) were a quarter of a whole run's time.
    """
    head = f'{{"article": {_JSONL.encode(article_id)}, "rule": '
    string = _STRING
    return "".join(
        [
            f'{head}{string(hit.rule_id)}, "terms": [{", ".join(map(string, terms))}]}}\n'
            for hit in hits
            for terms in (hit.matched_terms,)
        ]
    )


def _match_articles(
    index: RuleIndex,
    rule_count: int,
    articles: Iterator[ArticleLine],
    fmt: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    results: list[tuple[ArticleLine, list[Hit]]] = []
    count = 0
    try:
        for article in _collector_paused(articles):
            count += 1
            hits = index.match(article.doc)
            if fmt == "jsonl":
                if hits:
                    out.write(_jsonl_lines(article.id, hits))
            else:
                for hit in hits:  # each is shown: explained now, so the article's view goes
                    _ = hit.terms
                results.append((article, hits))
    except Unreadable as exc:
        err.write(f"error: cannot read articles file {exc.path}: {_reason(exc.cause)}\n")
        return 2
    if fmt is None:
        _write_table(out, results, count, rule_count)
    return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- one query


def run_query_test(
    *,
    query: str,
    text: str,
    out: TextIO,
    err: TextIO,
    field: str = "body",
    lists: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Try ``query`` on ``text`` (put in ``field``): 0 matched, 1 not matched, 2 bad query."""
    if field not in TEXT_FIELDS:
        err.write(f"error: unknown field {field!r} (use one of {', '.join(TEXT_FIELDS)})\n")
        return 2
    try:
        node = parse(query, lists=lists or {})
    except QuerySyntaxError as exc:
        err.write(exc.render() + "\n")
        return 2
    try:
        index = compile_rules([RuleSpec("query", query)], lists)
    except RuleErrors as exc:
        for error in exc.errors:
            err.write(error.render() + "\n")
        return 2
    doc = replace(Document(**{field: text}), lang=detect_language(text))
    marks = _highlighter(out)
    hits = index.match(doc)
    if hits:
        (hit,) = hits
        out.write("matched\n")
        for term in hit.terms:
            positions = ", ".join(map(str, term.positions))
            word = "word" if len(term.positions) == 1 else "words"
            out.write(f"  {term.term}: {term.field} {word} {positions}\n")
        out.write(f"  {field}: {_snippet(text, _where(hit.terms).get(field, []), marks)}\n")
        return 0
    out.write("not matched\n")
    found: list[str] = []
    missing: list[str] = []
    for alone_query in _term_queries(node):
        alone = compile_rules([RuleSpec("term", alone_query)], lists)
        (found if alone.match(doc) else missing).append(alone_query)
    if found:
        out.write(f"  found: {', '.join(dict.fromkeys(found))}\n")
    if missing:
        out.write(f"  not found: {', '.join(dict.fromkeys(missing))}\n")
    if field == "body" and any(t.fields != DEFAULT_FIELDS for t in iter_terms(node)):
        out.write(
            "  (the text is tried as the body; title:, summary: and source: see none of it)\n"
        )
    return 1


def _term_queries(node: Node) -> list[str]:
    """Each term of a parsed query as a query of its own, its field kept, each once."""
    terms = []
    for leaf in iter_terms(node):
        scope = (
            ""
            if leaf.fields == DEFAULT_FIELDS or leaf.text.startswith(("site:", "lang:"))
            else f"{next(iter(leaf.fields))}:"
        )
        terms.append(scope + leaf.text)
    return list(dict.fromkeys(terms))


@dataclass(frozen=True)
class QueryTerms:
    """Each term of a query as a rule of its own (its id: the term), in the query's order."""

    order: list[str]
    index: RuleIndex


def term_index(
    query: str, lists: Mapping[str, Sequence[str]], *, default_language: str
) -> QueryTerms | None:
    """The terms of ``query`` apart, to tell which of them the articles hold when the query
    matched nothing; None when a term cannot stand alone."""
    try:
        terms = _term_queries(parse(query, lists=lists))
        specs = [RuleSpec(term, term) for term in terms]
        return QueryTerms(terms, compile_rules(specs, lists, default_language=default_language))
    except (QuerySyntaxError, RuleErrors):
        return None


# --------------------------------------------------------------------------- the config's rules


def run_config_test(
    *,
    config: Config,
    config_name: str,
    rule_id: str | None,
    articles_path: Path | None,
    text: str | None,
    fmt: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """The config's rules (or only ``rule_id``) with its lists, on articles or one text.

    One text is tried as an article's body: 0 when a rule matched, 1 when none did.
    """
    specs = [s for s in config.rule_specs() if rule_id is None or s.id == rule_id]
    if not specs:
        known = ", ".join(r.id for r in config.rules) or "none"
        what = f"no rule {rule_id!r}" if rule_id is not None else "no rules"
        err.write(f"error: {config_name}: {what} (rules: {known})\n")
        return 2
    index = compile_rules(  # load_config checked every query
        specs, config.lists, default_language=config.monitor.default_language
    )
    return _match_source(index, len(specs), articles_path, text, fmt, out, err)


# --------------------------------------------------------------------------- stored articles


def run_stored_test(
    *, engine: Engine, index: RuleIndex, label: str, out: TextIO, terms: QueryTerms | None = None
) -> int:
    """Backtest ``index`` (one rule, or one query) over every stored article: the hit count,
    then the newest hits with their terms highlighted. 0 when something matched, else 1,
    with the query's terms (``terms``, from term_index) the articles hold and those none does."""
    from newswatch import store
    from newswatch.matching import article_document

    marks = _highlighter(out)
    scanned = hits = 0
    newest: list[tuple[datetime, int, Article, Hit]] = []  # a heap, the oldest on top
    with store.session_scope(engine) as session:
        for article in store.articles_between(session, since=_EVER, until=_NEVER):
            scanned += 1
            doc = article_document(article)
            for hit in index.match(doc):
                hits += 1
                entry = (article.published_at, article.id or 0, article, hit)
                if len(newest) < NEWEST_HITS:
                    heapq.heappush(newest, entry)
                elif entry[:2] > newest[0][:2]:
                    heapq.heapreplace(newest, entry)
        shown = [(a, h) for _, _, a, h in sorted(newest, key=lambda e: e[:2], reverse=True)]
        out.write(
            f"{label}: {_count(hits, 'hit', 'hits')} in "
            f"{_count(scanned, 'stored article', 'stored articles')}\n"
        )
        if shown:
            out.write(f"newest {_count(len(shown), 'hit', 'hits')}:\n")
        for article, hit in shown:
            when = article.published_at.strftime("%Y-%m-%d %H:%M")
            out.write(f"  {when}  {article.source or '-'}  {article.url or ''}\n")
            doc = article_document(article)  # its language changes none of the text shown
            for name, spans in _where(hit.terms).items():
                text = getattr(doc, name)
                out.write(f"    {name + ':':<9}{_snippet(text, spans, marks)}\n")
    if hits:
        return 0
    if terms is not None:
        _write_term_counts(engine, terms, out)
    return 1


def _write_term_counts(engine: Engine, terms: QueryTerms, out: TextIO) -> None:
    """Which terms of a query that matched nothing the stored articles hold, and how often:
    the missing ones are what to change."""
    from newswatch import store
    from newswatch.matching import article_document

    counts = dict.fromkeys(terms.order, 0)
    with store.session_scope(engine) as session:
        for article in store.articles_between(session, since=_EVER, until=_NEVER):
            doc = article_document(article)
            for hit in terms.index.match(doc):
                counts[hit.rule_id] += 1
    found = [f"{t} ({_count(n, 'article', 'articles')})" for t, n in counts.items() if n]
    missing = [t for t, n in counts.items() if not n]
    if found:
        out.write(f"  found: {', '.join(found)}\n")
    if missing:
        out.write(f"  not found: {', '.join(missing)}\n")
