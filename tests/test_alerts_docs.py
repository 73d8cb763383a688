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
    "SLACK_WEBHOOK_TOKENS": "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7",
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
