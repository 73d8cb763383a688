"""Where newswatch keeps what it can work out again, to save a process the time.

``$NEWSWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/newswatch``, else ``~/.cache/newswatch``.
Everything kept there is keyed by what it was made from, so a stale entry is never used,
and anything unreadable there is simply made again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_folder", "write_private"]


def cache_folder(*parts: str) -> Path:
    """The cache folder (not created), or a folder inside it."""
    explicit = os.environ.get("NEWSWATCH_CACHE_DIR")
    if explicit:
        base = Path(explicit)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newswatch"
    return base.joinpath(*parts)


def write_private(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` whole or not at all, readable by the user only; raises
    OSError (a read-only home: the caller makes the value again next time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(blob)
    os.replace(partial, path)
