"""Fixtures of the tests that start a real `newswatch up` (test_up, test_up_processes,
test_faults); tests/conftest.py registers them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.prefect_template import seed
from tests.support.up_stack import StartUp, up_starter


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory: pytest.TempPathFactory, prefect_template: Path) -> Path:
    """One PREFECT_HOME for the module, begun from the session's migrated one."""
    return seed(tmp_path_factory.mktemp("prefect-home"), prefect_template)


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    """Starts `up` with its output in tmp_path; every process it had is gone at the end."""
    with up_starter(tmp_path) as start:
        yield start
