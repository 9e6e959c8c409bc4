"""Throwaway PostgreSQL and Redis servers on loopback, for tests and benchmarks of the fleet sync.

``local_postgres(directory)`` runs ``initdb`` and ``pg_ctl`` from the system's PostgreSQL (found on
``PATH`` or under ``/usr/lib/postgresql/*/bin``) and yields a DSN; ``local_redis(directory)`` runs
``redis-server`` and yields a URL. Both stop their server on exit. PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` (or ``nobody``) account and runs as it. The servers
trade durability for speed (``fsync=off``): they are for tests only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["ServerUnavailable", "free_port", "local_postgres", "local_redis"]


class ServerUnavailable(RuntimeError):
    """The server's programs are not installed here (or cannot run): skip, naming what is missing."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _postgres_bin(program: str) -> str:
    found = shutil.which(program)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), reverse=True)
    if not candidates:
        raise ServerUnavailable(
            f"PostgreSQL's {program} was not found on PATH or under /usr/lib/postgresql/*/bin "
            "(install the postgresql package)"
        )
    return candidates[0]


def _run_as() -> tuple[str | None, list[str]]:
    """(account, command prefix) to run PostgreSQL's programs: as root, another account."""
    if os.geteuid() != 0:
        return None, []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerUnavailable("running as root without runuser: PostgreSQL cannot be started")
    for account in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(account)
            return account, [runuser, "-u", account, "--"]
    raise ServerUnavailable("running as root and neither a 'postgres' nor a 'nobody' account exists")


def _check(command: Sequence[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ServerUnavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()[-500:]}")


@contextlib.contextmanager
def local_postgres(
    directory: str | os.PathLike[str] | None = None, *, user: str = "mivaorders"
) -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port; yields its DSN and removes the cluster after.

    The cluster lives in a new directory under ``directory`` (default: the system's temporary directory).
    As root it lives under the system's temporary directory whatever ``directory`` says, because the
    account that runs PostgreSQL must be able to reach it.
    """
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    account, prefix = _run_as()
    parent = None if account is not None or directory is None else str(directory)
    root = Path(tempfile.mkdtemp(prefix="mivaorders-pg-", dir=parent))
    try:
        if account is not None:
            entry = pwd.getpwnam(account)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        data = root / "pgdata"
        _check(
            [*prefix, initdb, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
            "initdb",
        )
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{root}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = root / "postgres.log"
        start = [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        _check(start, "pg_ctl start")
        try:
            yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(  # noqa: S603
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def local_redis(directory: str | os.PathLike[str]) -> Iterator[str]:
    """``redis-server`` on a free loopback port, nothing persisted; yields ``redis://127.0.0.1:PORT/0``."""
    server = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if server is None:
        raise ServerUnavailable("redis-server was not found (apt-get install -y redis-server)")
    port = free_port()
    command = [
        server,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]
    process = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerUnavailable(f"redis-server did not start (exit code {process.poll()})")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
