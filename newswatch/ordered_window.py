"""Many slow jobs at once, their results handed on in the order the jobs were listed, but
never held back for long by one that is slow.

The cycle fetches feeds concurrently and stores them in config order when it can: the
first feed listed then owns a story several outlets carry (its outlet, link and headline
are the ones alerted). A feed that does not answer would hold back every feed after it
for its whole timeout; so results that are done wait at most `patience_s` for a slower
one listed before them, then go on without it (a story they share is then owned by
whichever stored it first). Only a window of jobs runs at once, so memory stays bounded
however many feeds there are.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def in_order(
    items: Iterable[T],
    start: Callable[[T], Awaitable[R]],
    *,
    window: int,
    patience_s: float = math.inf,
) -> AsyncIterator[list[tuple[T, R]]]:
    """Yield (item, result) pairs in the order of `items`, as soon as a prefix is done;
    results kept waiting `patience_s` by an unfinished job before them are yielded
    without it (in their listed order), and it follows when it is done.

    At most `window` jobs run at once. Jobs still running when the caller stops are
    cancelled. A job's exception is raised here: `start` should turn failures into results.
    """
    loop = asyncio.get_running_loop()
    upcoming = iter(items)
    pending: list[tuple[T, asyncio.Task[R]]] = []  # in the listed order
    waiting_since: float | None = None  # when a done job first waited behind a running one

    def top_up() -> None:
        while len(pending) < max(window, 1) and (item := next(upcoming, None)) is not None:
            pending.append((item, asyncio.ensure_future(start(item))))

    def take(done: list[tuple[T, asyncio.Task[R]]]) -> list[tuple[T, R]]:
        taken = {id(task) for _, task in done}
        pending[:] = [(item, task) for item, task in pending if id(task) not in taken]
        return [(item, task.result()) for item, task in done]

    try:
        top_up()
        while pending:
            if waiting_since is None:
                tasks = [task for _, task in pending]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            else:
                left = waiting_since + patience_s - loop.time()
                timeout = None if math.isinf(left) else max(left, 0.0)
                await asyncio.wait([pending[0][1]], timeout=timeout)
            prefix: list[tuple[T, asyncio.Task[R]]] = []
            for item, task in pending:
                if not task.done():
                    break
                prefix.append((item, task))
            ready = take(prefix)
            behind = [(item, task) for item, task in pending if task.done()]
            if behind and waiting_since is not None and loop.time() >= waiting_since + patience_s:
                ready += take(behind)  # passed the slow one: it follows when done
                behind = []
            if not behind:
                waiting_since = None
            elif waiting_since is None:
                waiting_since = loop.time()
            top_up()
            if ready:
                yield ready
    finally:
        for _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
