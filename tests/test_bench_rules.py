"""`bench/rules.py` in a small run: the JSON contract on the last line, and figures that add up.

Speed is not asserted here (the machine is shared and noisy); the bench exists to measure it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rules

BENCH = Path(__file__).resolve().parent.parent / "bench" / "rules.py"


def test_a_small_run_prints_every_figure_as_json_on_the_last_line() -> None:
    args = ["--articles", "60", "--sizes", "10,1000", "--naive-sizes", "10,1000"]
    args += ["--naive-articles", "20", "--unrelated-sizes", "1000", "--repeat", "2"]
    args += ["--dense-sizes", "1000", "--dense-articles", "20", "--process-sizes", "1000"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    figures = json.loads(done.stdout.splitlines()[-1])  # strict JSON: no NaN
    for key in ("articles_per_s", "build_s", "index_mb", "candidates_per_article"):
        assert set(figures[key]) == {"10", "1000"}, key
        assert all(value >= 0 for value in figures[key].values())
    assert set(figures["naive_articles_per_s"]) == {"10", "1000"}
    assert figures["articles_per_s"]["1000"] > 0
    # every pass's rate is shown, and the headline figure is the best of them
    assert set(figures["articles_per_s_per_pass"]) == {"10", "1000"}
    for size, passes in figures["articles_per_s_per_pass"].items():
        assert len(passes) == 2
        assert max(passes) == pytest.approx(figures["articles_per_s"][size], abs=0.05)
    assert figures["index_mb"]["1000"] > figures["index_mb"]["10"]
    # pre-selection: every match was a candidate, and a rule matches few articles
    for size in ("10", "1000"):
        assert figures["candidates_per_article"][size] >= figures["matches_per_article"][size]
        assert figures["rule_match_rate"][size] < 0.01
    assert figures["speedup_vs_naive_1000"] > 0
    unrelated = figures["unrelated_rules"]["1000"]
    assert unrelated["matches_per_article"] <= figures["matches_per_article"]["1000"]
    # reading the rules from YAML is timed beside building them
    assert set(figures["load_s"]) == {"10", "1000"}
    assert all(seconds > 0 for seconds in figures["load_s"].values())
    # the dense workload: about 0.5% of the rules match each article, every match a candidate
    dense = figures["dense"]
    assert set(dense["articles_per_s"]) == {"1000"}
    assert 0.002 < dense["rule_match_rate"]["1000"] < 0.01
    assert dense["rule_match_rate"]["1000"] > 10 * figures["rule_match_rate"]["1000"]
    assert dense["candidates_per_article"]["1000"] >= dense["matches_per_article"]["1000"]
    assert dense["load_s"]["1000"] > 0
    assert dense["build_s"]["1000"] > 0
    assert dense["vs_lucene_monitor"]["1000"] == pytest.approx(
        dense["articles_per_s"]["1000"] / figures["lucene_monitor_articles_per_s"], abs=0.01
    )
    assert dense["articles"] == 20
    # a whole `newswatch rules test` process over the dense rules and the articles ran
    assert dense["rules_test_process_s"]["1000"] > 0
    assert dense["rules_test_first_process_s"]["1000"] > 0
    assert dense["load_again_s"]["1000"] > 0
    # issue 27's bounds are printed beside the figures
    bounds = figures["bounds"]
    assert bounds["dense_rules_test_process_s_at_most"] == {
        "1000": 3.0,
        "10000": 6.0,
        "100000": 20.0,
    }
    assert bounds["dense_articles_per_s_100000_at_least"] == 300
    assert bounds["throughput_100000_vs_10_at_least"] == 0.2
    assert figures["articles"] == 60
    assert figures["compiled"] is rules.COMPILED  # which engine the figures are of


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instruction_counts_print_as_json_on_the_last_line() -> None:
    # One size: each size is two whole interpreters under valgrind (~10 CPU-seconds each),
    # and the JSON contract is the same for one size as for two.
    bench = BENCH.with_name("rules_instructions.py")
    args = ["--sizes", "10", "--articles", "5", "--sample", "10"]
    done = subprocess.run(
        [sys.executable, str(bench), *args], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert set(figures["instructions_per_article"]) == {"10"}
    assert all(count > 0 for count in figures["instructions_per_article"].values())
    assert figures["articles"] == 5
