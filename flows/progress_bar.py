"""A rich progress bar for runs and backfills: chunks (backfills), pages fetched, counts and ETA."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class BackfillProgress:
    def __init__(self, chunks: int | None, enabled: bool = True):
        """``chunks``: a backfill's chunk count; None for a single run (pages only)."""
        self.enabled = enabled
        self.counts = {"fetched": 0, "not_modified": 0, "failed": 0, "new": 0}
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), disable=not enabled, transient=False)
        self.chunks = self.progress.add_task("chunks", total=chunks, counts="") if chunks is not None else None
        self.pages = self.progress.add_task("pages ", total=0, counts="")

    def handle(self, event: str, data: dict) -> None:
        if event == "discovered":
            total = self.progress.tasks[self.pages].total or 0
            self.progress.update(self.pages, total=total + data["urls"])
        elif event == "batch":
            for k in self.counts:
                self.counts[k] += data["counters"].get(k, 0)
            self.progress.update(self.pages, advance=data["pages"],
                                 counts=" ".join(f"{k}={v}" for k, v in self.counts.items()))
        elif event == "chunk_done" and self.chunks is not None:
            self.progress.update(self.chunks, advance=1)

    def __enter__(self) -> "BackfillProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()
