"""What the digest workers' forkserver loads once, before it forks any worker: the digest
step's imports, py3langid's model and the English dictionary, so that each worker (and
each replacement after a time-out) starts with them instead of loading its own."""

from __future__ import annotations

from newswatch.language import detect_language
from newswatch.steps import digest  # noqa: F401  (imported for the workers forked from here)
from rules.analyze import key_in

detect_language("The model is loaded here once, for every worker forked after it.")
key_in("visits", "en")
