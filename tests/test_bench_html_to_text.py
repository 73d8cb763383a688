"""`bench/html_to_text.py` in a small run: its JSON contract, and that on the project's own
well-formed corpus the HTML5 parser gives exactly the regular expression's text (the
regular expression only lost text on broken markup). Speed is not asserted: the machine is
shared and noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "html_to_text.py"


def test_the_parser_gives_the_regexs_text_on_the_corpus() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--feeds", "2", "--entries", "5", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["fragments"] > 30
    assert figures["same_text"] == figures["fragments"]
    assert figures["parser_s"] > 0
    assert figures["regex_s"] > 0
