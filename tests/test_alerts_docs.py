"""docs/alerts.md's channel URLs are ones Apprise accepts, so a user can copy them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.notify.apprise_urls import channel_url_problem, resolve_channel_url

DOC = Path(__file__).resolve().parents[1] / "docs" / "alerts.md"
# Values of the shape each service gives (fake): what a user puts in the environment.
ENVIRONMENT = {
    "SMTP_PASSWORD": "app-password-1",
    "APP_PASSWORD": "app-password-2",
    "SLACK_TOKEN_A": "T1JJ3T3L2",
    "SLACK_TOKEN_B": "A1BRTD4JD",
    "SLACK_TOKEN_C": "TIiajkdnlazkcOXrIdevi7",
    "TEAMS_WORKFLOW": "4f9b2c3d1e8a47b6a5c4d3e2f1a0b9c8",
    "TEAMS_SIGNATURE": "Xy7sIgNaTuRe-AbCdEfGhIjKlMnOpQrStUvWxYz01",
    "TELEGRAM_BOT_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
}


def documented_urls() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    in_yaml = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    urls = [u for block in in_yaml for u in re.findall(r"^\s*url: (\S+)$", block, re.MULTILINE)]
    inline = re.findall(r"`((?:mailtos?|slack|tgram|workflows|jsons?)://[^`…]+)`", text)
    return urls + [u for u in inline if "${" in u or "@" in u]


def test_the_page_shows_every_kind_of_channel() -> None:
    schemes = {url.split("://", 1)[0] for url in documented_urls()}
    assert {"mailto", "mailtos", "slack", "workflows", "tgram", "jsons"} <= schemes


@pytest.mark.parametrize("url", documented_urls())
def test_a_documented_channel_url_is_accepted(url: str) -> None:
    assert channel_url_problem(resolve_channel_url(url, ENVIRONMENT)) is None


STARTER_CONFIGS = [
    DOC.parents[1] / "newswatch" / "cli" / "starter_config.yaml",
    DOC.parents[1] / "examples" / "newswatch.yaml",
]


@pytest.mark.parametrize("config", STARTER_CONFIGS, ids=lambda p: p.name)
def test_the_starter_configs_channel_urls_are_the_pages_own(config: Path) -> None:
    """A user copies a channel from the starter config and looks it up here (or the other
    way round): the same service is written with the same variables, up to the channel."""
    lines = re.findall(r"^\s*#\s+url: (\S+)$", config.read_text(encoding="utf-8"), re.M)
    commented = [url for url in lines if not url.startswith(("http://", "https://"))]  # feeds
    assert commented
    documented = {service(url) for url in documented_urls()}
    for url in commented:
        assert service(url) in documented, url


def service(url: str) -> tuple[str, tuple[str, ...]]:
    """A channel URL's scheme and the environment variables it takes, in order."""
    return url.split("://", 1)[0], tuple(re.findall(r"\$\{(\w+)\}", url))
