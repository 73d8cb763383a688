"""What the digest workers' forkserver loads once, before it forks any worker: the digest
step's imports, py3langid's model, the English dictionary and the stories' accent-folding
table, so that each worker (and each replacement after a time-out) starts with them instead
of loading its own."""

from __future__ import annotations

from newswatch.language import detect_language
from newswatch.steps import digest  # noqa: F401  (imported for the workers forked from here)
from newswatch.stories import words
from rules.analyze import key_in

detect_language("The model is loaded here once, for every worker forked after it.")
key_in("visits", "en")
words("Québec")  # the accent-folding table, built once here rather than in every worker
