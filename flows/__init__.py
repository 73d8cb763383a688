"""Prefect flows: orchestration only, over the plain functions in newswatch.cycle.

Its modules: monitor, fanout, digest, backtest (the flows prefect.yaml deploys), hooks and
secret_blocks (what they share), cli (the `newswatch` console script, with `run` and `up`),
up, processes and run_cleanup (the one-machine stack `newswatch up` supervises), prefect_defaults.

Importing this package sets newswatch's quiet Prefect defaults before Prefect itself is
imported (see flows.prefect_defaults). An explicit setting in the environment always wins.
"""

import os

from flows.prefect_defaults import apply_quiet_defaults

apply_quiet_defaults(os.environ)
