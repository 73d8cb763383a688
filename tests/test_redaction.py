"""Secrets in channel URLs never survive into a message that is logged or stored."""

from __future__ import annotations

from newswatch.notify import Redactor


def test_passwords_tokens_and_whole_urls_are_hidden() -> None:
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7/#desk"
    mail = "mailtos://alerts:hunter2-pass@smtp.example.org?to=desk@example.org&pass=sekrit-token-9"
    redact = Redactor.for_urls([slack, mail])

    text = redact(
        f"failed: {slack} / T1JJ3T3L2 A1BRTD4JD TIiajkdnlazkcOXrIdevi7 / {mail} / "
        "hunter2-pass / sekrit-token-9"
    )

    for secret in (
        "T1JJ3T3L2",
        "A1BRTD4JD",
        "TIiajkdnlazkcOXrIdevi7",
        "hunter2-pass",
        "sekrit-token-9",
        "smtp.example.org?",
    ):
        assert secret not in text
    assert "failed:" in text


def test_ordinary_words_are_left_alone() -> None:
    redact = Redactor.for_urls(["json://127.0.0.1:9000/hook"])
    assert redact("HTTP 500 from the hook receiver") == "HTTP 500 from the hook receiver"
