"""A run's progress, read from the database the run writes to.

The cycle may run in this process (a temporary Prefect server) or on `newswatch up`'s
worker; either way every polled feed, new article, match and sent alert lands in the
database, so reading it back every half second shows the same progress for both. On a
terminal it is a rich progress bar; piped, one plain line each time the counts change.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class Counts:
    feeds_done: int = 0
    new_articles: int = 0
    matches: int = 0
    alerts_sent: int = 0

    def line(self, total: int) -> str:
        return f"feeds {self.feeds_done}/{total} done, {self.found()}"

    def found(self) -> str:
        return ", ".join(
            [
                _count(self.new_articles, "new article"),
                _count(self.matches, "match", "matches"),
                _count(self.alerts_sent, "alert sent", "alerts sent"),
            ]
        )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def read_counts(engine: Engine, *, since: datetime, config_urls: Sequence[str]) -> Counts:
    """What the run stored since it started."""
    from sqlmodel import Session

    from newswatch import store

    with Session(engine) as session:
        feeds = store.cycle_feeds(session, since=since, config_urls=config_urls)
        sent = store.alerts_sent_since(session, since=since)
    return Counts(
        feeds_done=len(feeds),
        new_articles=sum(f.new_articles for f in feeds),
        matches=sum(f.matches for f in feeds),
        alerts_sent=sent,
    )


class RunProgress:
    """Shows a run's progress on `stream` while the `with` block runs."""

    def __init__(
        self,
        engine: Engine,
        *,
        since: datetime,
        config_urls: Sequence[str],
        stream: TextIO,
        interval_s: float = 0.5,
    ) -> None:
        self._engine = engine
        self._since = since
        self._urls = list(config_urls)
        self._total = len(self._urls)
        self._stream = stream
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-progress", daemon=True)
        self._shown = Counts()
        self._bar: tuple[Progress, TaskID] | None = None

    def __enter__(self) -> RunProgress:
        if _is_terminal(self._stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            bar = Progress(
                TextColumn("feeds"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                console=Console(file=self._stream),
                transient=False,
            )
            task = bar.add_task("run", total=self._total, counts="")
            bar.start()
            self._bar = (bar, task)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if exc_type is None:
            self._update()  # the final counts, whatever the last tick saw
        if self._bar is not None:
            self._bar[0].stop()

    def _watch(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._update()

    def _update(self) -> None:
        try:
            counts = read_counts(self._engine, since=self._since, config_urls=self._urls)
        except Exception:  # progress is a courtesy: a busy or locked database skips a tick
            return
        if counts == self._shown:
            return
        self._shown = counts
        if self._bar is not None:
            bar, task = self._bar
            bar.update(task, completed=counts.feeds_done, counts=counts.found())
        else:
            self._stream.write(f"progress: {counts.line(self._total)}\n")
            self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
