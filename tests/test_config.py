"""Config validation: every mistake named with its file and line, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.config import ConfigError, load_config
from tests.support.examples import EXAMPLES

GOOD = """\
feeds:
  - name: Harbour Gazette
    url: https://harbourgazette.example/rss
lists:
  uk: [UK, Britain]
rules:
  - id: uk-china-visit
    query: '@uk AND China AND visit'
    channels: [desk]
channels:
  desk:
    url: json://127.0.0.1:9999/hook
"""


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "newswatch.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env or {})
    return [str(p) for p in info.value.problems]


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLES / "newswatch.yaml", environ={})
    assert [r.id for r in config.rules] == ["uk-china-visit"]
    assert len(config.feeds) == 3
    assert config.channels_for(config.rules[0]) == ["console"]


def test_a_good_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path, environ={})
    assert config.lists == {"uk": ["UK", "Britain"]}
    assert config.feeds[0].name == "Harbour Gazette"


def test_unknown_channel_names_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("channels: [desk]", "channels: [desk, asia-slack]")
    (msg,) = problems(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'newswatch.yaml'}:9: ")
    assert "unknown channel 'asia-slack'" in msg


def test_duplicate_rule_id_names_the_second_one(tmp_path: Path) -> None:
    text = GOOD.replace(
        "channels:\n  desk:",
        "  - id: uk-china-visit\n    query: Beijing\nchannels:\n  desk:",
    )
    (msg,) = problems(tmp_path, text)
    assert ":10: " in msg
    assert "duplicate rule id 'uk-china-visit'" in msg


def test_malformed_query_names_line_rule_and_column(tmp_path: Path) -> None:
    text = GOOD.replace("'@uk AND China AND visit'", "'(UK AND China'")
    (msg,) = problems(tmp_path, text)
    assert ":8: " in msg
    assert "uk-china-visit" in msg
    assert "column" in msg
    assert "^" in msg  # the caret under the spot


def test_bad_feed_url_names_the_line(tmp_path: Path) -> None:
    text = GOOD.replace("https://harbourgazette.example/rss", "harbourgazette.example/rss")
    (msg,) = problems(tmp_path, text)
    assert ":3: " in msg
    assert "not an http(s) URL" in msg


def test_unknown_key_and_wrong_type_are_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace("    channels: [desk]", "    channels: desk\n    colour: red")
    msgs = problems(tmp_path, text)
    assert len(msgs) == 2
    assert any(":9: " in m and "channels" in m for m in msgs)
    assert any(":10: " in m and "colour" in m for m in msgs)


def test_bad_channel_url_never_echoes_the_url(tmp_path: Path) -> None:
    text = GOOD.replace("json://127.0.0.1:9999/hook", "nosuchservice://user:hunter22@host")
    (msg,) = problems(tmp_path, text)
    assert ":12: " in msg
    assert "channel 'desk'" in msg
    assert "hunter22" not in msg


def test_missing_secret_variable_is_named(tmp_path: Path) -> None:
    text = GOOD.replace("json://127.0.0.1:9999/hook", "json://u:${HOOK_TOKEN}@127.0.0.1/hook")
    (msg,) = problems(tmp_path, text)
    assert "HOOK_TOKEN is not set" in msg
    path = tmp_path / "newswatch.yaml"
    config = load_config(path, environ={"HOOK_TOKEN": "t0ken-value"})
    assert "${HOOK_TOKEN}" in config.channels["desk"].url  # resolved only when sending


def test_duplicate_yaml_keys_are_not_silently_merged(tmp_path: Path) -> None:
    text = GOOD + "  desk:\n    url: json://127.0.0.1:1/other\n"
    msgs = problems(tmp_path, text)
    assert any(":13: " in m and "'desk' appears twice" in m for m in msgs)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "feeds: [\n  - url: x\n")
    assert "not valid YAML" in msg
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml", environ={})
    assert "config file not found" in str(info.value)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rules_check_cli_reports_every_problem_without_traceback(tmp_path: Path) -> None:
    bad = GOOD.replace("channels: [desk]", "channels: [nope]").replace(
        "'@uk AND China AND visit'", "'UK AND'"
    )
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")

    result = run_cli("rules", "check", "--config", "bad.yaml", cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "bad.yaml:8:" in result.stderr
    assert "bad.yaml:9:" in result.stderr
    assert "unknown channel 'nope'" in result.stderr


def test_rules_check_cli_accepts_the_example(tmp_path: Path) -> None:
    result = run_cli("rules", "check", "--config", str(EXAMPLES / "newswatch.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK (3 feeds, 1 rules, 1 channels)" in result.stdout


def test_run_with_a_broken_config_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "newswatch.yaml").write_text("feeds: 7\n", encoding="utf-8")
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "newswatch.yaml:1: feeds" in result.stderr


def test_channel_options_are_validated_with_their_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    url: json://127.0.0.1:9999/hook\n",
        "    url: json://127.0.0.1:9999/hook\n"
        "    mode: digest\n"
        "    digest_cron: 'every morning'\n"
        "    timezone: Mars/Olympus\n"
        "    rate_limit_per_minute: 0\n",
    )
    msgs = problems(tmp_path, text)
    assert any(":14: " in m and "not a cron expression 'every morning'" in m for m in msgs)
    assert any(":15: " in m and "unknown time zone 'Mars/Olympus'" in m for m in msgs)
    assert any(":16: " in m and "rate_limit_per_minute" in m for m in msgs)


def test_a_channel_takes_a_url_or_a_secret_block_not_both(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    url: json://127.0.0.1:9999/hook\n",
        "    url: json://127.0.0.1:9999/hook\n    secret_block: desk-hook\n",
    )
    (msg,) = problems(tmp_path, text)
    assert "give exactly one of url or secret_block" in msg
    path = tmp_path / "ok.yaml"
    path.write_text(
        GOOD.replace("url: json://127.0.0.1:9999/hook", "secret_block: desk-hook"),
        encoding="utf-8",
    )
    block = load_config(path, environ={}).channels["desk"].secret_block
    assert block == "desk-hook"


def test_operator_channel_must_exist(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, "monitor:\n  operator_channel: pager\n" + GOOD)
    assert ":2: " in msg
    assert "unknown channel 'pager'" in msg


def _large_config(path: Path, bad_rule: int | None = None) -> None:
    """About 300 kB of rules: large enough for the read cache (newswatch.config)."""
    lines = ["channels:", "  desk:", "    url: json://127.0.0.1:9/alerts", "rules:"]
    for n in range(4000):
        query = "harbour AND (strike OR (NOT" if n == bad_rule else f"harbour{n} AND crane"
        lines += [f"  - id: rule-{n}", f"    query: '{query}'", "    channels: [desk]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_large_config_read_again_is_the_same_and_a_new_mistake_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSWATCH_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "newswatch.yaml"
    _large_config(path)
    first = load_config(path, environ={})
    assert list((tmp_path / "cache").rglob("*.marshal"))  # kept for the next read
    assert load_config(path, environ={}) == first
    _large_config(path, bad_rule=2500)  # the file changed: read and checked again
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    [problem] = caught.value.problems
    assert problem.line == 6 + 3 * 2500  # the bad rule's query line
    assert "rule-2500" in str(problem)
