"""Shards split the feeds by a stable hash of their configured URL: each feed in one shard."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from newswatch.sharding import (
    ShardError,
    check_shard,
    in_shard,
    plan,
    shard_of,
    shard_run_parameters,
)

URLS = [f"https://outlet{i % 37}.example/{i}/feed.xml" for i in range(1000)]


def test_the_same_url_gets_the_same_shard_in_another_process() -> None:
    """Python's hash() is salted per process; a shard must not depend on it."""
    here = [shard_of(url, 7) for url in URLS[:50]]
    code = (
        f"from newswatch.sharding import shard_of\nprint([shard_of(u, 7) for u in {URLS[:50]!r}])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    ).stdout
    assert out.strip() == str(here)


def test_known_values_never_change() -> None:
    """Machines on different releases must agree: these values are pinned for good."""
    urls = ("https://a.example/feed", "https://b.example/rss", "https://c.example/atom.xml")
    assert [shard_of(u, 4) for u in urls] == [3, 2, 3]
    assert shard_of("https://a.example/feed", 1000) == 747


@pytest.mark.parametrize("shards", [1, 2, 3, 8])
def test_every_feed_is_in_exactly_one_shard(shards: int) -> None:
    planned = plan(URLS, shards)
    assert len(planned) == shards
    flat = [url for part in planned for url in part]
    assert sorted(flat) == sorted(URLS)
    assert Counter(flat).most_common(1)[0][1] == 1
    picked = [in_shard(URLS, shard=i, shards=shards, url=str) for i in range(shards)]
    assert picked == planned


def test_the_spread_is_roughly_even() -> None:
    sizes = [len(part) for part in plan(URLS, 4)]
    assert min(sizes) >= 200, sizes  # 250 each on average
    assert max(sizes) <= 300, sizes


def test_one_shard_holds_everything() -> None:
    assert plan(URLS, 1) == [URLS]


@pytest.mark.parametrize(("shard", "shards"), [(0, 0), (-1, 2), (2, 2), (0, -3)])
def test_impossible_shards_are_refused_with_one_line(shard: int, shards: int) -> None:
    with pytest.raises(ShardError) as caught:
        check_shard(shard, shards)
    assert "\n" not in str(caught.value)
    assert str(shards if shards < 1 else shard) in str(caught.value)


def test_fan_out_parameters_cover_each_shard_once() -> None:
    runs = shard_run_parameters(
        shards=3, config_path="newswatch.yaml", dry_run=False, feeds=["BBC"], due_only=True
    )
    assert [r["shard"] for r in runs] == [0, 1, 2]
    assert {r["shards"] for r in runs} == {3}
    assert runs[0] == {
        "config_path": "newswatch.yaml",
        "shard": 0,
        "shards": 3,
        "dry_run": False,
        "feeds": ["BBC"],
        "due_only": True,
    }
    # Together the shard runs poll every feed once: each keeps only its own part.
    covered = [u for r in runs for u in in_shard(URLS, shard=r["shard"], shards=3, url=str)]
    assert sorted(covered) == sorted(URLS)
