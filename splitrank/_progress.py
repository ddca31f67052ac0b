"""Progress bars for long work, one bar per pipeline stage (rich), with elapsed time and an ETA."""

from __future__ import annotations

from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class StageProgress:
    """Context manager whose ``update(stage, done, total, figures)`` drives a bar per stage."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._progress = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[figures]}"), disable=not enabled, transient=False)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StageProgress:  # noqa: PYI034 - not subclassed
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.__exit__(kind, err, tb)

    def update(self, stage: str, done: int, total: int, figures: dict[str, float]) -> None:
        """Advance ``stage`` to ``done`` of ``total``; ``figures`` (loss, validation score) are shown beside it."""
        text = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items() if k != "epoch")
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total, figures=text)
        self._progress.update(self._tasks[stage], completed=done, total=total, figures=text)
