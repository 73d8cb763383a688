"""The Prefect server `newswatch up` serves, as other commands find it: the profile that
points every terminal's `prefect` (and `newswatch run`) at it, and whether it answers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

PROFILE = "newswatch"


def activate_profile(url: str) -> str | None:
    """Make the Prefect profile `newswatch` point at url and be the active one.

    Every `prefect` command (and `newswatch run`) in another terminal then talks to this
    server instead of starting a temporary one on a database the server holds. Returns the
    profile that was active before, to restore at stop. Auth strings are never written.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.settings.profiles import load_profiles, save_profiles

    profiles = load_profiles()
    previous = profiles.active_name
    profiles.update_profile(PROFILE, {PREFECT_API_URL: url})
    profiles.set_active(PROFILE)
    save_profiles(profiles)
    return previous if previous != PROFILE else None


def restore_profile(previous: str | None) -> None:
    """Make `previous` the active profile again, if `newswatch` is still the active one."""
    from prefect.settings.profiles import load_profiles, save_profiles

    profiles = load_profiles()
    if profiles.active_name != PROFILE:
        return
    profiles.set_active(previous if previous in profiles.names else None)
    save_profiles(profiles)


@dataclass(frozen=True)
class UpServer:
    """The server the active `newswatch` profile names, and whether it answers (a profile
    left active by an `up` that was killed names a server that is gone)."""

    url: str
    answers: bool


def running_up_server(environ: Mapping[str, str] | None = None) -> UpServer | None:
    """The server of `newswatch up` that the active `newswatch` profile names, else None.

    An explicit PREFECT_API_URL or PREFECT_PROFILE in the environment wins, and then this
    is None.
    """
    env = os.environ if environ is None else environ
    if env.get("PREFECT_API_URL") or env.get("PREFECT_PROFILE", PROFILE) != PROFILE:
        return None
    from prefect.settings import PREFECT_API_URL
    from prefect.settings.profiles import load_profiles

    profiles = load_profiles()
    if (env.get("PREFECT_PROFILE") or profiles.active_name) != PROFILE:
        return None
    url = profiles[PROFILE].settings.get(PREFECT_API_URL)
    if not isinstance(url, str):
        return None
    return UpServer(url, probe_server(url) == "prefect")


def api_url(host: str, port: int) -> str:
    """Where clients reach a server bound to host:port (a wildcard bind is reached locally)."""
    wildcard = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - not a bind
    client = wildcard.get(host, host)
    if ":" in client:
        client = f"[{client}]"
    return f"http://{client}:{port}/api"


def probe_server(url: str, timeout: float = 2.0) -> str:
    """'prefect' when a Prefect API answers at url, 'free' when nothing listens, else 'other'."""
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.ConnectError:
        return "free"
    except httpx.HTTPError:
        return "other"
    try:
        healthy = response.status_code == 200 and response.json() is True
    except ValueError:
        healthy = False
    return "prefect" if healthy else "other"
