"""The lemma dictionaries the rules look words up in, loaded from a cache of their decoded form.

simplemma ships each language's dictionary compressed and front-coded; decoding English took
0.8 s in every process that matches (each ``rules test``, each digest worker), so the decoded
table is kept in the cache folder (newswatch.cache_folder) as a marshal file, keyed by the
shipped file's digest, and loads in a fifth of that. Still one language at a time, when the
rules first look up a word of it (rules.analyze.use_dictionaries).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
from collections.abc import Mapping
from functools import lru_cache

from simplemma.strategies.dictionaries import dictionary_factory

from newswatch.cache_folder import cache_folder, write_private
from rules import analyze

__all__ = ["CachedDictionaries", "install"]


class CachedDictionaries(dictionary_factory.DictionaryFactory):
    """simplemma's dictionaries, each decoded once per machine and loaded once per process."""

    __slots__ = ()

    @lru_cache(maxsize=len(analyze.LANGUAGES))  # noqa: B019 - one instance per process
    def get_dictionary(self, lang: str) -> Mapping[str, str]:
        return dictionary_factory.MappingStrToByteString(_decoded(lang))


def _decoded(lang: str) -> dict[bytes, bytes]:
    shipped = dictionary_factory.DATA_FOLDER / f"{lang}.plzma"
    try:
        digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:32]
    except OSError:
        return dictionary_factory._load_dictionary_from_disk(lang)  # it raises the reason
    copy = cache_folder("lemmas", f"{lang}-{digest}.marshal")
    try:
        # S302: written below, in the user's own folder, from simplemma's own file
        table = marshal.loads(copy.read_bytes())  # noqa: S302
        if isinstance(table, dict):
            return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    table = dictionary_factory._load_dictionary_from_disk(lang)  # simplemma has no public loader
    with contextlib.suppress(OSError):  # a read-only home: decoded again next time
        write_private(copy, marshal.dumps(table))
    return table


def install() -> None:
    """Have the rules look words up in the cached dictionaries (once per process)."""
    analyze.use_dictionaries(CachedDictionaries())
