"""Instructions the rule engine executes to match an article, counted by valgrind.

This machine is shared: from one run of bench/rules.py to the next its timings swing by a
fifth, more than most single changes to the engine gain or lose. Instruction counts repeat
exactly, so this tells whether a change made matching cheaper. What they leave out is the
time the processor waits for memory (a cache miss costs the time of hundreds of
instructions, and a 100,000-rule index misses far more than a 10-rule one), so the ratio
here is an upper bound of the one bench/rules.py measures by the clock.

How: for each size the index is compiled and pickled here, on the same generated rules and
articles as bench/rules.py. Then cachegrind (instruction counts only) runs a child twice: once
loading the index and matching the articles to fill the analyzer's word caches, once doing
the same and then matching them again. The difference, per article, is what matching costs
with warm caches, explanations included. The children run with a fixed PYTHONHASHSEED.

Prints a few lines, then one JSON object on the last line of stdout:

    {"instructions_per_article": {"10": ..., "100000": ...},
     "instructions_100000_vs_10": ..., "articles": 200}

    .venv/bin/python bench/rules_instructions.py                  # 10 and 100,000: minutes
    .venv/bin/python bench/rules_instructions.py --sizes 10,1000 --articles 50
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rules_corpus import SEED, make_article, make_corpus, make_rules  # noqa: E402 - ROOT first
from rules import Document, RuleIndex, compile_rules  # noqa: E402 - needs ROOT on the path first

_I_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _articles(count: int) -> list[Document]:
    """The first ``count`` articles bench/rules.py generates."""
    rng = random.Random(SEED)
    corpus = make_corpus(rng)
    return [make_article(rng, corpus, n) for n in range(count)]


def child(index_path: Path, mode: str, count: int) -> None:
    """Load the index, match the articles once (warm-up); with mode "match", once more."""
    docs = _articles(count)
    index: RuleIndex = pickle.loads(index_path.read_bytes())  # noqa: S301 - our own file
    for doc in docs:
        index.match(doc)
    if mode == "match":
        for doc in docs:
            index.match_with_stats(doc)


def _count(valgrind: str, index_path: Path, mode: str, count: int) -> subprocess.Popen[str]:
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--child", str(index_path), mode, str(count)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _instructions(process: subprocess.Popen[str]) -> int:
    out, err = process.communicate()
    found = _I_REFS.search(err)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"error: the counted child failed:\n{err[-2000:]}{out[-500:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100000", help="rule counts")
    parser.add_argument("--articles", type=int, default=200, help="articles matched")
    parser.add_argument("--sample", type=int, default=300, help="as in bench/rules.py")
    parser.add_argument(
        "--child", nargs=3, metavar=("INDEX", "MODE", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child[0]), args.child[1], int(args.child[2]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print(
            "error: valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr
        )
        return 2
    sizes = [int(s) for s in args.sizes.split(",") if s]
    # the same stream of generated things as bench/rules.py: articles, sample, then rules
    rng = random.Random(SEED)
    corpus = make_corpus(rng)
    docs = [make_article(rng, corpus, n) for n in range(args.articles)]
    sample = [make_article(rng, corpus, n) for n in range(args.sample)]
    all_rules = make_rules(rng, corpus, max(sizes))
    per_article: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            index_path = Path(tmp) / f"index-{size}.pickle"
            index_path.write_bytes(pickle.dumps(compile_rules(all_rules[:size], sample=sample)))
            # both children at once: this machine has two cores
            load = _count(valgrind, index_path, "load", len(docs))
            match = _count(valgrind, index_path, "match", len(docs))
            cost = (_instructions(match) - _instructions(load)) // len(docs)
            per_article[str(size)] = cost
            print(f"{size:>7} rules: {cost:12,d} instructions per article")
    result: dict[str, object] = {"instructions_per_article": per_article}
    if "10" in per_article and "100000" in per_article:
        result["instructions_100000_vs_10"] = round(per_article["10"] / per_article["100000"], 3)
    result["articles"] = len(docs)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
