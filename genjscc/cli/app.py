"""The Typer applications that command modules attach to (kept apart to avoid import cycles).

Nothing here imports torch: ``genjscc --help`` and the help of every command that is not a
training command load only Typer (commands import what they need when they run). The
training commands take their options from the trainers' argument dataclasses
(:mod:`genjscc.train.args`, which imports the models), so ``train_app`` builds each of them
only when it runs or shows its own help (:class:`LazyGroup`).
"""

from __future__ import annotations

import inspect
from typing import Callable

import typer
from typer.core import TyperCommand, TyperGroup


class _Unbuilt(TyperCommand):
    """Stands for a lazy command in its group's help and command list; never run."""

    def __init__(self, name: str, help: str, build: Callable[[], TyperCommand], **attrs) -> None:
        super().__init__(name=name, help=inspect.cleandoc(help), **attrs)
        self.build = build


class LazyGroup(TyperGroup):
    """A command group whose commands are built on first use.

    :meth:`lazy_command` registers a name, its help text and ``build()``, which returns the real
    click command. The group's help lists the name and help text without building anything;
    running the command, or asking for its own ``--help``, builds it (once per group).
    Subclass it once per Typer application (``typer.Typer(cls=...)``): each subclass keeps its
    own commands.
    """

    lazy_commands: dict[str, tuple[str, Callable[[], TyperCommand]]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.lazy_commands = {}

    @classmethod
    def lazy_command(cls, name: str, help: str, build: Callable[[], TyperCommand]) -> None:
        cls.lazy_commands[name] = (help, build)

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        for name, (help, build) in self.lazy_commands.items():
            self.commands.setdefault(name, _Unbuilt(name, help, build, rich_markup_mode=self.rich_markup_mode))

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Unbuilt):
            command = self.commands[name] = command.build()
        return name, command, rest


class TrainCommands(LazyGroup):
    """``genjscc train``: its commands are registered by :mod:`genjscc.cli.train`."""


app = typer.Typer(
    help="genjscc: send images over noisy channels with (generative) deep joint source-channel coding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model (Lightning; CPU, GPU or many GPUs).", no_args_is_help=True,
                        cls=TrainCommands)
zoo_app = typer.Typer(help="Shipped weights.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(zoo_app, name="zoo")


def fail(message: str) -> "typer.Exit":
    """Print ``error: message`` to stderr and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)
