"""Every example in ``examples/`` runs to completion (the webhook ones: see ``test_webhook_examples.py``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("webhook_"))


def test_there_are_examples() -> None:
    names = {p.stem for p in SCRIPTS}
    for method in ("date_range", "last_update", "order_number", "workflow_ack", "workflow_no_ack"):
        assert method in names


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_runs(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES.parent,
        check=False,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script.name} printed nothing"
    assert "Traceback" not in result.stderr


def test_docs_include_the_examples_that_run() -> None:
    """The guides show the example files through mkdocs snippets; a mangled directive would show junk."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    includes = []
    for page in docs.rglob("*.md"):
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("--8"):
                match = re.fullmatch(r'--8<-- "([^"]+)"', line.strip())
                assert match, f"{page.name}: malformed snippet directive {line!r}"
                includes.append(match.group(1))
                assert (docs.parent / match.group(1)).is_file(), f"{page.name}: {match.group(1)} is missing"
    assert sum(1 for i in includes if i.startswith("examples/")) >= 6
