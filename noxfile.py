"""Developer sessions: ``nox -s tests``, ``typecheck``, ``lint``, ``docs``, ``bench``."""

from __future__ import annotations

import re
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "typecheck", "lint"]

# The supported versions are the ones pyproject.toml's classifiers promise, so the two cannot drift.
PYTHONS = re.findall(
    r'"Programming Language :: Python :: (3\.\d+)"', Path("pyproject.toml").read_text(encoding="utf-8")
)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite against the built wheel (not the source tree), on every supported Python."""
    session.install(".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(".[dev]")
    session.run("mypy")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    session.install(".[dev]")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks print ratios measured side by side; they are not pass/fail tests."""
    session.install(".[dev]")
    for script in sorted(session.posargs or ["benchmarks/bench_decode.py", "benchmarks/bench_pull.py"]):
        session.run("python", script)
