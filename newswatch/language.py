"""An article's language, detected offline when it is normalised.

py3langid (BSD-3-Clause, langid.py's naive Bayes model over byte n-grams, 97 languages) ships
its model inside the wheel, so detection needs no download and no network. The rules lemmatise
an article's words in the language found here (rules.analyze.language_of).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = ["detect_language"]

# Below this many letters a guess is mostly noise: the article keeps no language (and the
# rules read it as English, as they always did).
MIN_LETTERS: Final = 20
# Enough text to be sure (a news lead); more only costs time: the model reads every byte,
# and at 2,000 it cost an article more than parsing it.
MAX_CHARS: Final = 600
# A guess less likely than this (normalised probability) is no language.
MIN_CONFIDENCE: Final = 0.5

_LETTERS: Final = re.compile(r"[^\W\d_]")  # what str.isalpha() calls a letter, near enough
_lock = threading.Lock()
_identifier: list[LanguageIdentifier] = []


def _model() -> LanguageIdentifier:
    with _lock:  # loading the model takes about a second: once per process, when first used
        if not _identifier:
            # imported here: numpy and the model are not worth loading for commands that
            # normalise nothing (--help, rules check)
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _identifier[0]


def detect_language(*texts: str) -> str | None:
    """The ISO 639-1 code of the texts' language (``en``, ``fr``, ...), or None if unsure."""
    text = " ".join(t for t in texts if t)[:MAX_CHARS]
    if len(_LETTERS.findall(text, 0, MIN_LETTERS * 8)) < MIN_LETTERS and (
        sum(ch.isalpha() for ch in text) < MIN_LETTERS
    ):
        return None
    code, confidence = _model().classify(text)
    if confidence < MIN_CONFIDENCE or code == "und":
        return None
    return str(code)
