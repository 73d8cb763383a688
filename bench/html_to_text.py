"""HTML to text through the HTML5 parser (newswatch.html_text) beside the regular expression
it replaced, on the fragments the project already uses, side by side in one run.

The corpus: every title, summary and content of bench/cycle.py's generated feed (news-sized
entries of three paragraphs, parsed by connectors.feed as a cycle does) and of the sample
feeds in examples/feeds. Each implementation converts the whole corpus `--repeat` times,
interleaved, and the best round counts. Prints one JSON object on the last line of stdout:

    {"fragments": ..., "chars": ..., "parser_s": ..., "regex_s": ..., "ratio": ...,
     "parser_us_per_fragment": ..., "regex_us_per_fragment": ..., "same_text": ...}

    .venv/bin/python bench/html_to_text.py                # 20 feeds x 20 entries
    .venv/bin/python bench/html_to_text.py --feeds 2 --repeat 1
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cycle_farm import feed_document  # noqa: E402  (bench/ is no package: its path is added above)

from connectors.feed import parse_feed  # noqa: E402 - needs ROOT on the path first
from newswatch.html_text import html_to_text  # noqa: E402 - needs ROOT on the path first

# The regular expression newswatch.normalize used before the HTML5 parser, kept as the baseline.
_ATTRS: Final = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_SHARE_ATTR: Final = (
    r"""(?=[^>]*?\b(?:(?:class|id)\s*=\s*["']?[^"'>]*?(?:share|sharing|social|feedflare)"""
    r"""|href\s*=\s*["']?[^"'>]*?(?:sharer|/share[?/]|intent/tweet|shareArticle|addtoany)))"""
)
_DROP: Final = (
    r"!--.*?(?:-->|\Z)"
    r"|(?P<drop>script|style|noscript|template|nav|aside|form|button|select|textarea|iframe"
    r"|svg|object)\b" + _ATTRS + r">.*?(?:</(?P=drop)\s*>|\Z)"
)
_TAGS: Final = (
    r"|(?P<block>/?(?:p|div|br|li|ul|ol|h[1-6]|tr|blockquote|section|article|header|footer"
    r"|figure|figcaption|table|pre|hr|dl|dt|dd))\b" + _ATTRS + r">"
    r"|/?[A-Za-z][^\s/>]*" + _ATTRS + r">"
    r"|![^>]*>|\?[^>]*>"
)
_MARKUP: Final = re.compile(f"<(?:{_DROP}{_TAGS})", re.IGNORECASE | re.DOTALL)
_SHARE_HINTS: Final = ("share", "social", "feedflare", "intent/tweet", "addtoany")
_SHARE: Final = (
    r"|(?P<share>[A-Za-z][A-Za-z0-9]*)\b" + _SHARE_ATTR + _ATTRS + r">.*?(?:</(?P=share)\s*>|\Z)"
)
_MARKUP_WITH_SHARE: Final = re.compile(f"<(?:{_DROP}{_SHARE}{_TAGS})", re.IGNORECASE | re.DOTALL)
_TO_SPACE: Final = str.maketrans(
    {"\t": " ", "\f": " ", "\v": " ", "\r": " ", "\u00a0": " ", "\u2007": " ", "\u202f": " "}
)


def regex_html_to_text(fragment: str) -> str:
    if not fragment:
        return ""
    if "<" in fragment:
        lowered = fragment.lower()
        share = any(hint in lowered for hint in _SHARE_HINTS)
        pattern = _MARKUP_WITH_SHARE if share else _MARKUP
        fragment = pattern.sub(lambda m: "\n" if m.lastgroup == "block" else "", fragment)
    text = html.unescape(fragment).translate(_TO_SPACE)
    while "  " in text:
        text = text.replace("  ", " ")
    if "\n" not in text:
        return text.strip()
    return "\n".join(line for line in map(str.strip, text.split("\n")) if line)


def corpus(feeds: int, entries: int) -> list[str]:
    documents = [
        (f"https://outlet{f}.example/feed", feed_document(f, entries, 100)) for f in range(feeds)
    ]
    documents += [
        (p.as_uri(), p.read_bytes()) for p in sorted((ROOT / "examples" / "feeds").iterdir())
    ]
    fragments: list[str] = []
    for url, body in documents:
        for entry in parse_feed(body, url=url).entries:
            fragments += [entry.title, entry.summary_html, entry.content_html]
    return [f for f in fragments if f]


def best_of(convert: Callable[[str], str], fragments: list[str]) -> float:
    started = time.perf_counter()
    for fragment in fragments:
        convert(fragment)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    fragments = corpus(args.feeds, args.entries)
    parser_s, regex_s = float("inf"), float("inf")
    for _ in range(args.repeat):
        parser_s = min(parser_s, best_of(html_to_text, fragments))
        regex_s = min(regex_s, best_of(regex_html_to_text, fragments))
    same = sum(html_to_text(f) == regex_html_to_text(f) for f in fragments)
    figures = {
        "fragments": len(fragments),
        "chars": sum(map(len, fragments)),
        "parser_s": round(parser_s, 4),
        "regex_s": round(regex_s, 4),
        "ratio": round(parser_s / regex_s, 2),
        "parser_us_per_fragment": round(parser_s / len(fragments) * 1e6, 1),
        "regex_us_per_fragment": round(regex_s / len(fragments) * 1e6, 1),
        "same_text": same,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
