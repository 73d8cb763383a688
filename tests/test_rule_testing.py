"""`newswatch rules test`: the JSON-lines contract, the table, exit codes and messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from newswatch.rule_testing import run_query_test, run_rules_test

RULES = """\
lists:
  uk: [UK, Britain, British, "United Kingdom"]
rules:
  - id: uk-china-visit
    name: UK–China visits
    query: '@uk AND (China OR Beijing) AND visit'
    channels: [desk-email]
  - id: gazette
    query: source:harbourgazette.example
"""

ARTICLES = [
    {
        "id": "a1",
        "title": "UK Foreign Secretary visits Beijing",
        "summary": "Talks with Wang Yi",
        "body": "The first visit to China by a British foreign secretary since 2018.",
        "source": "Harbour Gazette",
        "url": "https://www.harbourgazette.example/2024/10/18/lammy",
    },
    {"id": "a2", "title": "Ukulele festival opens in China", "body": "Visitors came."},
    {"id": "a3", "title": "Book review: a history of Indochina"},
    {"id": "a4", "title": "UK minister visits Japan", "source": "Northern Ledger"},
]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def write(tmp_path: Path, rules: str = RULES, lines: list[str] | None = None) -> tuple[Path, Path]:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(rules, encoding="utf-8")
    articles_path = tmp_path / "articles.jsonl"
    if lines is None:
        lines = [json.dumps(a) for a in ARTICLES]
    articles_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rules_path, articles_path


def run(
    rules_path: Path, articles_path: Path, fmt: str | None = "jsonl", out: io.StringIO | None = None
) -> tuple[int, str, str]:
    out = out if out is not None else io.StringIO()
    err = io.StringIO()
    code = run_rules_test(
        rules_path=rules_path, articles_path=articles_path, fmt=fmt, out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


def test_jsonl_prints_one_object_per_match(tmp_path: Path) -> None:
    code, out, err = run(*write(tmp_path))
    assert (code, err) == (0, "")
    records = [json.loads(line) for line in out.splitlines()]
    assert records == [
        # the URL's domain counts as part of the source
        {"article": "a1", "rule": "gazette", "terms": ["harbourgazette.example"]},
        {"article": "a1", "rule": "uk-china-visit", "terms": ["@uk", "China", "Beijing", "visit"]},
    ]


def test_missing_keys_are_empty_and_bad_lines_are_reported(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "only-title", "title": "UK visit to Beijing"}),
        "{not json",
        json.dumps(["a", "list"]),
        "",
        json.dumps({"title": "Britain: a visit to China", "body": None, "id": 7}),
        json.dumps({"body": "British visit to China"}),
    ]
    code, out, err = run(*write(tmp_path, lines=lines))
    assert code == 0
    assert [json.loads(line)["article"] for line in out.splitlines()] == ["only-title", 7, ""]
    articles = tmp_path / "articles.jsonl"
    assert err.splitlines() == [
        f"{articles}:2: not valid JSON: Expecting property name enclosed in double quotes"
        " (column 2)",
        f"{articles}:3: expected a JSON object with id, title, body…",
    ]


def test_bad_rules_exit_2_with_every_message_and_caret(tmp_path: Path) -> None:
    rules = """\
lists:
  uk: [UK, Britain]
rules:
  - id: ok
    query: UK
  - id: paren
    query: (UK AND China
  - id: list
    query: '@nope AND visit'
  - query: no id here
  - id: no-query
"""
    code, out, err = run(*write(tmp_path, rules=rules))
    assert (code, out) == (2, "")
    path = tmp_path / "rules.yaml"
    assert err.splitlines() == [
        f"{path}:10: rule #4 needs an 'id'",
        f"{path}:11: rule 'no-query' needs a 'query' (text)",
    ]
    # once the shape is right, every query error is reported at once, with its caret
    fixed = rules.replace("  - query: no id here\n  - id: no-query\n", "")
    code, out, err = run(*write(tmp_path, rules=fixed))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{path}:7: rule 'paren': unbalanced parenthesis: this '(' is never closed at column 1",
        "  (UK AND China",
        "  ^",
        f"{path}:9: rule 'list': unknown list '@nope' at column 1",
        "  @nope AND visit",
        "  ^",
    ]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("rules: [\n  - id: x\n    query: 'a\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping with 'lists' and 'rules'"),
        ("rules: {id: x}\n", "'rules' must be a list"),
        ("lists: [a]\nrules: []\n", "'lists' must map names to lists of words"),
        ("rules:\n  - id: a\n    query: x\n  - id: a\n    query: y\n", "duplicate rule id 'a'"),
    ],
)
def test_malformed_rules_files(tmp_path: Path, rules: str, message: str) -> None:
    code, out, err = run(*write(tmp_path, rules=rules))
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err


def test_missing_files_are_clear_errors(tmp_path: Path) -> None:
    rules_path, articles_path = write(tmp_path)
    code, out, err = run(tmp_path / "nope.yaml", articles_path)
    assert (code, out) == (2, "")
    assert (
        err
        == f"error: cannot read rules file {tmp_path / 'nope.yaml'}: No such file or directory\n"
    )
    code, out, err = run(rules_path, tmp_path / "nope.jsonl")
    assert (code, out) == (2, "")
    assert err == (
        f"error: cannot read articles file {tmp_path / 'nope.jsonl'}: No such file or directory\n"
    )
    code, _, err = run(rules_path, tmp_path)  # a directory
    assert code == 2
    assert err.startswith("error: cannot read articles file")


def test_table_highlights_the_matched_terms(tmp_path: Path) -> None:
    code, out, err = run(*write(tmp_path), fmt=None)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["ARTICLE", "RULE", "TERMS"]
    assert lines[-1] == "2 matches in 1 of 4 articles (2 rules)"
    text = "\n".join(lines)
    assert "uk-china-visit  @uk, China, Beijing, visit" in text
    assert "title:   «UK» Foreign Secretary «visits» «Beijing»" in text
    assert "«British»" in text
    assert "\x1b[" not in text


def test_table_uses_bold_on_a_terminal(tmp_path: Path) -> None:
    code, out, _ = run(*write(tmp_path), fmt=None, out=Tty())
    assert code == 0
    assert "\x1b[1mUK\x1b[0m Foreign Secretary" in out
    assert "«" not in out


def test_table_with_no_matches(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "x", "title": "Weather"})]
    code, out, _ = run(*write(tmp_path, lines=lines), fmt=None)
    assert code == 0
    assert out == "0 matches in 0 of 1 article (2 rules)\n"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    code, out, err = run(*write(tmp_path), fmt="csv")
    assert (code, out) == (2, "")
    assert "unknown format 'csv'" in err


# --------------------------------------------------------------------------- one query


def query_test(query: str, text: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_query_test(query=query, text=text, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_query_that_matches_shows_terms_and_where() -> None:
    code, out, err = query_test("UK AND visit", "UK minister visits Japan")
    assert (code, err) == (0, "")
    assert out == (
        "matched\n  UK: body word 0\n  visit: body word 2\n  body: «UK» minister «visits» Japan\n"
    )


def test_query_that_does_not_match_says_what_was_missing() -> None:
    code, out, _ = query_test("UK AND China AND visit", "UK minister visits Japan")
    assert code == 1
    assert out == "not matched\n  found: UK, visit\n  not found: China\n"
    code, out, _ = query_test("UK -Japan", "UK minister visits Japan")
    assert code == 1
    assert "found: UK, Japan" in out


def test_bad_query_exits_2_with_caret() -> None:
    code, out, err = query_test("UK AND", "UK")
    assert (code, out) == (2, "")
    assert err == (
        "dangling operator: AND needs a term after it, found the end of the query at column 4\n"
        "  UK AND\n"
        "     ^\n"
    )
