"""A plain `pip install .` with the pip that `python3 -m venv` brings gets every runtime
dependency working (issue 25, finding 10: Python 3.11's pip 23.2.1 installed lxml without
html_clean, trafilatura could not be imported, and full text was silently off).

The project's own build (mypyc) is not needed to see what that pip does with them: the
dependencies full text needs are read from pyproject.toml and installed by it as `pip
install .` would, and the extractor is imported and run in that venv.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
    "dependencies"
]
# What reading an article page needs (connectors/article_page.py).
FULL_TEXT = ("trafilatura", "lxml_html_clean")


@pytest.fixture(scope="module")
def bundled_pip_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv made by `python3 -m venv`, with the pip it brings (not upgraded)."""
    venv = tmp_path_factory.mktemp("bundled-pip") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_full_text_imports_and_extracts_in_a_bundled_pip_install(bundled_pip_venv: Path) -> None:
    wanted = [d for d in DEPENDENCIES if d.split(">")[0].split("<")[0] in FULL_TEXT]
    assert len(wanted) == len(FULL_TEXT), DEPENDENCIES
    installed = pip(bundled_pip_venv, "install", "--quiet", *wanted)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    page = (
        "<html><body><nav>Home | World</nav><article><h1>Lammy in Beijing</h1>"
        + "<p>The foreign secretary met Wang Yi for talks on trade and climate.</p>" * 5
        + "</article></body></html>"
    )
    code = "import sys, trafilatura; print(trafilatura.extract(sys.argv[1]))"
    run = subprocess.run(
        [str(bundled_pip_venv / "bin" / "python"), "-c", code, page],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Wang Yi" in run.stdout
