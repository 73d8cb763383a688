"""ParserPool: parsing happens in worker processes, with a time limit that kills and recovers.

One pool is shared by the module (starting workers is the slow part); each test leaves it
usable, which is itself part of what is tested.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from connectors.feed import FeedParseError, ParsedFeed, ParserPool
from tests.support.hostile_server import rss_document

SMALL = rss_document(3, title="Small")
BIG = rss_document(10_000)  # several seconds of parsing: far past the tiny limits below


@pytest.fixture(scope="module")
def pool() -> Iterator[ParserPool]:
    with ParserPool(workers=2, timeout_s=30.0) as shared:
        yield shared


def parse(pool: ParserPool, body: bytes, **kwargs: float) -> ParsedFeed:
    return asyncio.run(pool.parse(body, url="https://news.example/feed", **kwargs))


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_parses_in_another_process(pool: ParserPool) -> None:
    parsed = parse(pool, SMALL)
    assert parsed.title == "Small"
    assert [e.guid for e in parsed.entries] == ["story-0", "story-1", "story-2"]
    pids = pool.worker_pids()
    assert pids
    assert os.getpid() not in pids


def test_not_a_feed_is_reported_from_the_worker(pool: ParserPool) -> None:
    with pytest.raises(FeedParseError, match=r"^not a feed \(an HTML page\)$"):
        parse(pool, b"<!doctype html><html><body>hi</body></html>")
    with pytest.raises(FeedParseError, match=r"^empty document$"):
        parse(pool, b"")


def test_time_limit_kills_the_worker_and_the_pool_recovers(pool: ParserPool) -> None:
    parse(pool, SMALL)  # workers up, so the limit below times parsing and not start-up
    before, restarts = pool.worker_pids(), pool.restarts
    with pytest.raises(FeedParseError, match=r"^parse took longer than 0\.2s$"):
        parse(pool, BIG, timeout_s=0.2)
    assert pool.restarts == restarts + 1
    assert not any(is_running(pid) for pid in before)  # killed, not left parsing
    after = parse(pool, SMALL)  # a fresh pool takes over
    assert len(after.entries) == 3
    assert not set(pool.worker_pids()) & set(before)


def test_documents_next_to_a_slow_one_still_parse(pool: ParserPool) -> None:
    async def go() -> list[ParsedFeed | BaseException]:
        slow = pool.parse(BIG, url="https://slow.example/", timeout_s=0.5)
        others = [pool.parse(SMALL, url=f"https://ok.example/{i}") for i in range(6)]
        return await asyncio.gather(slow, *others, return_exceptions=True)

    slow, *others = asyncio.run(go())
    assert isinstance(slow, FeedParseError)
    assert str(slow) == "parse took longer than 0.5s"
    assert [len(o.entries) for o in others if isinstance(o, ParsedFeed)] == [3] * 6


def test_a_worker_killed_from_outside_is_replaced(pool: ParserPool) -> None:
    parse(pool, SMALL)
    for pid in pool.worker_pids():
        os.kill(pid, 9)
    assert len(parse(pool, SMALL).entries) == 3  # retried once in a new pool


def test_the_event_loop_keeps_running_while_parsing(pool: ParserPool) -> None:
    parse(pool, SMALL)

    async def go() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        with pytest.raises(FeedParseError):
            await pool.parse(BIG, url="https://slow.example/", timeout_s=0.5)
        task.cancel()
        return ticks

    assert asyncio.run(go()) >= 5  # parsing in the loop's thread would allow none


def test_small_documents_may_go_to_a_thread() -> None:
    with ParserPool(workers=1, thread_below_bytes=64 * 1024) as threaded:
        assert len(parse(threaded, SMALL).entries) == 3
        assert threaded.worker_pids() == []  # no process was started for it


def test_close_is_idempotent() -> None:
    spare = ParserPool(workers=1)
    assert len(parse(spare, SMALL).entries) == 3
    spare.close()
    spare.close()
    assert spare.worker_pids() == []


ORPHAN = """
import asyncio, os, signal
from connectors.feed import ParserPool
from tests.support.hostile_server import rss_document

pool = ParserPool(workers=2)
asyncio.run(pool.parse(rss_document(3), url="https://news.example/feed"))
print(" ".join(str(p) for p in pool.worker_pids()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_exit_when_the_monitor_is_killed() -> None:
    """A SIGKILLed monitor cannot close its pool: the workers must notice on their own."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    # communicate() returns once every holder of the child's stdout is gone: the child, the
    # forkserver and the workers. Orphaned workers would hold it (and the test) forever.
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9
    pids = [int(p) for p in done.stdout.split()]
    assert pids  # workers start on demand: at least the one that parsed
    assert not any(is_running(pid) for pid in pids)
