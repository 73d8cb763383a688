"""An article's language, detected offline when it is normalised.

py3langid (BSD-3-Clause, langid.py's naive Bayes model over byte n-grams, 97 languages) ships
its model inside the wheel, so detection needs no download and no network. The rules lemmatise
an article's words in the language found here (rules.analyze.language_of).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

__all__ = ["detect_language"]

# Below this many letters a guess is mostly noise: the article keeps no language (and the
# rules read it as English, as they always did).
MIN_LETTERS: Final = 20
# Enough text to be sure (a title and the start of its lead): on the labelled samples and
# long texts made of them, this prefix gives the whole text's answer. More only costs time:
# the model walks every byte in Python, and 600 cost about as much as parsing the entry.
MAX_CHARS: Final = 300
# A guess less likely than this (normalised probability) is no language.
MIN_CONFIDENCE: Final = 0.5

_LETTERS: Final = re.compile(r"[^\W\d_]")  # what str.isalpha() calls a letter, near enough
_lock = threading.Lock()
_identifier: list[LanguageIdentifier] = []


def _model() -> LanguageIdentifier:
    with _lock:  # once per process, when first used
        if not _identifier:
            _identifier.append(_load_model())
        return _identifier[0]


def _load_model() -> LanguageIdentifier:
    """py3langid's model, from an uncompressed copy in the cache folder when there is one.

    The wheel ships it LZMA-compressed (4.5 MB -> 68 MB): decompressing took a second in every
    process that detects a language (each `rules test`, each digest worker). The copy, keyed
    by the compressed file's digest, keeps the two large tables (the scores of each byte
    n-gram per language, and the automaton that finds the n-grams) as raw arrays the process
    maps into memory: an article reads only the pages of the n-grams it has, where reading
    the whole copy took a quarter of a second.
    """
    # imported here: numpy and the model are not worth loading for commands that normalise
    # nothing (--help, rules check)
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    from newswatch.cache_folder import cache_folder

    source = Path(MODEL_DIR) / MODEL_FILE
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:32]
    except OSError:
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    folder = cache_folder("language-model", digest)
    try:
        arrays = _read_copy(np, folder)
    except (OSError, ValueError, KeyError):
        with lzma.open(source) as packed, np.load(io.BytesIO(packed.read())) as data:
            arrays = {name: data[name] for name in _MODEL_ARRAYS}
        with contextlib.suppress(OSError):  # a read-only home: decompressed next time too
            _write_copy(np, folder, arrays)
    return LanguageIdentifier(
        arrays["ptc"],
        arrays["pc"],
        arrays["classes"].tolist(),
        _table(arrays["nextmove"]),
        arrays["out_feat"].tolist(),
        norm_probs=True,
        tk_row=_table(arrays["nextmove_row"]),
    )


_MODEL_ARRAYS: Final = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")
_MAPPED: Final = ("ptc", "nextmove")  # the large ones, mapped rather than read


def _read_copy(np: Any, folder: Path) -> dict[str, Any]:
    """The model's arrays from the cache folder, the large ones mapped (read-only)."""
    return {
        name: np.load(folder / f"{name}.npy", allow_pickle=False, mmap_mode="r")
        if name in _MAPPED
        else np.load(folder / f"{name}.npy", allow_pickle=False)
        for name in _MODEL_ARRAYS
    }


def _write_copy(np: Any, folder: Path, arrays: dict[str, Any]) -> None:
    """One .npy file per array, each written whole or not at all."""
    from newswatch.cache_folder import write_private

    for name in _MODEL_ARRAYS:
        saved = io.BytesIO()
        np.save(saved, arrays[name], allow_pickle=False)
        write_private(folder / f"{name}.npy", saved.getvalue())


_INT_FORMATS: Final[dict[int, Literal["H", "I", "L"]]] = {2: "H", 4: "I", 8: "L"}


def _table(values: Any) -> memoryview[int]:
    """A numpy array of unsigned integers as a flat sequence of ints, without a copy (a
    mapped array stays mapped): what py3langid's tokenizer indexes."""
    return memoryview(values).cast("B").cast(_INT_FORMATS[values.dtype.itemsize])


def detect_language(*texts: str) -> str | None:
    """The ISO 639-1 code of the texts' language (``en``, ``fr``, ...), or None if unsure."""
    text = " ".join(t[:MAX_CHARS] for t in texts if t)[:MAX_CHARS]
    if len(_LETTERS.findall(text, 0, MIN_LETTERS * 8)) < MIN_LETTERS and (
        sum(ch.isalpha() for ch in text) < MIN_LETTERS
    ):
        return None
    code, confidence = _model().classify(text)
    if confidence < MIN_CONFIDENCE or code == "und":
        return None
    return str(code)
