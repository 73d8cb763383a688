"""Prefect flows: orchestration only, over the plain functions in newswatch.pipeline.

Importing this package sets quiet defaults for Prefect before Prefect itself is imported:
on an offline machine its telemetry prints tracebacks, and a fresh PREFECT_HOME's first
ephemeral start (database migrations) can outlast the default 20 s start-up timeout.
An explicit setting in the environment always wins.
"""

import os

for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_UI_ENABLED": "false",
}.items():
    os.environ.setdefault(_name, _value)
