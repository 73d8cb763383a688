"""Subcommands known by name and help until they run, so `--help` imports none of them.

click asks a group for each command to list it in `--help`; a LazyGroup answers with a
placeholder that carries only the one-line help, and imports the real command when it is
invoked (which is also when its own `--help` is shown).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, cast

import typer
from typer.core import TyperCommand, TyperGroup

from newswatch.cli.exit_codes import EXIT_CODES_HELP

Command = TyperCommand | TyperGroup
"""What typer builds from a function (a command) or from a typer.Typer (a group)."""


@dataclass(frozen=True, slots=True)
class Lazy:
    """Where a command lives ("module:attribute", a function or a typer.Typer) and the
    line `newswatch --help` shows for it (a test checks it against the real one)."""

    target: str
    help: str
    epilog: str | None = None  # for a function: shown under its --help

    def load(self, name: str) -> Command:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            command = typer.main.get_command(found)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(name=name, epilog=self.epilog)(found)
            command = typer.main.get_command(single)
        command.name = name
        return cast(Command, command)


# Context parameters are typed Any: typer's click (typer._click) is private, and its public
# typer.Context is a subclass, which the overridden methods may not narrow to.


class _Placeholder(TyperCommand):
    """Stands in for a command in the top-level help; never invoked."""


class LazyGroup(TyperGroup):
    """A typer group whose `lazy` commands are imported only when invoked."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # placeholders in `commands`: listed in order, and "did you mean" knows their names
        for name, lazy in self.lazy.items():
            self.commands.setdefault(name, _Placeholder(name, help=lazy.help))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Placeholder) and name is not None:
            command = self.load(name)
        return name, command, rest

    def load(self, name: str) -> Command:
        """The real command, its module imported now; it replaces the placeholder."""
        command = self.lazy[name].load(name)
        self.commands[name] = command
        return command


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"newswatch {version('newswatch')}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Watch news feeds for the stories you care about."""


def build_app(commands: Mapping[str, Lazy], *, order: Sequence[str]) -> typer.Typer:
    """The whole `newswatch` app: `commands` listed in `order` and imported when run."""
    missing = set(order) ^ set(commands)
    if missing:
        raise ValueError(f"commands and their order disagree on {sorted(missing)}")
    group: type[LazyGroup] = type(
        "NewswatchGroup", (LazyGroup,), {"lazy": {name: commands[name] for name in order}}
    )
    app = typer.Typer(
        cls=group,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        epilog="Start with: newswatch init, then newswatch run. " + EXIT_CODES_HELP,
    )
    app.callback()(_root)
    return app
