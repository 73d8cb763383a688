"""Prefect flows: orchestration only, over the plain functions in newswatch.pipeline.

Importing this package sets newswatch's quiet Prefect defaults before Prefect itself is
imported (see newswatch.prefect_defaults). An explicit setting in the environment always wins.
"""

import os

from newswatch.prefect_defaults import QUIET_PREFECT_DEFAULTS

for _name, _value in QUIET_PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
