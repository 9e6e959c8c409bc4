"""Where the CLI writes: results on stdout, notes, warnings and progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from mivaorders import _json

__all__ = ["CliError", "Console", "Progress", "plural"]

#: Exit codes (see docs/cli.md).
EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for a terminated process


class CliError(Exception):
    """A failure the CLI reports as one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


class Console:
    """The two streams and the global output switches (``--quiet``, ``--json``)."""

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool, json: bool) -> None:
        self.out = out
        self.err = err
        self.quiet = quiet
        self.json = json

    def line(self, text: str = "") -> None:
        """A line of the human-readable result (stdout)."""
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        """Commentary on stderr; ``--quiet`` drops it."""
        if not self.quiet:
            self.err.write(text + "\n")
            self.err.flush()

    def warn(self, text: str) -> None:
        """A warning on stderr; shown even with ``--quiet``."""
        self.err.write(f"mivaorders: warning: {text}\n")
        self.err.flush()

    def emit_json(self, value: Any) -> None:
        # Exact decimals, as everywhere else in the SDK.
        self.out.write(_json.dumps(value).decode("ascii") + "\n")

    def progress(self, label: str, unit: str = "orders") -> Progress:
        return Progress(self.err, label, unit, enabled=not self.quiet, tty=_isatty(self.err))


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """A hand-rolled progress bar on a TTY (redrawn with ``\\r``); occasional plain lines otherwise."""

    WIDTH = 28
    REDRAW_EVERY = 0.1  # seconds between redraws on a terminal
    LINE_EVERY = 10.0  # seconds between plain progress lines when stderr is not a terminal

    def __init__(
        self,
        stream: TextIO,
        label: str,
        unit: str,
        *,
        enabled: bool,
        tty: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self._unit = unit
        self._enabled = enabled
        self._tty = tty
        self._clock = clock
        self._started = clock()
        self._last = float("-inf")
        self._drawn = False
        self._width = 0

    def update(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        if not self._enabled:
            return
        now = self._clock()
        every = self.REDRAW_EVERY if self._tty else self.LINE_EVERY
        if not force and now - self._last < every:
            return
        if not self._tty and not force and now - self._started < self.LINE_EVERY:
            return  # short runs print no plain lines at all
        self._last = now
        text = self.render(done, total, now - self._started)
        if self._tty:
            padding = " " * max(0, self._width - len(text))
            self._stream.write("\r" + text + padding)
            self._width = len(text)
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def render(self, done: int, total: int | None, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        speed = f"{rate:,.0f} {self._unit}/s"
        if total:
            total = max(total, done)  # the count is a hint: orders change while a pull runs
            share = done / total
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            eta = _duration((total - done) / rate) if rate > 0 else "?"
            return f"{self._label} [{bar}] {done:,}/{total:,} {self._unit} {share:4.0%}  {speed}  ETA {eta}"
        return f"{self._label} {done:,} {self._unit}  {speed}  {_duration(elapsed)}"

    def close(self) -> None:
        """End the bar's line (call before printing anything else on stderr)."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
