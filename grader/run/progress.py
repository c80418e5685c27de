"""Progress of a class run, for people and for scripts.

Three displays of the executors' Events: a live rich bar on a terminal (done/total, ETA, the
students running now, failures so far with their one-line reason), plain lines when the output
is not a terminal, and `jsonl`, one JSON object per event. `make_display` picks one.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from typing import IO, Literal

from grader.run.executors import Event

Mode = Literal["auto", "bar", "plain", "jsonl"]


def event_json(event: Event) -> str:
    return json.dumps({k: v for k, v in dataclasses.asdict(event).items() if v is not None},
                      allow_nan=False)


class JsonlDisplay:
    """One JSON object per line per event (started, finished with status and points, failed);
    notices are not events and go to stderr."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        self.stream.write(event_json(event) + "\n")
        self.stream.flush()

    def notice(self, text: str) -> None:
        print(f"... {text}", file=sys.stderr, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Counts:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, set(), {}
        self.running: dict[str, float] = {}
        self.started_at = time.monotonic()
        self.durations: list[float] = []

    def update(self, event: Event) -> None:
        if event.kind == "started":
            self.running[event.student] = time.monotonic()
            return
        began = self.running.pop(event.student, None)
        if began is not None:
            self.durations.append(time.monotonic() - began)
        self.done.add(event.student)
        if event.kind == "failed":
            self.failed[event.student] = event.reason or event.status or "failed"
        else:
            self.failed.pop(event.student, None)

    def eta_seconds(self) -> float | None:
        """Remaining students x the mean time per finished student / students at once."""
        if not self.durations:
            return None
        left = self.total - len(self.done)
        at_once = max(1, len(self.running))
        return left * (sum(self.durations) / len(self.durations)) / at_once


def _points(event: Event) -> str:
    if event.points is None:
        return ""
    return f" {event.points:g}/{event.possible:g}" if event.possible is not None \
        else f" {event.points:g}"


class PlainDisplay:
    """A line per finished student (and per start), for logs and pipes."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.counts = _Counts(total)

    def __call__(self, event: Event) -> None:
        self.counts.update(event)
        c = self.counts
        n = f"[{len(c.done)}/{c.total}]"
        if event.kind == "started":
            line = f"... grading {event.student}"
        else:
            cached = " (stored result reused)" if event.cached else ""
            why = f": {event.reason}" if event.kind == "failed" and event.reason else ""
            line = f"{n} {event.student} {event.status}{_points(event)}{cached}{why}"
        print(line, file=self.stream, flush=True)

    def notice(self, text: str) -> None:
        print(f"... {text}", file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class BarDisplay:
    """A live rich progress bar on the terminal (stderr)."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.counts = _Counts(total)
        self.console = Console(file=stream or sys.stderr)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         transient=False, get_renderable=self._render)

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        c = self.counts
        eta = c.eta_seconds()
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=max(1, c.total), completed=len(c.done), width=40),
                     f"{len(c.done)}/{c.total} students",
                     f"ETA {_clock(eta)}" if eta is not None and len(c.done) < c.total else "",
                     f"[red]{len(c.failed)} failed[/]" if c.failed else "")
        if c.running:
            now = time.monotonic()
            grid.add_row("", "running: " + ", ".join(
                f"{s} ({_clock(now - t)})" for s, t in sorted(c.running.items())), "", "")
        for student, why in list(c.failed.items())[-8:]:
            grid.add_row("", f"[red]failed[/] {student}: {why}", "", "")
        return grid

    def __call__(self, event: Event) -> None:
        self.counts.update(event)
        self.live.refresh()

    def notice(self, text: str) -> None:
        self.live.console.print(f"... {text}")

    def __enter__(self):
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.refresh()
        self.live.stop()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def make_display(mode: Mode, total: int, *, is_terminal: bool | None = None):
    """auto: the live bar (drawn on stderr) when stdout and stderr are terminals, else plain
    lines on stderr."""
    if mode == "jsonl":
        return JsonlDisplay(total)
    if is_terminal is None:
        is_terminal = sys.stdout.isatty() and sys.stderr.isatty()
    if mode == "bar" or (mode == "auto" and is_terminal):
        return BarDisplay(total)
    return PlainDisplay(total)
