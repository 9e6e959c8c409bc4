"""The ``mivaorders`` command: ``demo``, ``sync``, ``pull``, ``queue``, ``ship``, ``mark``, ``webhook parse``,
``simulate``.

``main(argv)`` returns the exit code (0 ok, 1 Miva/API/network error, 2 usage or configuration error,
3 authentication error, 4 partial result, 130 interrupted, 143 terminated); the console script exits with
it. Errors are one line on stderr; ``--verbose`` adds debug logging and the traceback. Secrets never reach
the output. SIGTERM stops a command the way Ctrl-C does, after the batch being stored; a second signal while
it stops is ignored, so the cleanup (closing the database, the resume note) always finishes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import CodeType, FrameType
from typing import Any, BinaryIO, TextIO

from ._cli.config import StoreSettings, resolve_settings
from ._cli.console import (
    EXIT_API,
    EXIT_AUTH,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliError,
    Console,
)
from ._cli.parser import build_parser
from ._cli.writeback import INTERRUPTED as WRITEBACK_INTERRUPTED
from ._exceptions import (
    APIError,
    ArgumentError,
    AuthenticationError,
    ConfigurationError,
    LostPageError,
    MivaError,
)

__all__ = ["main"]

_RESUMABLE = (
    "interrupted; the sync commits a checkpoint after every batch, so running it again resumes safely"
)
_INTERRUPTED = {
    "demo": _RESUMABLE,
    "sync": _RESUMABLE,
    "queue": "interrupted; orders not yet acknowledged stay in the queue and come again on the next drain",
    **WRITEBACK_INTERRUPTED,
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (and the exit code says which)."""


def _storing_code() -> frozenset[CodeType]:
    """The code that stores a batch or a checkpoint: a stop signal waits until it has returned."""
    from ._sinks import JsonFileCheckpoints, JsonLinesSink, SQLiteSink
    from .incremental import _Runner

    functions: list[Callable[..., object]] = [
        _Runner.commit,
        SQLiteSink.write,
        SQLiteSink.write_with_checkpoint,
        SQLiteSink.save_checkpoint,
        JsonLinesSink.write,
        JsonFileCheckpoints.save_checkpoint,
    ]
    return frozenset(function.__code__ for function in functions)


class _StopSignals:
    """While a command runs, SIGTERM acts like SIGINT, and only the first of them stops it.

    The first signal raises ``KeyboardInterrupt`` (or :class:`_Terminated`) where the command is, unless it is
    storing a batch: then the batch is finished first (checked again every 50 ms), so a stopped run ends on a
    committed batch. Signals after the first are ignored, so that closing the database and printing the
    resume note are not cut short by an impatient second Ctrl-C (which used to end with a traceback).
    """

    RECHECK = 0.05

    def __init__(self) -> None:
        self.stopping = False
        self.deferred: KeyboardInterrupt | None = None
        self._waiting_for: FrameType | None = None  # the store call the deferred stop waits for
        self._storing = _storing_code()
        self._previous: dict[int, Any] = {}
        # Deferring needs a timer signal (not on Windows); without one the first signal raises at once.
        self._can_defer = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGALRM] if self._can_defer else [])
        self._previous = {sig: signal.signal(sig, self._handle) for sig in signals}
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._can_defer and self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self._waiting_for = None
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _storing_frame(self, frame: FrameType | None) -> FrameType | None:
        """The outermost frame on the stack that is storing a batch, if any."""
        found = None
        while frame is not None:
            if frame.f_code in self._storing:
                found = frame
            frame = frame.f_back
        return found

    @staticmethod
    def _on_stack(target: FrameType, frame: FrameType | None) -> bool:
        while frame is not None:
            if frame is target:
                return True
            frame = frame.f_back
        return False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._can_defer and signum == signal.SIGALRM:
            if self.deferred is None:
                return
            if self._waiting_for is not None and self._on_stack(self._waiting_for, frame):
                signal.setitimer(signal.ITIMER_REAL, self.RECHECK)
                return
            # Only the batch that was being stored is waited for, not the ones after it.
            stop, self.deferred, self._waiting_for = self.deferred, None, None
            raise stop
        if self.stopping:
            return
        self.stopping = True
        stop = _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        storing = self._storing_frame(frame) if self._can_defer else None
        if storing is not None:
            self.deferred, self._waiting_for = stop, storing
            signal.setitimer(signal.ITIMER_REAL, self.RECHECK)
            return
        raise stop

    def raise_deferred(self) -> None:
        """A stop that waited for a batch which turned out to be the last one still stops the command."""
        if self.deferred is not None:
            stop, self.deferred, self._waiting_for = self.deferred, None, None
            raise stop


class _Redact(logging.Filter):
    """Belt and braces: blank out the configured secrets should any log line ever carry one."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 8:  # shorter ones are no real credential, and would mangle ordinary words
            text = text.replace(secret, "<redacted>")
    return text


# The store settings, by their argparse names; commands that talk to no store refuse them.
_STORE_OPTIONS = (
    "config",
    "endpoint",
    "store_code",
    "token",
    "signing_key",
    "signing_digest",
    "timeout",
    "allow_insecure_http",
)


def _refuse_store_settings(args: argparse.Namespace) -> None:
    given = [name for name in _STORE_OPTIONS if getattr(args, name, None) not in (None, False)]
    if given:
        flags = ["--" + name.replace("_", "-") for name in given]
        named = flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} and {flags[-1]}"
        verb = "does" if len(flags) == 1 else "do"
        raise CliError(f"{named} {verb} not apply to `{args.command}`, which talks to no store")


def _run(args: argparse.Namespace, console: Console, secrets: list[str], stdin: BinaryIO | None) -> int:
    command = args.command
    if command in ("demo", "webhook", "simulate"):
        _refuse_store_settings(args)  # given before the command (the command's own parser has none)
    if command == "demo":
        from ._cli.demo import run_demo

        return run_demo(args, console)
    if command == "webhook":
        from ._cli.misc import run_webhook

        return run_webhook(args, console, stdin)
    if command == "simulate":
        from ._cli.misc import run_simulate

        return run_simulate(args, console)
    if command == "fleet":
        from ._cli.fleet import run_fleet

        return run_fleet(args, console, secrets)
    settings: StoreSettings = resolve_settings(args)
    secrets.extend(settings.secrets())
    with settings.client() as client:
        try:
            if command == "sync":
                from ._cli.pulls import run_sync

                return run_sync(args, console, client)
            if command == "pull":
                from ._cli.pulls import run_pull

                return run_pull(args, console, client)
            if command in ("ship", "mark"):
                from ._cli.writeback import run_mark, run_ship

                return (run_ship if command == "ship" else run_mark)(args, console, client)
            from ._cli.queues import run_queue

            return run_queue(args, console, client)
        except APIError as exc:
            if _is_unknown_store(exc):
                raise CliError(_unknown_store_message(settings)) from exc
            raise


# Miva's answer to an unknown Store_Code is the database layer's "Record not found: MER-DBP-STR-00013"
# (error code EOF); whether the store-open wrapper rewrites it to its own code is unconfirmed, so both
# spellings are recognised.
_UNKNOWN_STORE = "MER-DBP-STR-00013"


def _is_unknown_store(exc: APIError) -> bool:
    return exc.error_code == _UNKNOWN_STORE or (
        exc.error_code == "EOF" and _UNKNOWN_STORE in (exc.error_message or "")
    )


def _unknown_store_message(settings: StoreSettings) -> str:
    origin = settings.origins.get("store_code", "the settings")
    source = {"flag": "--store-code", "environment": "MIVA_STORE_CODE"}.get(origin, f"store_code in {origin}")
    return (
        f"the store does not know store code {settings.store_code!r} (from {source}); use the Store Code "
        "shown in the Miva admin's store settings for the store this token belongs to"
    )


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, (ConfigurationError, ArgumentError)):
        return EXIT_USAGE
    return EXIT_API


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, AuthenticationError):
        text += " (check the token, the signing key and the store code, and that the token may call this)"
    if isinstance(exc, sqlite3.Error):
        text = f"database error: {text}"
    if isinstance(exc, LostPageError):
        moved_to = exc.moved_to or "<the queue the workflow moves orders to>"
        text += (
            f" (from the command line: mivaorders queue recover --since {exc.since:%Y-%m-%dT%H:%M:%SZ} "
            f"--moved-to {moved_to})"
        )
    return " ".join(text.split())  # one line


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: BinaryIO | None = None,
) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (argparse already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = Console(out, err, quiet=args.quiet, json=args.json)
    secrets: list[str] = [value for value in (args.token, args.signing_key) if value]
    logger = logging.getLogger("mivaorders")
    handler: logging.Handler | None = None
    previous_level = logger.level
    if args.verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_Redact(secrets))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        with _StopSignals() as stop_signals:
            try:
                code = _run(args, console, secrets, stdin)
                stop_signals.raise_deferred()
                return code
            except KeyboardInterrupt as exc:
                message = _INTERRUPTED.get(args.command, "interrupted")
                if isinstance(exc, _Terminated):
                    message = message.replace("interrupted", "terminated (SIGTERM)", 1)
                err.write(f"\nmivaorders: {message}\n")
                err.flush()
                return EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0  # the reader (e.g. `head`) went away: nothing left to say
    except (CliError, MivaError, OSError, sqlite3.Error) as exc:
        if args.verbose:
            err.write(redact("".join(traceback.format_exception(exc)), secrets))
        err.write(f"mivaorders: error: {redact(_describe(exc), secrets)}\n")
        return _exit_code(exc)
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(previous_level)
