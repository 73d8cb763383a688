"""Runs inside a parser worker (picklable by reference): what the worker has loaded."""

from __future__ import annotations

import sys


def loaded_modules() -> list[str]:
    return sorted(sys.modules)
