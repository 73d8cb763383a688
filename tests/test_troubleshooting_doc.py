"""docs/troubleshooting.md says what the code does where a rule sees an article's text: a
short entry's page is read (issue 25 item 12: the page said a rule saw only the feed's)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from newswatch.config import FeedConfig
from newswatch.fulltext import AUTO_MIN_WORDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"


def only_the_summary() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"- \*\*Only the summary\.\*\*(.*?)(?=\n- \*\*|\n\n)", text, re.DOTALL)
    assert found is not None
    return " ".join(found.group(1).split())


def test_the_page_names_the_threshold_and_the_settings_the_config_takes() -> None:
    advice = only_the_summary()
    words = re.search(r"fewer than (\d+) words", advice)
    assert words is not None
    assert int(words.group(1)) == AUTO_MIN_WORDS
    field = FeedConfig.model_fields["full_text"]
    assert f"`full_text: {field.default}`, the default" in advice
    named = set(re.findall(r"`full_text: (\w+)`|`(\w+)` reads", advice))
    values = {a or b for a, b in named}
    assert values == set(typing.get_args(field.annotation))
