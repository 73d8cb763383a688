"""The README's "Use it" steps, literally: each command line of its first sh block, in order,
in a fresh copy of the repository, so the README cannot drift from the code. (The demo keeps
its database in data/demo/, tests/test_demo.py checks, so it never mixes with the user's.)

Three things differ from a user's machine, and only these: the feed URL the README shows is
served by a local feed server (this machine has no internet), `make install` is left to the
suite's own venv (the copy's `.venv` is a link to it; installing into it from the copy would
repoint the suite's editable install), and the runs use the session's Prefect server instead
of each starting a temporary one (tests/test_run_cli.py meets that one).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.feedserver import FeedServer, Route

pytestmark = pytest.mark.prefect

ROOT = Path(__file__).resolve().parent.parent
USER_STORY = "Britain's foreign secretary to visit China next month"
RSS = f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Quay Times</title><link>https://quay.example/</link>
<item><title>{USER_STORY}</title><link>https://quay.example/world/visit</link>
<pubDate>Thu, 03 Dec 2026 08:00:00 GMT</pubDate>
<description>The UK foreign secretary will visit Beijing for talks.</description></item>
<item><title>Harbour repairs finished early</title><link>https://quay.example/local/harbour</link>
<pubDate>Thu, 03 Dec 2026 07:00:00 GMT</pubDate>
<description>The quay reopens on Monday.</description></item>
</channel></rss>""".encode()


def use_it_commands(readme: str) -> list[str]:
    """The command lines of the first sh block under "## Use it", comments removed."""
    section = readme.split("\n## Use it\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def fresh_copy(dest: Path) -> Path:
    """The tracked files of this checkout, as a clone has them, with the suite's venv."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (dest / ".venv").symlink_to(Path(sys.prefix))
    return dest


def test_the_readme_use_it_steps_work_in_order_on_a_fresh_copy(
    tmp_path: Path, feed_server: FeedServer, prefect_server_url: str
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = use_it_commands(readme)
    assert commands[0] == "make install"
    feed_line = next(c for c in commands if " feeds add " in c)
    shown_url = feed_line.split(" feeds add ", 1)[1].split()[0]
    feed_server.routes["/world/rss"] = Route(body=RSS)

    repo = fresh_copy(tmp_path / "newswatch")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_API_URL"] = prefect_server_url

    def sh(line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    for line in commands[1:]:
        done = sh(line.replace(shown_url, feed_server.url("/world/rss")))
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stdout + done.stderr, line
        outputs[line.split("  ")[0]] = done

    config = (repo / "newswatch.yaml").read_text(encoding="utf-8")
    assert feed_server.url("/world/rss") in config
    rules_test = next(v for k, v in outputs.items() if " rules test " in k)
    assert "uk-china-visit" in rules_test.stdout
    dry, real = (v for k, v in outputs.items() if k.split()[1:2] == ["run"])
    assert "(dry run: nothing stored or sent)" in dry.stdout
    assert f"[dry run] Quay Times: {USER_STORY}" in dry.stdout
    assert "matches:       1" in dry.stdout
    assert "matches:       1" in real.stdout
    assert "alerts sent:   1 (failed: 0, gave up: 0, pending: 0)" in real.stdout
    assert f"=== ALERT: [UK–China visits] {USER_STORY}" in real.stdout  # the console channel
    matches = next(v for k, v in outputs.items() if k.endswith(" matches"))
    assert USER_STORY in matches.stdout
    assert (repo / "data" / "newswatch.db").exists()
