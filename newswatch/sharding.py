"""Which shard polls which feed, so several machines can share a cycle without overlap.

A feed's shard comes from a hash of the URL the config names: the same on every machine and
every Python process (never the built-in `hash()`, which is salted per process), and it does
not change when the feed moves (301/308) to another URL. Every feed falls in exactly one
shard, so no feed is polled twice in a cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class ShardError(ValueError):
    """A shard number or count that cannot work (a user's mistake: one clear line)."""


def check_shard(shard: int, shards: int) -> None:
    """Refuse a count below 1 or a shard outside 0..shards-1, naming the bad value."""
    if shards < 1:
        raise ShardError(f"shards must be at least 1, got {shards}")
    if not 0 <= shard < shards:
        raise ShardError(f"shard must be between 0 and {shards - 1}, got {shard}")


def shard_of(url: str, shards: int) -> int:
    """The shard (0..shards-1) of a feed, from the SHA-256 of its configured URL."""
    check_shard(0, shards)
    digest = hashlib.sha256(url.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def in_shard(items: Iterable[T], *, shard: int, shards: int, url: Callable[[T], str]) -> list[T]:
    """The items (feeds, targets) whose configured URL, given by `url`, falls in `shard`."""
    check_shard(shard, shards)
    return [item for item in items if shard_of(url(item), shards) == shard]


def plan(urls: Iterable[str], shards: int) -> list[list[str]]:
    """The feed URLs of each shard, in order: every URL in exactly one list."""
    check_shard(0, shards)
    planned: list[list[str]] = [[] for _ in range(shards)]
    for url in urls:
        planned[shard_of(url, shards)].append(url)
    return planned


def shard_run_parameters(
    *,
    shards: int,
    config_path: str | None,
    dry_run: bool,
    feeds: Sequence[str] | None,
    due_only: bool,
) -> list[dict[str, Any]]:
    """The parameters of each shard's run of the `monitor-shard` deployment, one per shard.

    The config path is passed as given: each worker resolves it in its own checkout.
    """
    check_shard(0, shards)
    return [
        {
            "config_path": config_path,
            "shard": shard,
            "shards": shards,
            "dry_run": dry_run,
            "feeds": list(feeds) if feeds is not None else None,
            "due_only": due_only,
        }
        for shard in range(shards)
    ]
