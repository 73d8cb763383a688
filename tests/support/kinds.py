"""What kind of test each test module holds; tests/conftest.py marks every test from this.

  unit         pure functions: no server, no database, no child process
  integration  real local peers: HTTP feed servers, SMTP, PostgreSQL, SQLite files, a few
               short child processes
  e2e          a real Prefect server: the test harness's, `prefect server start`, workers,
               `newswatch up`, the demo through Prefect
  slow         (on top of the kind) heavy on child processes: minutes, not seconds

A test is at least its module's kind; one that runs flows through Prefect (the `prefect`
marker) or starts Prefect's test server (the `prefect_api` fixture) is e2e, and one that uses
a database or a local server fixture is at least integration. `make test-fast` runs
`-m "not e2e and not slow"`; `make test` runs everything. tests/test_suite_layout.py fails
when a test module is missing here.

Both run on every core (pytest-xdist, `--dist loadgroup`); the tests of a module in GROUPS
run one at a time on one worker.
"""

from __future__ import annotations

from collections.abc import Iterable

UNIT, INTEGRATION, E2E = "unit", "integration", "e2e"
ORDER = (UNIT, INTEGRATION, E2E)

MODULES = {
    "test_alert_messages": INTEGRATION,
    "test_alerts": INTEGRATION,
    "test_alerts_docs": UNIT,
    "test_backtest": INTEGRATION,
    "test_bench_burn_core": INTEGRATION,
    "test_bench_cli": INTEGRATION,
    "test_bench_crash_trials": INTEGRATION,
    "test_bench_cycle": E2E,
    "test_bench_full_text": UNIT,
    "test_bench_html_to_text": UNIT,
    "test_bench_matches": INTEGRATION,
    "test_bench_rules": INTEGRATION,
    "test_boundaries": UNIT,
    "test_cli": INTEGRATION,
    "test_config": INTEGRATION,
    "test_connectors_discover": INTEGRATION,
    "test_connectors_feed": INTEGRATION,
    "test_connectors_http": INTEGRATION,
    "test_connectors_opml": UNIT,
    "test_connectors_testing": UNIT,
    "test_connectors_parserpool": INTEGRATION,
    "test_delivery_run_log": E2E,
    "test_demo": E2E,
    "test_digest_flow": E2E,
    "test_docs_commands": INTEGRATION,
    "test_docs_rules": INTEGRATION,
    "test_dry_run": INTEGRATION,
    "test_e2e_prefect": E2E,
    "test_faults": E2E,
    "test_feeds_cli": INTEGRATION,
    "test_flow": E2E,
    "test_architecture_trace": INTEGRATION,
    "test_head_of_line": INTEGRATION,
    "test_hostile_cycle": INTEGRATION,
    "test_matching_cache": INTEGRATION,
    "test_matching_document": INTEGRATION,
    "test_matches_cli": INTEGRATION,
    "test_migrations": INTEGRATION,
    "test_normalize": UNIT,
    "test_packaging": INTEGRATION,
    "test_html_text": UNIT,
    "test_render_targets": INTEGRATION,
    "test_feedparser_corpus": INTEGRATION,
    "test_inflections": UNIT,
    "test_languages": UNIT,
    "test_language_alerts": INTEGRATION,
    "test_text": INTEGRATION,
    "test_full_text": INTEGRATION,
    "test_notify_outbox": INTEGRATION,
    "test_outbox_safety": INTEGRATION,
    "test_pipeline": INTEGRATION,
    "test_polling_cycle": INTEGRATION,
    "test_prefect_yaml": UNIT,
    "test_prune": INTEGRATION,
    "test_prune_flow": E2E,
    "test_redaction": UNIT,
    "test_quickstart": E2E,
    "test_refresh": UNIT,
    "test_rule_testing": UNIT,
    "test_run_cleanup": UNIT,
    "test_rules_analyze": UNIT,
    "test_rules_checking": INTEGRATION,
    "test_rules_compiled": INTEGRATION,
    "test_rules_engine": UNIT,
    "test_rules_properties": UNIT,
    "test_rules_query": UNIT,
    "test_rules_reference": UNIT,
    "test_rules_at_scale": UNIT,
    "test_troubleshooting_doc": UNIT,
    "test_run_cli": E2E,
    "test_run_progress": INTEGRATION,
    "test_sharding": UNIT,
    "test_store": INTEGRATION,
    "test_store_lasts": INTEGRATION,
    "test_stories": INTEGRATION,
    "test_suite_layout": UNIT,
    "test_updates": INTEGRATION,
    "test_up": INTEGRATION,
    "test_up_processes": INTEGRATION,
}

# Fixtures that make a test at least this kind, wherever it lives.
FIXTURES = {
    "prefect_api": E2E,
    "prefect_server_url": E2E,
    "engine": INTEGRATION,
    "database_url": INTEGRATION,
    "pg_url": INTEGRATION,
    "feed_server": INTEGRATION,
    "smtp_server": INTEGRATION,
}
MARKERS = {"prefect": E2E}

# Tests heavy on child processes, by module or module::test (parameters left off).
SLOW = {
    "test_outbox_safety::test_sigkill_at_each_point_of_a_cycle_loses_no_alert",
    "test_alerts::test_alerts_cli_test_failed_and_retry",
    "test_alerts::test_the_readme_alerts_commands_work_verbatim",
    "test_alerts::test_alerts_status_failed_and_send_show_what_waits_while_smtp_is_down_then_up",
    "test_backtest::test_backtest_cli_prints_matches_and_exits_2_on_mistakes",
    "test_bench_crash_trials",
    "test_bench_rules",
    "test_rules_compiled",
    "test_faults",
    "test_packaging",
    "test_up_processes::test_ctrl_c_on_up_behind_a_pipe_stops_server_and_worker_and_restores_the_profile",
    "test_up_processes::test_sigkill_of_up_ends_its_server_and_worker_and_the_next_run_needs_no_up",
}

# xdist groups: each group's tests run one after another on one worker (`--dist loadgroup`),
# for tests that bind a fixed port or share state outside their tmp_path, and for a module
# whose tests share one costly module fixture (on two workers it would be built twice).
# Everything else shares nothing: servers bind free ports, each worker has its own
# PREFECT_HOME (conftest), and the full Prefect stacks (`prefect server start`, `newswatch
# up`) each have their own port, home and database, and deploy from a file in their own
# folder.
# The modules on the session's Prefect server (the `prefect_api` and `prefect_server_url`
# fixtures) share one worker: each worker that meets one starts a server of its own, 13-15
# CPU-seconds on this machine, so spread over two workers they started two.
SESSION_SERVER = "session_prefect_server"
GROUPS = {
    # examples/demo.py serves its feeds on the fixed port 8719 (one worker: one demo at a time)
    "test_demo": SESSION_SERVER,
    # one whole cycle against every hostile server (the `everything_at_once` fixture)
    "test_hostile_cycle": "hostile_cycle",
    **dict.fromkeys(
        (
            "test_delivery_run_log",
            "test_digest_flow",
            "test_flow",
            "test_prune_flow",
            "test_quickstart",
            "test_run_cli",
        ),
        SESSION_SERVER,
    ),
}

# The longest tests, longest first (module or module::test, parameters left off), from
# `--durations` of whole runs. xdist hands tests out in collection order, so these start
# at once and the short ones fill the gaps around them: one of them started last would be
# the whole suite's tail. Everything else keeps its order, after these.
FIRST = (
    "test_faults::test_a_one_minute_schedule_polls_every_feed_on_every_tick_across_a_restart",
    "test_faults::test_a_run_cut_by_stopping_up_blocks_nothing_and_its_alert_goes_out_once",
    "test_faults",
    "test_e2e_prefect",
    "test_up",
    "test_up_processes",
    "test_rules_compiled",
    "test_store_lasts::test_a_manual_run_during_a_scheduled_one_stores_and_alerts_each_story_once",
    "test_hostile_cycle",
    "test_bench_cli",
    "test_bench_cycle",
    "test_bench_rules",
    "test_run_cli",
    "test_quickstart",
    "test_packaging",
)


def kind_of(module: str, fixtures: Iterable[str], markers: Iterable[str]) -> str:
    """The test's kind: the furthest of its module's, its fixtures' and its markers'."""
    kinds = [MODULES[module]]
    kinds += [FIXTURES[f] for f in fixtures if f in FIXTURES]
    kinds += [MARKERS[m] for m in markers if m in MARKERS]
    return max(kinds, key=ORDER.index)


def is_slow(module: str, name: str) -> bool:
    return module in SLOW or f"{module}::{name.split('[', 1)[0]}" in SLOW


def first_rank(module: str, name: str) -> int:
    """Where the test starts: its entry's place in FIRST, after them all when it has none."""
    test = f"{module}::{name.split('[', 1)[0]}"
    for rank, entry in enumerate(FIRST):
        if entry in (module, test):
            return rank
    return len(FIRST)
