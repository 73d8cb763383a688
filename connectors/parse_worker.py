"""What a parser worker process runs, and all it loads: feedparser and connectors.feed.

The forkserver of connectors.parser_pool preloads this module and forks every worker from
it. Left alone, multiprocessing would then make each worker run the parent's main script
before its first parse (forkserver and spawn re-create `__main__` in the child): under the
`newswatch` console script that is the whole CLI (typer, SQLModel, Apprise, the Prefect
layer), some 80 MB and seconds of imports per worker, again after every worker replacement.
A worker needs nothing from `__main__`: what it runs lives here, so it skips that step.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.spawn
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from connectors.feed import FeedParseError, ParsedFeed, parse_feed

__all__ = ["exit_with_parent", "parse_in_worker", "start_worker"]

# The entries of multiprocessing's preparation data that re-create the parent's __main__.
_MAIN_KEYS: Final = frozenset({"init_main_from_path", "init_main_from_name"})


def parse_in_worker(
    body: bytes, url: str, headers: dict[str, str] | None
) -> ParsedFeed | FeedParseError:
    """Runs in a worker; returns the error instead of raising to keep pickling simple."""
    try:
        return parse_feed(body, url=url, headers=headers)
    except FeedParseError as exc:
        return exc


def start_worker(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    """Worker initializer: exit with the parent, then the pool's own initializer (once per
    worker life: what every document needs, loaded before the first)."""
    exit_with_parent()
    if initializer is not None:
        initializer(*initargs)


def exit_with_parent() -> None:
    """Worker initializer: exit when the process that uses the pool is gone.

    A monitor killed with SIGKILL (the OOM killer, a supervisor) cannot stop its workers, and
    they would wait for work forever, keeping the forkserver (and any pipe they inherited,
    such as the monitor's stdout) alive with them. multiprocessing gives each worker a
    sentinel of the process that asked for it, which becomes ready when that process dies.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _without_main(prepare: Callable[[Mapping[str, Any]], None]) -> Callable[..., None]:
    def prepare_worker(data: Mapping[str, Any]) -> None:
        prepare({key: value for key, value in data.items() if key not in _MAIN_KEYS})

    return prepare_worker


# Only this forkserver (which imports this module) and the workers forked from it see the
# change: multiprocessing has no public switch for "do not re-run __main__" (Python 3.11),
# and `prepare` is the step in the child that reads the parent's preparation data.
multiprocessing.spawn.prepare = _without_main(multiprocessing.spawn.prepare)
