"""One plain monitor cycle (no Prefect) from a config file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from newswatch import cycle as orchestrator
from newswatch.config import load_config
from newswatch.models import CycleReport


def cycle(
    engine: Engine,
    config_path: Path,
    now: datetime,
    env: dict[str, str] | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CycleReport:
    config = load_config(config_path, environ=env or {})
    return orchestrator.run_cycle(engine, config, environ=env or {}, now=now, transport=transport)
