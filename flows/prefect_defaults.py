"""The Prefect settings newswatch runs with unless the environment says otherwise.

One list for every place Prefect starts: in-process flows (flows/__init__.py), the children
of `newswatch up`, and the end-to-end test stack. Offline, Prefect's telemetry prints
tracebacks; a fresh PREFECT_HOME's first start (database migrations) can outlast the
default 20 s start-up timeout; and the UI is not needed to run flows. The core logs under
`newswatch` (a failed delivery's WARNING line, say): Prefect sends those lines to the run's log
only for loggers it is told about, and outside a run (a plain `deliver` in a process that
imported Prefect) they stay on the console, without Prefect warning that there is no run.
"""

from collections.abc import MutableMapping

QUIET_PREFECT_DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "newswatch",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}
# The names set here rather than by the user: `newswatch up` turns the UI back on for its
# server unless the user turned it off.
DEFAULTED: set[str] = set()


def apply_quiet_defaults(environ: MutableMapping[str, str]) -> None:
    """Set each default the environment does not set itself."""
    for name, value in QUIET_PREFECT_DEFAULTS.items():
        if name not in environ:
            environ[name] = value
            DEFAULTED.add(name)
