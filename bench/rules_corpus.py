"""The workload bench/rules.py measures (and bench/rules_instructions.py counts), generated
from a fixed seed: a vocabulary with a Zipf-like spread, articles of news length about two
topics each, rules aimed at topics the way desks write watch lists, and dense rules over
everyday words (bench/rules.py's docstring says what each is for).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rules import Document, RuleSpec

SEED = 20241018
VOCABULARY = 30_000
TOPICS = 400
TOPIC_WORDS = 80
TOPIC_PHRASES = 6
TOPIC_SHARE = 0.12  # share of an article's words drawn from its topics
DENSE_RANKS = (60, 700)  # the dense rules' words: about 0.5% of rules match an article


@dataclass(frozen=True)
class Corpus:
    words: list[str]  # by rank, most frequent first
    cumulative: list[float]  # Zipf weights, cumulative, for random.choices
    topics: list[list[str]]
    phrases: list[list[tuple[str, str]]]


def _make_words(rng: random.Random, count: int) -> list[str]:
    onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
    codas = ["", "", "n", "r", "s", "l", "th", "nd"]
    seen: set[str] = set()
    result: list[str] = []
    while len(result) < count:
        syllables = rng.choice((1, 2, 2, 3, 3, 4))
        word = "".join(
            rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)
        )
        if word not in seen and len(word) >= 3:
            seen.add(word)
            result.append(word)
    return result


def make_corpus(rng: random.Random) -> Corpus:
    words = _make_words(rng, VOCABULARY)
    total = 0.0
    cumulative: list[float] = []
    for rank in range(1, len(words) + 1):
        total += 1.0 / rank**1.05
        cumulative.append(total)
    return Corpus(words, cumulative, *_make_topics(rng, words))


def _make_topics(
    rng: random.Random, words: list[str]
) -> tuple[list[list[str]], list[list[tuple[str, str]]]]:
    topics: list[list[str]] = []
    phrases: list[list[tuple[str, str]]] = []
    for _ in range(TOPICS):
        # topic words come from the middle and the tail of the vocabulary, like names and places
        topic = [words[int(rng.uniform(300, VOCABULARY - 1))] for _ in range(TOPIC_WORDS)]
        topics.append(topic)
        phrases.append([(rng.choice(topic), rng.choice(topic)) for _ in range(TOPIC_PHRASES)])
    return topics, phrases


def unrelated_corpus(corpus: Corpus, seed: int) -> Corpus:
    """Other topics over the same vocabulary: rules aimed at them seldom match the articles."""
    return Corpus(corpus.words, corpus.cumulative, *_make_topics(random.Random(seed), corpus.words))


def make_article(rng: random.Random, corpus: Corpus, n: int) -> Document:
    picked = rng.sample(range(TOPICS), 2)
    body_words = rng.choices(corpus.words, cum_weights=corpus.cumulative, k=300)
    for i in range(len(body_words)):
        if rng.random() < TOPIC_SHARE:
            topic = rng.choice(picked)
            if rng.random() < 0.25:
                first, second = rng.choice(corpus.phrases[topic])
                body_words[i] = f"{first} {second}"
            else:
                body_words[i] = rng.choice(corpus.topics[topic])
    sentences: list[str] = []
    i = 0
    while i < len(body_words):
        length = rng.randint(8, 22)
        chunk = body_words[i : i + length]
        chunk[0] = chunk[0].capitalize()
        sentences.append(" ".join(chunk) + rng.choice((".", ".", ".", "?", "!")))
        i += length
    body = " ".join(sentences)
    title_words = [rng.choice(corpus.topics[picked[0]]) for _ in range(3)]
    title_words += rng.choices(corpus.words, cum_weights=corpus.cumulative, k=5)
    rng.shuffle(title_words)
    return Document(
        title=" ".join(w.capitalize() for w in title_words),
        summary=" ".join(sentences[:2]),
        body=body,
        source=f"Outlet {n % 50} outlet{n % 50}.example",
    )


def make_rules(rng: random.Random, corpus: Corpus, count: int) -> list[RuleSpec]:
    specs: list[RuleSpec] = []
    for n in range(count):
        topic = rng.randrange(TOPICS)
        words = corpus.topics[topic]

        def word() -> str:
            return rng.choice(words)  # noqa: B023 - used within this iteration only

        def phrase() -> str:
            first, second = rng.choice(corpus.phrases[topic])  # noqa: B023
            return f'"{first} {second}"'

        def negative() -> str:
            return rng.choice(corpus.words[50:3000])

        def prefix() -> str:
            stem = word()[:6]
            return (stem[:-1] if len(stem) > 4 else stem) + "*"

        shape = rng.randrange(10)
        if shape == 0:
            query = f"{word()} AND {word()} AND {word()}"
        elif shape == 1:
            query = f"{word()} {word()} {word()} -{negative()}"
        elif shape == 2:
            query = f"{word()} AND ({word()} OR {word()}) AND {word()}"
        elif shape == 3:
            query = f"{phrase()} AND {word()} AND {word()}"
        elif shape == 4:
            query = f"{word()} {word()} ({word()} OR {phrase()}) -{negative()}"
        elif shape == 5:
            query = (
                f"({word()} OR {phrase()}) AND ({word()} OR {word()}) AND {word()} "
                f"AND NOT {negative()}"
            )
        elif shape == 6:
            query = f"{word()} {word()} {word()} {word()} -{negative()} NOT {negative()}"
        elif shape == 7:
            query = f"title:{word()} AND {word()} AND {word()}"
        elif shape == 8:
            query = f"{word()} NEAR/10 {word()} AND {word()}"
        else:
            query = f"{prefix()} AND {word()} AND {word()}"
        specs.append(RuleSpec(f"rule-{n:06d}", query))
    return specs


def make_dense_rules(rng: random.Random, corpus: Corpus, count: int) -> list[RuleSpec]:
    """Rules over everyday words: AND, NOT, OR, NEAR, title:, a wildcard, phrases."""
    specs: list[RuleSpec] = []
    low, high = DENSE_RANKS
    for n in range(count):

        def word() -> str:
            return corpus.words[int(rng.uniform(low, high))]

        shape = rng.randrange(6)
        if shape == 0:
            query = f"{word()} AND {word()}"
        elif shape == 1:
            query = f"{word()} {word()} -{word()}"
        elif shape == 2:
            query = f"({word()} OR {word()}) AND {word()}"
        elif shape == 3:
            query = f"{word()} NEAR/10 {word()}"
        elif shape == 4:
            query = f"title:{word()} AND {word()}"
        else:
            query = f"{word()} AND {word()} AND {word()[:5]}*"
        specs.append(RuleSpec(f"dense-{n:06d}", query))
    return specs
