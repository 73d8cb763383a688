"""Child processes we must not leave behind: own process groups, every descendant remembered.

Each long-running child gets its own process group, so a terminal's Ctrl-C reaches only us
and we stop the children in order, and a group-wide signal also reaches what they started.
Flow runs a worker starts may live in their own sessions: we remember every descendant we
have seen (Linux /proc) and make sure none outlives the stop.

A supervisor killed outright (SIGKILL, the OOM killer) stops nothing itself: its children
get SIGTERM from the kernel when it dies (PR_SET_PDEATHSIG), and a ledger file names every
process it had, so the next supervisor stops what is left (a worker's flow-run processes).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ProcId = tuple[int, int]  # (pid, start time in clock ticks): a pid alone can be reused
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time) for every process we can see; empty without /proc."""
    table: dict[int, tuple[int, int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = _read_stat(int(entry))
        if stat is not None:
            table[int(entry)] = (stat[1], stat[2])
    return table


def _read_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> set[ProcId]:
    """Every process below root (children, grandchildren, ...), as of now."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[ProcId] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add((child, table[child][1]))
            stack.append(child)
    return found


def is_alive(proc: ProcId) -> bool:
    """Whether that very process (same pid and start time) still runs (zombies do not)."""
    stat = _read_stat(proc[0])
    return stat is not None and stat[2] == proc[1] and stat[0] not in {"Z", "X"}


def _signal_each(procs: set[ProcId], signum: int) -> None:
    for proc in procs:
        if is_alive(proc):
            with suppress(ProcessLookupError):
                os.kill(proc[0], signum)


def own_id() -> ProcId:
    """This process, as the other functions here name processes."""
    stat = _read_stat(os.getpid())
    return (os.getpid(), stat[2] if stat else 0)


def stop_procs(procs: set[ProcId], timeout: float) -> None:
    """SIGTERM to each, SIGKILL to those still there after timeout."""
    _signal_each(procs, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(is_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_each(procs, signal.SIGKILL)


def _terminate_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child gets SIGTERM when its parent dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def arrange() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


@dataclass(frozen=True)
class Ledger:
    """A file naming a supervisor and every process it started (pid and start time).

    Rewritten as processes appear, removed on a clean stop: a file whose owner is gone
    means the owner was killed, and the processes it names that still run are left over.
    """

    path: Path

    def record(self, procs: set[ProcId]) -> None:
        data = {"owner": list(own_id()), "procs": sorted(list(p) for p in procs)}
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(self.path)

    def leftovers(self) -> set[ProcId]:
        """The processes still running of a supervisor that is gone (none while it runs)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            owner = (int(data["owner"][0]), int(data["owner"][1]))
            procs = {(int(pid), int(start)) for pid, start in data["procs"]}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return set()
        if owner != own_id() and is_alive(owner):
            return set()
        return {p for p in procs if is_alive(p)}

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Child:
    """One child process in its own process group; remembers every descendant it had."""

    name: str
    process: subprocess.Popen[bytes]
    seen: set[ProcId] = field(default_factory=set)

    @classmethod
    def start(
        cls,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        output: IO[bytes] | None = None,
    ) -> Child:
        """Start argv in a new process group; its output goes to ours unless output is given."""
        process = subprocess.Popen(  # noqa: S603 - the prefect CLI of this environment
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            process_group=0,
            preexec_fn=_terminate_with_parent(),  # one prctl call: takes no lock after fork
        )
        return cls(name, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()

    def remember_descendants(self) -> None:
        self.seen |= descendants(self.pid)

    def known(self) -> set[ProcId]:
        """The child itself and every descendant seen so far."""
        stat = _read_stat(self.pid)
        return self.seen | ({(self.pid, stat[2])} if stat else set())

    def stop(self, timeout: float) -> str:
        """SIGTERM to the group and to every descendant seen, SIGKILL after timeout."""
        how = "stopped"
        if self.exit_code() is None:
            self.remember_descendants()
        else:
            how = "cleaned up after"
        self._signal_group(signal.SIGTERM)
        _signal_each(self.seen, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            how = f"killed after {timeout:g} s"
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        while any(is_alive(p) for p in self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        if any(is_alive(p) for p in self.seen):
            how = f"killed after {timeout:g} s"
            self._signal_group(signal.SIGKILL)
            _signal_each(self.seen, signal.SIGKILL)
        return how

    def _signal_group(self, signum: int) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


@contextmanager
def stop_on_signals(event: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set event (the caller stops in order) instead of raising."""

    def handler(signum: int, frame: object) -> None:
        event.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
