"""`bench/full_text.py` in a small run: the JSON contract on the last line, and what the
extractor does with the local article page (every story word kept, every boilerplate block
dropped). Speed is not asserted: the machine is shared and noisy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "full_text.py"


def test_the_extractor_keeps_the_story_and_drops_the_boilerplate() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--repeat", "1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    page = figures["article_page"]
    assert page["story_words_kept"] == page["story_words"] > 150
    assert page["boilerplate_blocks_dropped"] == page["boilerplate_blocks"]
    assert page["other_words_kept"] <= 12  # the headline, which trafilatura keeps on top
    assert 0 < figures["paywall_stub_words"] < 20
    assert figures["trafilatura_import_s"] > 0
    assert "story words kept" in done.stderr
