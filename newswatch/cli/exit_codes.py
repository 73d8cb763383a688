"""The exit codes a scheduler reads (cron, systemd, CI): the README and `--help` list them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means; the worst outcome of a run wins."""

    OK = 0
    """all well"""
    CRASHED = 1
    """an unexpected error (a bug: the traceback is printed)"""
    CONFIG_ERROR = 2
    """the config, a command-line option or the database cannot be used; nothing ran"""
    FEEDS_FAILED = 3
    """the run finished, but some feeds failed (`newswatch feeds status` says why)"""
    ALERTS_FAILED = 4
    """alerts failed or are still pending after their retries (`newswatch alerts failed`)"""


EXIT_CODES_HELP = (
    "Exit codes: 0 all well; 2 config or database error (nothing ran); "
    "3 some feeds failed; 4 alerts failed or pending after retries; 1 a crash (a bug)."
)
"""One paragraph for `--help`."""
