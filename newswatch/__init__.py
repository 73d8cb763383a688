"""The newswatch core: everything but orchestration (no Prefect, no flows imports).

Its public modules, in the order one cycle uses them (docs/architecture.md traces one
article through them): config and settings, cycle (the orchestrator), plan, steps,
refresh, normalize, matching, store, notify; models holds the values they pass each
other. Beside the cycle: backtest, feeds_admin, rule_testing, run_summary, sharding,
and cli (the Prefect-free commands).
"""
