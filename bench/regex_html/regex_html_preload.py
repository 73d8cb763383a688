"""The regular expression that newswatch.html_text replaced, put in its place in
newswatch.normalize on import (bench/cycle.py's plain_regex_html run).

Imported by that run's main process and, named in the digest workers' forkserver preload,
by the forkserver, so every worker forked from it turns HTML into text the old way (the
workers never re-run the bench's __main__). Its folder is on that run's PYTHONPATH alone:
bench/ itself there would hide the rules package behind bench/rules.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

BENCH: Final = Path(__file__).resolve().parent.parent


def use_regex_html_to_text() -> None:
    """newswatch.normalize's html_to_text swapped for the regex in bench/html_to_text.py."""
    import newswatch.normalize

    path = list(sys.path)
    sys.path.insert(0, str(BENCH))
    try:
        from html_to_text import regex_html_to_text
    finally:
        sys.path[:] = path  # bench/html_to_text.py puts bench/ first: take it away again
    newswatch.normalize.html_to_text = regex_html_to_text


use_regex_html_to_text()
