"""The Typer application object and helpers shared by every command module.

Command modules (``n2ldiff.cli.<command>``) import ``app`` from here and register themselves with
``@app.command()``; ``n2ldiff.cli`` imports them all. Commands stay thin: they parse options, call the
Python API and print results. Options that several commands share are made here, once: ``--seeds``
(``seeds_option``, one syntax and default), ``--progress/--no-progress`` (``progress_option``) and
``--sampler`` (``SAMPLER_HELP``: the names come from the sampler registry when help is shown, so an
ordinary run does not import torch just to print them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from typer.core import TyperCommand

from n2ldiff.errors import N2LDiffError
from n2ldiff.seeds import SEEDS_HELP

#: ``--sampler`` help; ``{samplers}`` becomes the registry's names (``SAMPLERS``) when help is shown.
SAMPLER_HELP = "Sampler: {samplers} (default: the model's)."


def _registry_names() -> dict[str, str]:
    from n2ldiff.diffusion.samplers import SAMPLERS

    return {"{samplers}": " | ".join(SAMPLERS)}


class _Command(TyperCommand):
    """A command whose option help may name registry entries (``{samplers}``), filled in lazily."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names: dict[str, str] | None = None
        for param in self.params:
            help_text = getattr(param, "help", None)
            if help_text and "{" in help_text:
                names = names if names is not None else _registry_names()
                for placeholder, value in names.items():
                    help_text = help_text.replace(placeholder, value)
                param.help = help_text  # type: ignore[attr-defined]
        return super().format_help(ctx, formatter)


class _Typer(typer.Typer):
    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


def seeds_option() -> Any:
    """``--seeds/-s``: whole numbers separated by spaces or commas, or repeated (``seeds.parse_seeds``)."""
    return typer.Option(None, "--seeds", "-s", help=SEEDS_HELP, metavar="SEED...")


def progress_option() -> Any:
    """``--progress/--no-progress``: the progress bar on stderr (on by default)."""
    return typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr.")


app = _Typer(
    name="n2ldiff",
    help="Realistic low-light synthesis (N2LDiff): generate, simulate, benchmark, train, build datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(func: F) -> F:
    """Turn an ``N2LDiffError`` into a one-line message and exit code 2, with no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except N2LDiffError as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]
