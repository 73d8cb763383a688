"""Load and validate the user's YAML config (feeds, lists, rules, channels).

Every problem is reported at once as `file:line: what is wrong`, so a user fixes the
whole file in one pass; nothing here raises a traceback for a user's mistake.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newswatch.cache_folder import cache_folder, write_private
from newswatch.notify.apprise_urls import ENV_REF, channel_url_problem, resolve_channel_url
from rules import ENGINE_VERSION, RuleSpec, check_rules
from rules.analyze import LANGUAGES

_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/London)"
        ) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    url: str
    name: str = ""
    full_text: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="fetch the article page for its text: auto = when the entry has < 80 words",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.strip()


class ChannelConfig(_Strict):
    url: str | None = Field(
        default=None, description="an Apprise URL; ${ENV_VAR} is replaced from the environment"
    )
    secret_block: str | None = Field(
        default=None, description="name of a Prefect Secret block holding the Apprise URL"
    )
    format: Literal["plain", "markdown", "html"] | None = Field(
        default=None, description="message format; the service's own when unset"
    )
    mode: Literal["instant", "digest"] = "instant"
    digest_cron: str = Field(default="0 8 * * *", description="when a digest channel sends")
    timezone: str | None = Field(default=None, description="for alert times and digest_cron")
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    max_attempts: int = Field(default=8, ge=1, description="failed sends before a delivery dies")
    all_rules: bool = Field(default=False, description="alert every rule here")

    @model_validator(mode="after")
    def _one_source(self) -> ChannelConfig:
        if (self.url is None) == (self.secret_block is None):
            raise ValueError("give exactly one of url or secret_block")
        return self

    @field_validator("digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            CronSim(value, datetime(2024, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"not a cron expression {value!r}: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _channel_zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class RuleConfig(_Strict):
    id: str
    query: str
    name: str = ""
    channels: list[str] = Field(default_factory=list)
    mode: Literal["instant", "digest"] = "instant"

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError(
                f"rule id {value!r} must start with a letter or digit and use only "
                "letters, digits, '-', '_' and '.'"
            )
        return value


class MonitorConfig(_Strict):
    contact_url: str = "https://github.com/newswatch/newswatch"
    poll_interval_minutes: float = Field(default=10.0, gt=0)
    batch_size: int = Field(default=25, ge=1, description="feeds per Prefect task")
    timezone: str = Field(default="UTC", description="IANA zone for schedules and alert times")
    operator_channel: str | None = Field(
        default=None, description="a channel that hears when a monitor run fails"
    )
    default_language: str = Field(
        default="en",
        description="the language an article's words are read in when its own could not be "
        "detected (too short, or unsure): en, fr, de, es, it, pt or nl",
    )

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"unknown language {value!r} (use one of {', '.join(LANGUAGES)})")
        return value

    # Politeness and bounds of the fetcher (connectors.http.FetchSettings).
    max_concurrent_fetches: int = Field(default=50, ge=1, description="fetches at once, in all")
    per_host_limit: int = Field(
        default=2, ge=1, description="fetches at once per origin (scheme, host and port)"
    )
    max_feed_size_mib: float = Field(
        default=15.0, gt=0, description="largest feed body read, after decompression too"
    )
    fetch_timeout_seconds: float = Field(
        default=60.0, gt=0, description="a fetch's total deadline, redirects and body included"
    )
    full_text_budget_seconds: float = Field(
        default=20.0,
        ge=0,
        description="time a batch of feeds spends on article pages; the rest waits",
    )
    max_page_size_mib: float = Field(default=2.0, gt=0, description="largest article page read")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)


class Config(_Strict):
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    feeds: list[FeedConfig] = Field(default_factory=list)
    lists: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[RuleConfig] = Field(default_factory=list)
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)

    def rule_specs(self) -> list[RuleSpec]:
        return [RuleSpec(id=r.id, query=r.query) for r in self.rules]

    def channel_zone(self, name: str) -> str:
        return self.channels[name].timezone or self.monitor.timezone

    def channels_for(self, rule: RuleConfig) -> list[str]:
        """The channels a rule alerts: its own, plus those that take every rule."""
        names = list(rule.channels)
        names += [n for n, c in self.channels.items() if c.all_rules and n not in names]
        return names


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


MISSING_CONFIG = (
    "config file not found: start one with `newswatch init` "
    "(or copy examples/newswatch.yaml), or point -c/--config or NEWSWATCH_CONFIG at yours"
)


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_config(
    path: Path, *, environ: Mapping[str, str] | None = None, check_channels: bool = True
) -> Config:
    """Read, validate and return the config, or raise ConfigError listing every problem.

    ``check_channels=False`` (for commands that send nothing, such as ``rules test``) leaves
    out asking Apprise whether each channel URL is usable: importing it takes a second.
    """
    env = os.environ if environ is None else environ
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, MISSING_CONFIG)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, None, f"cannot read the config: {exc}")]) from None
    return parse_config(text, name=name, environ=env, check_channels=check_channels)


# libyaml's C loader when PyYAML was built with it (its wheels are): the pure-Python one
# read a 100,000-rule config at about 2 MB/s
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse.

    Raises yaml.YAMLError as PyYAML does.
    """
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def parse_config(
    text: str, *, name: str, environ: Mapping[str, str], check_channels: bool = True
) -> Config:
    with _collector_paused():
        return _parse_config(text, name=name, environ=environ, check_channels=check_channels)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Reading a config makes millions of small objects (YAML nodes, validated models,
    parsed queries) and no garbage cycles: the garbage collector's passes over them were half
    the time of loading 100,000 rules."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_config(
    text: str, *, name: str, environ: Mapping[str, str], check_channels: bool
) -> Config:
    cached = _config_cache.read(text)
    if cached is not None:
        # a config read cleanly before, byte for byte: its YAML and its queries need no
        # second look; the checks that depend on the environment run again
        try:
            config = Config.model_validate(cached)
        except ValidationError:
            pass
        else:
            checks = _semantic_problems(
                config,
                None,
                name=name,
                environ=environ,
                check_queries=False,
                check_channels=check_channels,
            )
            if next(checks, None) is None:
                return config
        # anything wrong now: read it again in full, for the problems and their lines
    try:
        root, data = read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(name, line, f"not valid YAML: {reason}")]) from None
    if root is None:
        root = yaml.MappingNode(tag="tag:yaml.org,2002:map", value=[])
    problems = [Problem(name, line, msg) for line, msg in _duplicate_keys(root)]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(name, 1, "the config must be a mapping of sections")])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc)
            problems.append(Problem(name, line_of(root, loc), f"{where}: {err['msg']}"))
        raise ConfigError(problems) from None
    problems += _semantic_problems(
        config, root, name=name, environ=environ, check_channels=check_channels
    )
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    _config_cache.write(text, data)
    return config


def _semantic_problems(
    config: Config,
    root: yaml.Node | None,
    *,
    name: str,
    environ: Mapping[str, str],
    check_queries: bool = True,
    check_channels: bool = True,
) -> Iterator[Problem]:
    seen_urls: dict[str, int] = {}
    for i, feed in enumerate(config.feeds):
        if feed.url in seen_urls:
            yield Problem(
                name, line_of(root, ("feeds", i, "url")), f"feed {feed.url} is listed twice"
            )
        seen_urls[feed.url] = i

    for chan_name, chan in config.channels.items():
        if chan.url is None:
            continue  # a Secret block: resolved by the flow that sends
        line = line_of(root, ("channels", chan_name, "url"))
        missing = [v for v in ENV_REF.findall(chan.url) if v not in environ]
        if missing:
            yield Problem(
                name,
                line,
                f"channel {chan_name!r}: environment variable {missing[0]} is not set",
            )
            continue
        problem = (
            channel_url_problem(resolve_channel_url(chan.url, environ)) if check_channels else None
        )
        if problem:
            yield Problem(name, line, f"channel {chan_name!r}: {problem}")

    operator = config.monitor.operator_channel
    if operator is not None and operator not in config.channels:
        yield Problem(
            name,
            line_of(root, ("monitor", "operator_channel")),
            f"monitor.operator_channel: unknown channel {operator!r}",
        )

    seen_ids: set[str] = set()
    for i, rule in enumerate(config.rules):
        if rule.id in seen_ids:
            yield Problem(name, line_of(root, ("rules", i, "id")), f"duplicate rule id {rule.id!r}")
        seen_ids.add(rule.id)
        for j, chan_name in enumerate(rule.channels):
            if chan_name not in config.channels:
                known = ", ".join(sorted(config.channels)) or "none are defined"
                yield Problem(
                    name,
                    line_of(root, ("rules", i, "channels", j)),
                    f"rule {rule.id!r}: unknown channel {chan_name!r} (channels: {known})",
                )

    if not check_queries:
        return
    errors = check_rules(config.rule_specs(), config.lists)
    if errors:
        places = {r.id: i for i, r in enumerate(config.rules)}
        for err in errors:
            place = places.get(err.rule_id or "")
            at = line_of(root, ("rules", place, "query")) if place is not None else None
            yield Problem(name, at, err.render())


class _ConfigCache:
    """The data of large configs read cleanly before, keyed by the file's bytes.

    Reading YAML is the cost of a large rule file (libyaml read 100,000 rules, 8.5 MB, in
    several seconds, and checking every query took as long again); the same bytes read
    cleanly give the same data and the same verdict on the queries, so a file read before
    is loaded from a marshal file named by the digest of its text, the rule engine's version
    and PyYAML's. Small configs are read directly (milliseconds) and never cached; the
    folder is newswatch.cache_folder's; anything unreadable there is read from the YAML again.
    """

    MIN_CHARS = 256_000
    KEEP = 4  # entries kept: a few configs, each a few megabytes

    def _path(self, text: str) -> Path:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
        digest.update(f"\0{ENGINE_VERSION}\0{yaml.__version__}".encode())
        return cache_folder("configs", f"{digest.hexdigest()}.marshal")

    def read(self, text: str) -> Any:
        if len(text) < self.MIN_CHARS:
            return None
        try:
            # S302: written by write() below, in the user's own folder, for these very bytes
            return marshal.loads(self._path(text).read_bytes())  # noqa: S302
        except (OSError, EOFError, ValueError, TypeError):
            return None

    def write(self, text: str, data: Any) -> None:
        if len(text) < self.MIN_CHARS:
            return
        path = self._path(text)
        try:
            blob = marshal.dumps(data)
        except ValueError:  # a value marshal cannot hold (a YAML date): read it each time
            return
        try:
            write_private(path, blob)
            entries = sorted(path.parent.glob("*.marshal"), key=lambda p: p.stat().st_mtime)
            for old in entries[: -self.KEEP]:
                old.unlink(missing_ok=True)
        except OSError:
            return  # a read-only home: the config is simply read from YAML next time


_config_cache = _ConfigCache()


def _duplicate_keys(node: yaml.Node) -> Iterator[tuple[int, str]]:
    """PyYAML silently keeps the last of two equal keys; a config must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    yield key.start_mark.line + 1, f"key {key.value!r} appears twice"
                seen.add(key.value)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def line_of(root: yaml.Node | None, loc: Sequence[object]) -> int:
    """The 1-based line of the deepest node along a path of keys and indexes."""
    if root is None:
        return 1
    node = root
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1
