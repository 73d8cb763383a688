"""ParserPool: parsing happens in worker processes, with a time limit that kills and recovers.

One pool is shared by the module (starting workers is the slow part); each test leaves it
usable, which is itself part of what is tested. The workers are seen as what they are, child
processes of this one (multiprocessing.active_children), never through the pool's insides.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Iterator

import pytest

from connectors.feed import (
    FeedParseError,
    NotAFeed,
    ParsedFeed,
    ParserCrashed,
    ParseTimeout,
)
from connectors.parser_pool import ParserPool
from tests.support.hostile_server import rss_document

SMALL = rss_document(3, title="Small")
BIG = rss_document(10_000)  # several seconds of parsing: far past the tiny limits below


def children() -> set[int]:
    """Live child processes of this test process: a pool's workers, once it has started them."""
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


@pytest.fixture(scope="module")
def others() -> set[int]:
    """Child processes that are not the shared pool's workers (started before it)."""
    return children()


@pytest.fixture(scope="module")
def pool(others: set[int]) -> Iterator[ParserPool]:
    with ParserPool(workers=2, timeout_s=30.0) as shared:
        yield shared


def workers(others: set[int]) -> set[int]:
    return children() - others


def parse(pool: ParserPool, body: bytes, **kwargs: float) -> ParsedFeed:
    return asyncio.run(pool.parse(body, url="https://news.example/feed", **kwargs))


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_parses_in_another_process() -> None:
    before = children()
    with ParserPool(workers=1) as fresh:
        parsed = parse(fresh, SMALL)
        started = children() - before
    assert parsed.title == "Small"
    assert [e.guid for e in parsed.entries] == ["story-0", "story-1", "story-2"]
    assert len(started) == 1
    assert os.getpid() not in started
    assert not any(is_running(pid) for pid in started)  # closing the pool stopped it


def test_not_a_feed_is_reported_from_the_worker(pool: ParserPool) -> None:
    page = b'<!doctype html><html><head><link rel="alternate" type="application/rss+xml"'
    page += b' href="/rss"></head><body>hi</body></html>'
    with pytest.raises(NotAFeed) as caught:
        parse(pool, page)
    assert (caught.value.html, caught.value.links) == (True, ("https://news.example/rss",))
    assert str(caught.value) == (
        "not a feed (an HTML page); it links to a feed at https://news.example/rss"
    )
    with pytest.raises(NotAFeed, match=r"^empty document$"):
        parse(pool, b"")


def test_time_limit_kills_the_worker_and_the_pool_recovers(
    pool: ParserPool, others: set[int]
) -> None:
    parse(pool, SMALL)  # workers up, so the limit below times parsing and not start-up
    before = workers(others)
    assert before
    with pytest.raises(ParseTimeout, match=r"^parse took longer than 0\.2s$") as caught:
        parse(pool, BIG, timeout_s=0.2)
    assert caught.value.limit_s == 0.2
    assert not any(is_running(pid) for pid in before)  # killed, not left parsing
    after = parse(pool, SMALL)  # a fresh pool takes over
    assert len(after.entries) == 3
    assert workers(others)
    assert not workers(others) & before


def test_documents_next_to_a_slow_one_still_parse(pool: ParserPool) -> None:
    async def go() -> list[ParsedFeed | BaseException]:
        slow = pool.parse(BIG, url="https://slow.example/", timeout_s=0.5)
        others = [pool.parse(SMALL, url=f"https://ok.example/{i}") for i in range(6)]
        return await asyncio.gather(slow, *others, return_exceptions=True)

    slow, *others = asyncio.run(go())
    assert isinstance(slow, ParseTimeout)
    assert str(slow) == "parse took longer than 0.5s"
    assert [len(o.entries) for o in others if isinstance(o, ParsedFeed)] == [3] * 6


def test_a_worker_killed_from_outside_is_replaced(pool: ParserPool, others: set[int]) -> None:
    parse(pool, SMALL)
    for pid in workers(others):
        os.kill(pid, signal.SIGKILL)
    assert len(parse(pool, SMALL).entries) == 3  # retried once in a new pool


def test_a_document_whose_worker_keeps_dying_is_reported() -> None:
    """Killed again on the retry (as the OOM killer would): a ParserCrashed, then recovery."""

    async def go(pool: ParserPool, others: set[int]) -> FeedParseError:
        parsing = asyncio.ensure_future(pool.parse(BIG, url="https://big.example/"))
        while not parsing.done():
            for pid in children() - others:
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.02)
        failure = parsing.exception()
        assert isinstance(failure, FeedParseError)
        return failure

    with ParserPool(workers=1) as fresh:
        failure = asyncio.run(go(fresh, children()))
        assert isinstance(failure, ParserCrashed)
        assert str(failure) == "parser process died (killed or out of memory)"
        assert len(parse(fresh, SMALL).entries) == 3


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
    before = children()
    with ParserPool(workers=1, thread_below_bytes=64 * 1024) as threaded:
        assert len(parse(threaded, SMALL).entries) == 3
        assert children() == before  # no process was started for it


def test_close_is_idempotent() -> None:
    before = children()
    spare = ParserPool(workers=1)
    assert len(parse(spare, SMALL).entries) == 3
    started = children() - before
    spare.close()
    spare.close()
    assert started
    assert not any(is_running(pid) for pid in started)


ORPHAN = """
import asyncio, multiprocessing, os, signal
from connectors.parser_pool import ParserPool
from tests.support.hostile_server import rss_document

pool = ParserPool(workers=2)
asyncio.run(pool.parse(rss_document(3), url="https://news.example/feed"))
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
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


def test_the_limit_grows_with_the_document_so_a_big_honest_feed_is_not_rejected() -> None:
    """A fixed limit rejected big feeds the size cap admits; the limit now scales with size."""
    with (
        ParserPool(workers=1, timeout_s=0.2, timeout_s_per_mib=0.0) as fixed,
        pytest.raises(ParseTimeout),
    ):
        parse(fixed, BIG)
    with ParserPool(workers=1, timeout_s=0.2, timeout_s_per_mib=600.0) as scaled:
        assert scaled.time_limit(len(BIG)) > 60
        assert len(parse(scaled, BIG).entries) == 10_000
    default = ParserPool()
    assert default.time_limit(0) == 30.0
    assert default.time_limit(15 * 1024 * 1024) == 120.0  # the default body cap


# What a parser worker must never hold: the CLI and everything the monitor process loads.
NOT_FOR_PARSING = ("typer", "sqlmodel", "sqlalchemy", "apprise", "prefect", "pydantic", "httpx")
NOT_FOR_PARSING += ("flows", "newswatch", "pytest", "_pytest", "trafilatura", "lxml")

WORKER_MODULES = """
import json, runpy, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

if sys.argv[1] == "console-script":
    # The main module of `newswatch ...` is this script; its import line loads the whole CLI.
    script = str(Path(sys.executable).parent / "newswatch")
    runpy.run_path(script, run_name="console_script")
    sys.modules["__main__"].__file__ = script

from connectors.parser_pool import worker_context
from tests.support.worker_probe import loaded_modules

assert "typer" in sys.modules or sys.argv[1] != "console-script"
with ProcessPoolExecutor(max_workers=1, mp_context=worker_context()) as pool:
    print(json.dumps(pool.submit(loaded_modules).result()))
"""


def unwanted(modules: list[str]) -> list[str]:
    """The modules a worker should not hold; tests.support.worker_probe is what asks."""
    return [m for m in modules if m.split(".")[0] in NOT_FOR_PARSING or m == "tests.conftest"]


@pytest.mark.parametrize("parent", ["console-script", "python"])
def test_a_worker_holds_only_what_parsing_needs_whatever_started_the_parent(parent: str) -> None:
    """Under the console script every worker used to import the whole CLI (105 MB, seconds)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", WORKER_MODULES, parent],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "feedparser" in modules
    assert unwanted(modules) == []


def test_a_worker_of_this_pytest_run_holds_only_what_parsing_needs(pool: ParserPool) -> None:
    """pytest is this process's main script: its workers must not import pytest either."""
    from concurrent.futures import ProcessPoolExecutor

    from connectors.parser_pool import worker_context
    from tests.support.worker_probe import loaded_modules

    with ProcessPoolExecutor(max_workers=1, mp_context=worker_context()) as probe:
        modules = probe.submit(loaded_modules).result()
    assert "feedparser" in modules
    # The forkserver is one per process: when a cycle of this run started it first, it also
    # preloaded the digest step (newswatch, on purpose); pytest's own modules never.
    assert [m for m in unwanted(modules) if m.split(".")[0] in ("pytest", "_pytest", "tests")] == []
