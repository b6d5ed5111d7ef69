"""The Typer application object and helpers shared by every command module.

Command modules (``n2ldiff.cli.<command>``) import ``app`` from here and register themselves with
``@app.command()``; ``n2ldiff.cli`` imports them all. Commands stay thin: they parse options, call the
Python API and print results. Options that several commands share are made here, once: ``--seeds``
(``seeds_option``, one syntax and default), ``--progress/--no-progress`` (``progress_option``),
``--device`` (``DEVICE_HELP``) and ``--sampler`` (``SAMPLER_HELP``: the names come from the sampler
registry when help is shown, so an ordinary run does not import torch just to print them). Help reads
like a usual command line (``Command``: ``INPUTS...``, ``--steps INTEGER``, flags without a label).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from n2ldiff.errors import N2LDiffError
from n2ldiff.seeds import DEFAULT_SEEDS, SEEDS_HELP

# Help texts shared by several commands, so that the same option reads the same everywhere.
DEVICE_HELP = "auto (a CUDA GPU when there is one, else the CPU), cpu, cuda or cuda:N."
BACKEND_HELP = (
    "Where the networks run: torch, onnx (ONNX Runtime) or openvino (the fastest on CPUs; pip install "
    "'n2ldiff[openvino]'). onnx and openvino run on the CPU from the model folder's n2ldiff export files, else "
    "from files exported once into ~/.cache/n2ldiff/onnx. Outputs agree within 1/255."
)
PROGRESS_HELP = "Show a progress bar on stderr (images/s over the images finished, ETA)."
#: ``--sampler`` help; ``{samplers}`` becomes the registry's names (``SAMPLERS``) when help is shown.
SAMPLER_HELP = "Sampler: {samplers} (default: the model's)."

# Typer labels values with Python types (``<int>``, ``<list[int]>``, ``<bool>`` on flags) and writes
# arguments as ``{inputs}...`` in usage lines. The parameter classes below give the usual CLI spelling
# instead: ``INPUTS...``, ``--steps INTEGER``, ``--layout [voc|coco]``, flags without a label.
_TYPE_LABELS = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "path": "PATH", "file": "FILE", "dir": "DIR"}


class _Argument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says it (INPUTS, VOC_ROOT); the help text says what it is

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 and not self.metavar else "")


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag:
            return None
        label = self.display_type(ctx).strip("<>")
        if label.startswith("list[") and label.endswith("]"):
            label = label[5:-1]
        return f"[{label}]" if "|" in label else _TYPE_LABELS.get(label, label.upper())


def _usual_help(params: list[Any]) -> None:
    # Typer builds its own parameter objects; giving them the subclasses above changes only their help.
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option


class _UsualHelp:
    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _usual_help(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        _usual_help([option])
        return option


def _registry_names() -> dict[str, str]:
    from n2ldiff.diffusion.samplers import SAMPLERS

    return {"{samplers}": " | ".join(SAMPLERS)}


class Command(_UsualHelp, TyperCommand):
    """A Typer command whose help reads like a usual CLI (see ``_Argument`` and ``_Option``) and whose
    option help may name registry entries (``{samplers}``), filled in lazily when help is shown."""

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


class Group(_UsualHelp, TyperGroup):
    """The ``n2ldiff`` group, with the same help style as its commands."""


class _App(typer.Typer):
    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def seeds_option(help_text: str = SEEDS_HELP) -> Any:
    """``--seeds/-s``: whole numbers separated by spaces or commas, or repeated (``seeds.parse_seeds``).

    The value is a list of texts for ``parse_seeds``; its default is ``DEFAULT_SEEDS``, shown in the help.
    """
    return typer.Option([str(seed) for seed in DEFAULT_SEEDS], "--seeds", "-s", help=help_text, metavar="SEED...")


def progress_option() -> Any:
    """``--progress/--no-progress``: the progress bar on stderr (on by default)."""
    return typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP)


app = _App(
    name="n2ldiff",
    cls=Group,
    help="Realistic low-light synthesis (N2LDiff): generate, simulate, benchmark, train, build datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        from n2ldiff import __version__

        typer.echo(f"n2ldiff {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Realistic low-light synthesis (N2LDiff): generate, simulate, benchmark, train, build datasets."""


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
