"""Progress of long steps: corpus encodes, HotFlip, GGUF conversion, waiting on a cache lock.

A step is a `task`; it says something only when it runs longer than a moment, so the hundreds
of tiny query encodes of a session stay silent:

    with progress.task(f"encoding {n:,} documents with {name}", total=n) as t:
        for batch in batches:
            ...
            t.advance(len(batch))
    # robustest: encoding 1,033 documents with all-MiniLM-L6-v2 ... 1,033/1,033 (41 s, 25 texts/s)

Output goes to a sink: the pytest plugin sets a `TerminalSink` over pytest's terminal writer
(which bypasses output capture); elsewhere (scripts, notebooks, the CLI) it goes to stderr. A
live one-line bar on a terminal, a plain line every `PLAIN_EVERY` seconds otherwise (CI logs).
`TQDM_DISABLE=1` silences everything, as it does tqdm.

Standard library only at import: the core and the plugin import this without torch or pytest.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from typing import Iterator

PREFIX = "robustest: "
# Thresholds, in seconds (module constants so tests can set them to 0).
START_AFTER = 1.5  # a task still running after this shows itself
FINAL_AFTER = 1.0  # a task that took at least this reports its final line
PLAIN_EVERY = 15.0  # between plain progress lines (not a terminal: CI logs)
LIVE_EVERY = 0.2  # between redraws of a live bar
START_TOTAL = 1000  # a task this large shows its start line at once: its first step may be slow

_sink = None  # None: the default stderr sink, built when a task starts (sys.stderr may change)
_depth = 0  # tasks running: one inside another (an encode inside HotFlip) stays silent


def disabled() -> bool:
    """TQDM_DISABLE set to a true value, as tqdm reads it."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


class _Stream:
    """The writer interface TerminalSink uses, over a text stream."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str, *, flush: bool = False) -> None:
        self.stream.write(s)
        if flush:
            self.stream.flush()

    @property
    def fullwidth(self) -> int:
        return shutil.get_terminal_size().columns


class TerminalSink:
    """Writes progress through `writer` (pytest's TerminalWriter or anything with
    `write(s, flush=...)`): a live bar redrawn with carriage returns when `live`, plain lines
    otherwise; nothing when `verbosity <= -2` (pytest -qq).

    Another sink needs the same four members: `interval` (seconds between updates),
    `update(text)` (a running task's state), `finish(text)` (its last line), `line(text)`."""

    def __init__(self, writer, *, live: bool, verbosity: int = 0):
        self.writer = writer
        self.live = live
        self.silent = verbosity <= -2
        self._bar = 0  # width of the live bar on screen, 0 when none

    @property
    def interval(self) -> float:
        return LIVE_EVERY if self.live else PLAIN_EVERY

    def update(self, text: str) -> None:
        """A task's state while it runs."""
        if self.silent:
            return
        if not self.live:
            return self.line(text)
        if not self._bar:
            self._break_line()
        width = getattr(self.writer, "fullwidth", 80) - 1
        if len(text) > width:  # a wrapped bar cannot be redrawn: shorten the description, keep the counts
            head, _, tail = text.rpartition(" ... ")
            text = (head[: max(width - len(tail) - 5, 0)] + " ... " + tail)[:width]
        self.writer.write("\r" + text.ljust(self._bar), flush=True)
        self._bar = max(self._bar, len(text))

    def finish(self, text: str) -> None:
        """A task's final line (replaces its live bar)."""
        if self.silent:
            return
        if self._bar:
            self.writer.write("\r" + text.ljust(self._bar) + "\n", flush=True)
            self._bar = 0
        else:
            self.line(text)

    def line(self, text: str) -> None:
        if self.silent:
            return
        if self._bar:  # a note while a bar is up: keep the bar's line
            self.writer.write("\n")
            self._bar = 0
        self._break_line()
        self.writer.write(text + "\n", flush=True)

    def _break_line(self) -> None:
        # pytest may be mid-line ("tests/test_x.py ..."): start ours on a line of its own.
        if getattr(self.writer, "width_of_current_line", 0):
            self.writer.write("\n")


def default_sink() -> TerminalSink:
    stream = sys.stderr
    isatty = getattr(stream, "isatty", None)
    return TerminalSink(_Stream(stream), live=bool(isatty and isatty()))


def set_sink(sink) -> None:
    """Where progress goes from now on; None: the default (stderr)."""
    global _sink
    _sink = sink


def get_sink():
    return _sink if _sink is not None else default_sink()


@contextmanager
def using(sink) -> Iterator[None]:
    """Progress goes to `sink` inside the block."""
    previous = _sink
    set_sink(sink)
    try:
        yield
    finally:
        set_sink(previous)


def note(text: str) -> None:
    """A one-off message (e.g. waiting on a lock), unless TQDM_DISABLE."""
    if not disabled():
        get_sink().line(PREFIX + text)


class Task:
    def __init__(self, description: str, total: int | None, unit: str, sink):
        self.description = description
        self.total = total
        self.unit = unit
        self.sink = sink  # None: silent
        self.count = 0
        self.suffix = ""  # appended to the final line: ", cached"
        self.started = time.monotonic()
        self.shown = False
        self._last = self.started

    def advance(self, n: int = 1) -> None:
        self.count += n
        if self.sink is None:
            return
        now = time.monotonic()
        if self.shown:
            due = now - self._last >= self.sink.interval
        else:
            due = now - self.started >= START_AFTER
        if due:
            self._show(now)

    def done(self, word: str) -> None:
        """A last word for the final line, e.g. `t.done("cached")`."""
        self.suffix = word

    def text(self, now: float, final: bool = False) -> str:
        elapsed = now - self.started
        if self.total is None:
            counted = f"{self.count:,} {self.unit}, " if self.count else ""
            state = f"done ({counted}{duration(elapsed)})" if final else f"{counted}{duration(elapsed)}"
        else:
            state = f"{self.count:,}/{self.total:,} ({duration(elapsed)}"
            state += f", {rate(self.count, elapsed, self.unit)})" if self.count and elapsed > 0 else ")"
        return f"{PREFIX}{self.description} ... {state}"

    def _start(self) -> None:
        self.shown = True
        self.sink.update(f"{PREFIX}{self.description} ...")

    def _show(self, now: float) -> None:
        self.shown, self._last = True, now
        self.sink.update(self.text(now))

    def _finish(self, failed: bool) -> None:
        if self.sink is None:
            return
        now = time.monotonic()
        if failed and self.shown:
            self.sink.finish(self.text(now) + ", stopped")
        elif not failed and (self.shown or now - self.started >= FINAL_AFTER):
            self.sink.finish(self.text(now, final=True) + (f", {self.suffix}" if self.suffix else ""))


@contextmanager
def task(description: str, total: int | None = None, unit: str = "texts", *, enabled: bool = True, announce: bool = True) -> Iterator[Task]:
    """A long step of `total` units (None: unknown, e.g. a conversion); yields a `Task` to
    `advance`. Silent when `enabled` is false, under TQDM_DISABLE, inside another task, or
    when it is over quicker than `FINAL_AFTER`. A task of unknown or large total shows its
    start line at once unless `announce` is false (then only once it has run a while)."""
    global _depth
    sink = get_sink() if enabled and _depth == 0 and not disabled() else None
    if sink is not None and getattr(sink, "silent", False):
        sink = None
    t = Task(description, total, unit, sink)
    _depth += 1
    try:
        if sink is not None and announce and (total is None or total >= START_TOTAL):
            t._start()
        yield t
    except BaseException:
        t._finish(failed=True)
        raise
    else:
        t._finish(failed=False)
    finally:
        _depth -= 1


@contextmanager
def file_lock(path, waiting_for: str) -> Iterator[None]:
    """Hold the file lock at `path`; when another process holds it, say so once, then wait."""
    from filelock import FileLock, Timeout

    from .errors import RobustestError

    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            note(f"waiting for another process to finish {waiting_for} (lock {path})")
            lock.acquire()
    except OSError as exc:  # a folder where the lock file belongs, a read-only cache
        raise RobustestError(f"cannot lock {path} ({exc.strerror or exc}); remove it, or pass --robustest-cache-dir=DIR with a writable folder") from None
    try:
        yield
    finally:
        lock.release()


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def rate(count: int, seconds: float, unit: str) -> str:
    """`25 texts/s`, or `4.2 s/iteration` when slower than one a second."""
    per_second = count / seconds
    if per_second >= 10:
        return f"{per_second:,.0f} {unit}/s".replace(" /", "/")
    if per_second >= 1:
        return f"{per_second:.1f} {unit}/s".replace(" /", "/")
    one = unit[:-1] if unit.endswith("s") else unit
    return f"{1 / per_second:.1f} s/{one or 'step'}"
