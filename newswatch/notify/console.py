"""The demo's `console://` channel: an Apprise service that prints the alert.

Importing this module registers it with Apprise (once per process, as Apprise wants).
"""

from __future__ import annotations

import sys
from typing import Any

from apprise.decorators import notify


@notify(on="console", name="newswatch console")  # type: ignore[untyped-decorator,no-untyped-call]
def print_alert(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    sys.stdout.write(f"\n=== ALERT: {title}\n{body}\n")
    sys.stdout.flush()
    return True
