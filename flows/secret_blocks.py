"""Channel URLs kept in Prefect Secret blocks, for channels configured with `secret_block`.

Not named `secrets`: a worker's flow run puts flows/ on sys.path, where a `secrets.py`
shadows the standard library's in every process the run spawns (the feed parser pool).
"""

from __future__ import annotations

from prefect.blocks.system import Secret


def read_secret_block(name: str) -> str:
    """The value of a Secret block (encrypted at rest by the Prefect server)."""
    value = Secret.load(name).get()  # type: ignore[union-attr]
    return str(value)
