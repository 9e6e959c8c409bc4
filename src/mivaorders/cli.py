"""The ``mivaorders`` command: ``demo``, ``sync``, ``pull``, ``queue``, ``ship``, ``mark``, ``webhook parse``,
``simulate``.

``main(argv)`` returns the exit code (0 ok, 1 Miva/API/network error, 2 usage or configuration error,
3 authentication error, 4 partial result, 130 interrupted); the console script exits with it. Errors are
one line on stderr; ``--verbose`` adds debug logging and the traceback. Secrets never reach the output.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from ._cli.config import StoreSettings, resolve_settings
from ._cli.console import (
    EXIT_API,
    EXIT_AUTH,
    EXIT_INTERRUPTED,
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
        return _run(args, console, secrets, stdin)
    except KeyboardInterrupt:
        message = _INTERRUPTED.get(args.command, "interrupted")
        err.write(f"\nmivaorders: {message}\n")
        return EXIT_INTERRUPTED
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
