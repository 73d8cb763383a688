"""Precision and recall of story grouping on the labelled set, at several thresholds.

The set (tests/data/stories/articles.jsonl) holds 20 stories in pairs on one topic (the
ECB's and the Fed's rate decisions, a quake in Japan and one in Chile, ...), each run four
ways: the original, a wire copy under another outlet's URL, a light rewrite, and the same
text under another headline. Pairs of one story are positives (120); pairs of the two
stories on one topic are the hard negatives (160). Each threshold groups the whole file
the way `newswatch stories test` does. Prints one JSON object:

    {"pairs": {"positive": 120, "hard_negative": 160, "other_negative": ...},
     "thresholds": {"0.2": {"precision": ..., "recall": ..., "f1": ...}, ...},
     "similarity": {"positive_min": ..., "positive_median": ..., "hard_negative_max": ...},
     "best_f1": 1.0, "best_thresholds": [...], "default_threshold": 0.2}

    .venv/bin/python bench/stories.py
"""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path
from typing import Any

from newswatch.stories import DEFAULT_THRESHOLD, group, opening_text, similarity, sketch
from newswatch.story_file import read_articles

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "stories" / "articles.jsonl"
THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def labels(path: Path) -> dict[str, tuple[str, str]]:
    """article id -> (story, topic), the labels the file carries next to the contract's fields."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        out[str(item["id"])] = (item["story"], item["topic"])
    return out


def score(path: Path, threshold: float) -> dict[str, Any]:
    truth = labels(path)
    keys = group(read_articles(path), threshold=threshold)
    tp = fp = fn = hard_fp = 0
    for a, b in combinations(sorted(truth), 2):
        same = truth[a][0] == truth[b][0]
        said = keys[a] == keys[b]
        tp += same and said
        fn += same and not said
        fp += said and not same
        hard_fp += said and not same and truth[a][1] == truth[b][1]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "false_merges_same_topic": hard_fp,
        "missed_pairs": fn,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=Path, default=DATA)
    args = parser.parse_args()
    truth = labels(args.articles)
    pairs = {"positive": 0, "hard_negative": 0, "other_negative": 0}
    for a, b in combinations(truth, 2):
        if truth[a][0] == truth[b][0]:
            pairs["positive"] += 1
        elif truth[a][1] == truth[b][1]:
            pairs["hard_negative"] += 1
        else:
            pairs["other_negative"] += 1
    results = {str(t): score(args.articles, t) for t in THRESHOLDS}
    sketches = {
        a.id: sketch(a.title, opening_text(a.summary, a.body)).signature
        for a in read_articles(args.articles)
    }
    alike: dict[str, list[float]] = {"positive": [], "hard_negative": []}
    for a, b in combinations(truth, 2):
        kind = "positive" if truth[a][0] == truth[b][0] else "hard_negative"
        if kind == "positive" or truth[a][1] == truth[b][1]:
            alike[kind].append(similarity(sketches[a], sketches[b]))
    top = max(r["f1"] for r in results.values())
    best = [t for t in THRESHOLDS if results[str(t)]["f1"] == top]
    print(
        json.dumps(
            {
                "pairs": pairs,
                "thresholds": results,
                # the margin the threshold sits in: estimated Jaccard of each pair kind
                "similarity": {
                    "positive_min": round(min(alike["positive"]), 3),
                    "positive_median": round(
                        sorted(alike["positive"])[len(alike["positive"]) // 2], 3
                    ),
                    "hard_negative_max": round(max(alike["hard_negative"]), 3),
                },
                "best_f1": top,
                "best_thresholds": best,
                "default_threshold": DEFAULT_THRESHOLD,
            }
        )
    )


if __name__ == "__main__":
    main()
