"""Feeds parsed in worker processes, off the event loop, each with a time limit.

feedparser is CPU-bound and synchronous: in the event loop it would stall every fetch, and
one pathological document could wedge the monitor.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from connectors.feed import FeedParseError, ParsedFeed, ParserCrashed, ParseTimeout, parse_feed
from connectors.parse_worker import parse_in_worker, start_worker

__all__ = ["ParserPool", "start_forkserver", "worker_context"]

MiB: Final = 1024 * 1024
R = TypeVar("R")


def _usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def worker_context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """Workers fork from a clean single-threaded server process, never from the caller.

    Forking the monitor itself (threads from httpx, Prefect, the event loop) can copy a lock
    in a held state and hang the child; spawning each worker re-imports feedparser every
    time. The forkserver imports connectors.parse_worker once (feedparser, nothing of the
    caller's) and forks cheap, clean workers from it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")  # Windows, some macOS set-ups
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["connectors.parse_worker", *preload])
    return context


def start_forkserver(preload: Sequence[str] = ()) -> None:
    """Start the forkserver now (it imports `preload` in the background), so the first
    worker a pool asks for later does not wait for those imports."""
    if worker_context(preload).get_start_method() == "forkserver":
        with _safe_path():
            multiprocessing.forkserver.ensure_running()


_ENVIRON_LOCK: Final = threading.Lock()


@contextmanager
def _safe_path() -> Iterator[None]:
    """PYTHONSAFEPATH=1 for the processes started meanwhile.

    The forkserver runs as `python -c ...` and Python 3.11 ignores the sys.path the parent
    hands it, so the working folder would come first on its sys.path: a folder holding
    another copy of rules/, connectors/ or newswatch/ (a second checkout, say) would give
    the workers other modules than the caller's, and pickled rules they cannot read.
    """
    with _ENVIRON_LOCK:
        before = os.environ.get("PYTHONSAFEPATH")
        os.environ["PYTHONSAFEPATH"] = "1"
        try:
            yield
        finally:
            if before is None:
                del os.environ["PYTHONSAFEPATH"]
            else:
                os.environ["PYTHONSAFEPATH"] = before


class ParserPool:
    """Runs parse_feed in a process pool sized to the cores, with a per-document time limit.

    Parsing is CPU-bound: in the event loop it would stall every fetch. At most `workers`
    documents are handed to the pool at once, so the limit times the parse, not the queue. A
    document that runs past its limit gets the workers killed and the pool replaced, so one
    pathological feed cannot wedge the monitor; documents that were parsing next to it are
    retried once in the new pool. Documents under `thread_below_bytes` are parsed in a thread
    instead (no process round trip); they cannot be interrupted, so keep that threshold small.

    `initializer(*initargs)` runs once in each worker as it starts (what every document
    needs, such as the cycle's compiled rules, reaches a worker once, not with each
    document); `preload` names modules the forkserver imports once for all its workers.
    `run` hands any module-level function a document; `parse` is `run` with feedparser.

    The limit grows with the document: `timeout_s`, plus `timeout_s_per_mib` for each MiB.
    A fixed limit either lets a small pathological document run long or rejects a large
    honest one: 14.7 MiB of RSS (80,000 entries) took 30 to 50 s on a loaded 2-core machine,
    so the default allows 30 s + 6 s/MiB (120 s at the 15 MiB body cap).
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        timeout_s: float = 30.0,
        timeout_s_per_mib: float = 6.0,
        thread_below_bytes: int = 0,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        preload: Sequence[str] = (),
    ) -> None:
        self.workers = workers or _usable_cores()
        self.timeout_s = timeout_s
        self.timeout_s_per_mib = timeout_s_per_mib
        self.thread_below_bytes = thread_below_bytes
        self._initializer = initializer
        self._initargs = initargs
        self._preload = tuple(preload)
        self._executor: ProcessPoolExecutor | None = None
        self._slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def time_limit(self, size_bytes: int) -> float:
        """Seconds a document of this size may take to parse before it is given up."""
        return round(self.timeout_s + self.timeout_s_per_mib * size_bytes / MiB, 1)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            start_forkserver(self._preload)  # its sys.path without the working folder
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=worker_context(self._preload),
                initializer=start_worker,
                initargs=(self._initializer, self._initargs),
            )
        return self._executor

    def start(self) -> None:
        """Start the workers now, from the calling thread: a worker's fork waits for the
        forkserver's imports, which must not stall an event loop's fetches meanwhile."""
        executor = self._pool()
        for started in [executor.submit(os.getpid) for _ in range(self.workers)]:
            started.result()

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            # One semaphore per event loop: asyncio primitives bind to the loop that uses them.
            self._slots = {lp: sem for lp, sem in self._slots.items() if not lp.is_closed()}
            slot = self._slots[loop] = asyncio.Semaphore(self.workers)
        return slot

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        """Kill the pool's workers: the only way to stop a parse that is running."""
        if self._executor is not executor:
            return  # someone already replaced it
        self._executor = None
        # _processes is private but stable since 3.2; there is no public way to kill a worker.
        processes = dict(getattr(executor, "_processes", None) or {})
        for process in processes.values():
            process.kill()
        for process in processes.values():
            process.join(timeout=1.0)  # SIGKILL is immediate: this only reaps the child
        # Futures still running fail with BrokenProcessPool (their callers retry).
        executor.shutdown(wait=False)

    async def _run_once(
        self, function: Callable[..., R], args: tuple[Any, ...], timeout_s: float
    ) -> R:
        executor = self._pool()
        try:
            future: Future[R] = executor.submit(function, *args)
        except RuntimeError:  # BrokenProcessPool included: the pool died between uses
            self._kill(executor)
            raise BrokenProcessPool("pool was broken") from None
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            self._kill(executor)
            raise ParseTimeout(timeout_s) from None
        except BrokenProcessPool:
            self._kill(executor)
            raise

    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> ParsedFeed:
        """Parse off the event loop; raises as parse_feed does, ParseTimeout or ParserCrashed.

        `timeout_s` replaces the pool's size-scaled limit for this document.
        """
        plain = dict(headers) if headers is not None else None
        if len(body) < self.thread_below_bytes:
            return await asyncio.to_thread(parse_feed, body, url=url, headers=plain)
        outcome = await self.run(parse_in_worker, body, url, plain, timeout_s=timeout_s)
        if isinstance(outcome, FeedParseError):
            raise outcome
        return outcome

    async def run(
        self, function: Callable[..., R], body: bytes, *args: Any, timeout_s: float | None = None
    ) -> R:
        """`function(body, *args)` in a worker, within the time limit for a body this size;
        raises ParseTimeout, or ParserCrashed when the worker died twice."""
        limit = self.time_limit(len(body)) if timeout_s is None else timeout_s
        async with self._slot():
            try:
                return await self._run_once(function, (body, *args), limit)
            except BrokenProcessPool:
                # Killed because another document overran, or a worker died: one more try.
                try:
                    return await self._run_once(function, (body, *args), limit)
                except BrokenProcessPool:
                    raise ParserCrashed() from None

    def close(self, *, grace_s: float = 2.0) -> None:
        """Stop the workers; one still busy after `grace_s` is killed. Idempotent."""
        executor = self._executor
        self._executor = None
        if executor is None:
            return
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_s
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():  # stuck in a parse nobody awaits any more
                process.kill()
                process.join(timeout=1.0)

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
