"""What the article-page extractor keeps and drops on the test suite's local pages, and what
it costs: words of the story kept, boilerplate blocks dropped, other words let through,
extraction time per page, and trafilatura's import time and memory (paid only by a process
that reads pages). Prints a few human lines on stderr, then one JSON object on stdout.

    .venv/bin/python bench/full_text.py
    .venv/bin/python bench/full_text.py --repeat 50
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors import extract_main_text
from tests.support.article_pages import (
    BOILERPLATE,
    PAYWALL_STUB,
    STORY,
    article_page,
)

_WORD = re.compile(r"\w+")
_IMPORT_COST = """
import time


def rss_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


before = rss_mb()
started = time.perf_counter()
import trafilatura
print(time.perf_counter() - started, rss_mb() - before)
"""


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def page_figures(page: bytes, story: list[str], repeat: int) -> dict[str, object]:
    started = time.perf_counter()
    for _ in range(repeat):
        text = extract_main_text(page)
    extract_ms = (time.perf_counter() - started) / repeat * 1000
    kept = words(text)
    story_words = words(" ".join(story))
    remaining = list(kept)
    found = 0
    for word in story_words:
        if word in remaining:
            remaining.remove(word)
            found += 1
    dropped = [name for name, block in BOILERPLATE.items() if block[:25] not in text]
    return {
        "story_words": len(story_words),
        "story_words_kept": found,
        "other_words_kept": len(remaining),
        "boilerplate_blocks": len(BOILERPLATE),
        "boilerplate_blocks_dropped": len(dropped),
        "extract_ms": round(extract_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="extractions timed per page")
    args = parser.parse_args()
    cost = subprocess.run(
        [sys.executable, "-c", _IMPORT_COST], capture_output=True, text=True, check=True
    ).stdout.split()
    figures = {
        "article_page": page_figures(article_page(), STORY, args.repeat),
        "paywall_stub_words": len(words(extract_main_text(PAYWALL_STUB))),
        "trafilatura_import_s": round(float(cost[0]), 3),
        "trafilatura_import_rss_mb": round(float(cost[1]), 1),
    }
    page = figures["article_page"]
    assert isinstance(page, dict)
    print(
        f"article page: {page['story_words_kept']}/{page['story_words']} story words kept, "
        f"{page['boilerplate_blocks_dropped']}/{page['boilerplate_blocks']} boilerplate "
        f"blocks dropped, {page['other_words_kept']} other words kept",
        file=sys.stderr,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
