"""The progress bar of the command line (Rich, on stderr), fed by the engine's ``RunEvent``s.

``ProgressBar`` is a context manager and a callback: pass it as ``on_event`` to the engine, or call
``update(done, total)`` (the dataset builders report counts over all their shards; the utility benchmark
reports training steps with ``unit="step"``). It shows units/s and the remaining time, and prints failed
outputs above the bar as they happen.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from n2ldiff.inference.engine import RunEvent

__all__ = ["ProgressBar"]


class _UnitsPerSecond(ProgressColumn):
    """Units finished over the time since the run started (Rich's own speed only spans recent updates)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        if not task.completed or not elapsed:
            return Text(f"- {self.unit}/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.3g} {self.unit}/s", style="progress.data.speed")


class ProgressBar:
    """``with ProgressBar("generate", enabled=progress) as bar: run(..., on_event=bar)``."""

    def __init__(
        self, description: str, enabled: bool = True, console: Console | None = None, unit: str = "img"
    ) -> None:
        self.enabled = enabled
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _UnitsPerSecond(unit),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self._task = self._bar.add_task(description, total=None)

    def __enter__(self) -> ProgressBar:
        self._bar.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)

    def update(self, done: int, total: int | None) -> None:
        """``done`` of ``total`` outputs finished."""
        self._bar.update(self._task, completed=done, total=total)

    def __call__(self, event: RunEvent) -> None:
        self.update(event.done, event.total)
        if event.failure is not None and self.enabled:
            self._bar.console.print(f"[red]failed[/] {event.failure}", highlight=False)
