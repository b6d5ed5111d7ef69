"""The Typer application object and helpers shared by every command module.

Command modules (``n2ldiff.cli.<command>``) import ``app`` from here and register themselves with
``@app.command()``; ``n2ldiff.cli`` imports them all. Commands stay thin: they parse options, call the
Python API and print results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from n2ldiff.errors import N2LDiffError

app = typer.Typer(
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
