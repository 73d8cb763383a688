"""A Prefect home whose server has started once, made once per test session and copied into
the new Prefect homes of the tests that start a server.

A new PREFECT_HOME's first server start migrates its SQLite database (many small commits,
each waiting on the disk) and registers Prefect's block types, which its memo_store.toml
then records: on this machine that first start takes two to three times as long as later
ones. Tests about `up`'s or a flow's behaviour start from the copy; tests/test_up.py keeps a
home that starts empty, so the first start a user meets is still tested.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from flows.prefect_defaults import QUIET_PREFECT_DEFAULTS
from tests.support.smtp import free_port
from tests.support.up_stack import answers

# what a server start leaves in its home that a later start reads: the database, and the
# record that block types are registered
FILES: Final = ("prefect.db", "memo_store.toml")
START_TIMEOUT_S: Final = 240.0
PREFECT: Final = Path(sys.executable).with_name("prefect")


def shared_template(folder: Path) -> Path:
    """The template in folder, made by whichever xdist worker asks first; the others wait."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "ready").exists():
            _make(folder / "home")
            (folder / "ready").touch()
    return folder / "home"


def seed(home: Path, template: Path) -> Path:
    """home (made if missing) as the template left it; the new home to hand to Prefect."""
    home.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(template / name, home / name)
    return home


def seed_database(database: Path, home: Path, template: Path) -> None:
    """The same, for a server whose database lies outside its home."""
    seed(home, template)
    (home / FILES[0]).replace(database)


def _make(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(QUIET_PREFECT_DEFAULTS, PREFECT_HOME=str(home))
    port = free_port()
    server = subprocess.Popen(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port):
            assert server.poll() is None, "the template's Prefect server exited"
            assert time.monotonic() < deadline, "the template's Prefect server did not start"
            time.sleep(0.25)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    with contextlib.closing(sqlite3.connect(home / FILES[0])) as database:
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy is the file alone
    missing = [name for name in FILES if not (home / name).exists()]
    assert not missing, f"the template's Prefect home lacks {missing}"
