"""Many slow jobs at once, their results handed on in the order the jobs were listed.

The cycle fetches feeds concurrently but stores them in config order (the first feed
listed owns a story several outlets carry), and only a window of jobs runs ahead of the
one being handed on, so memory stays bounded however many feeds there are.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def in_order(
    items: Iterable[T], start: Callable[[T], Awaitable[R]], *, window: int
) -> AsyncIterator[list[tuple[T, R]]]:
    """Yield (item, result) pairs in the order of `items`, as soon as a prefix is done.

    At most `window` jobs run at once. Jobs still running when the caller stops are
    cancelled. A job's exception is raised here: `start` should turn failures into results.
    """
    upcoming = iter(items)
    pending: deque[tuple[T, asyncio.Task[R]]] = deque()

    def top_up() -> None:
        while len(pending) < max(window, 1) and (item := next(upcoming, None)) is not None:
            pending.append((item, asyncio.ensure_future(start(item))))

    try:
        top_up()
        while pending:
            await asyncio.wait([pending[0][1]])
            ready: list[tuple[T, R]] = []
            while pending and pending[0][1].done():
                item, task = pending.popleft()
                ready.append((item, task.result()))
            top_up()
            yield ready
    finally:
        for _, task in pending:
            task.cancel()
        await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
