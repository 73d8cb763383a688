"""Channel URLs kept in Prefect Secret blocks, for channels configured with `secret_block`."""

from __future__ import annotations

from prefect.blocks.system import Secret


def read_secret_block(name: str) -> str:
    """The value of a Secret block (encrypted at rest by the Prefect server)."""
    value = Secret.load(name).get()  # type: ignore[union-attr]
    return str(value)
