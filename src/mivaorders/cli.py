"""The ``mivaorders`` command: ``demo``, ``sync``, ``pull``, ``queue``, ``webhook parse``, ``simulate``.

``main(argv)`` returns the exit code (0 ok, 1 Miva/API/network error, 2 usage or configuration error,
3 authentication error, 4 partial result, 130 interrupted, 143 terminated); the console script exits with
it. Errors are one line on stderr; ``--verbose`` adds debug logging and the traceback. Secrets never reach
the output. SIGTERM stops a command the way Ctrl-C does; a second signal while it stops is ignored, so the
cleanup (closing the database, the resume note) always finishes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sqlite3
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import BinaryIO, TextIO

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
from ._exceptions import ArgumentError, AuthenticationError, ConfigurationError, MivaError

__all__ = ["main"]

_RESUMABLE = (
    "interrupted; the sync commits a checkpoint after every batch, so running it again resumes safely"
)
_INTERRUPTED = {
    "demo": _RESUMABLE,
    "sync": _RESUMABLE,
    "queue": "interrupted; orders not yet acknowledged stay in the queue and come again on the next drain",
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (and the exit code says which)."""


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """While a command runs, SIGTERM acts like SIGINT, and only the first of them interrupts.

    The first signal raises (``KeyboardInterrupt`` or :class:`_Terminated`) where the command is; the
    ones after it are ignored, so that closing the database and printing the resume note are not cut short
    by an impatient second Ctrl-C (which used to end the process with a traceback).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    stopping = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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


def _run(args: argparse.Namespace, console: Console, secrets: list[str], stdin: BinaryIO | None) -> int:
    command = args.command
    if command == "demo":
        from ._cli.demo import run_demo

        return run_demo(args, console)
    if command == "webhook":
        from ._cli.misc import run_webhook

        return run_webhook(args, console, stdin)
    if command == "simulate":
        from ._cli.misc import run_simulate

        return run_simulate(args, console)
    settings: StoreSettings = resolve_settings(args)
    secrets.extend(settings.secrets())
    with settings.client() as client:
        if command == "sync":
            from ._cli.pulls import run_sync

            return run_sync(args, console, client)
        if command == "pull":
            from ._cli.pulls import run_pull

            return run_pull(args, console, client)
        from ._cli.queues import run_queue

        return run_queue(args, console, client)


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
        with _stop_signals():
            try:
                return _run(args, console, secrets, stdin)
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
