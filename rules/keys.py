"""Keys: what a rule needs present in an article before it is worth evaluating.

A key is a word's lemma in the article's language (rules.analyze); a field-scoped term's keys
carry the field's mark, so ``title:visit`` needs ``"\\x02visit"``; a wildcard's key is a mark
and its first four letters (three if it has three). The compiler derives a rule's keys from
its terms (rules.compile), an article's view derives the keys it has from its words
(rules.evaluate), and the index files each rule under the rarest of its keys (rules.index):
all three agree on the spelling here.
"""

from __future__ import annotations

from rules import analyze
from rules.syntax import DEFAULT_FIELDS, FIELDS, FILTERS, PREFIX, STEM

__all__ = [
    "DEFAULT_ORDER",
    "FIELD_MARK",
    "MARKS",
    "PREFIX_KEY_SIZE",
    "PREFIX_MARK",
    "element_key",
    "has_three_letter_prefixes",
    "ordered",
]

PREFIX_MARK = "\x00"  # wildcard keys: "\x00" + the first four letters (three if it has three)
PREFIX_KEY_SIZE = 4
# Keys of a field-scoped term carry the field's mark; unmarked keys are the default fields'.
# ``site:`` and ``lang:`` keys are the value itself with its mark: "\x06example.org".
FIELD_MARK = {
    "source": "\x01",
    "title": "\x02",
    "summary": "\x03",
    "body": "\x04",
    "lead": "\x05",
    "site": "\x06",
    "lang": "\x07",
}
MARKS = "".join(FIELD_MARK.values())


def ordered(fields: frozenset[str]) -> tuple[str, ...]:
    """The fields in the order articles list them."""
    return tuple(f for f in (*FIELDS, *FILTERS) if f in fields)


DEFAULT_ORDER = ordered(DEFAULT_FIELDS)


def element_key(mode: str, value: str) -> str:
    """The key an element needs present: its lemma, or a wildcard's first (four) letters.

    A word compared by its form (phrase word, ``!Word``, name) needs the key its form has
    in the language the element was made for (rules.analyze.tag).
    """
    if mode == STEM:
        return value
    if mode == PREFIX:
        return PREFIX_MARK + value[:PREFIX_KEY_SIZE]
    lang, text = analyze.untag(value)
    return analyze.key_in(text, lang)


def has_three_letter_prefixes(prefix_keys: frozenset[str]) -> bool:
    """Does some wildcard key hold only three letters (a wildcard like ``bri*``)?"""
    return any(len(key.lstrip(MARKS)) == 1 + 3 for key in prefix_keys)
