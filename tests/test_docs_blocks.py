"""Every complete Python code block in ``docs/`` and ``README.md`` runs; fragments are marked and compile.

The convention (CONTRIBUTING.md, "Code blocks in the docs"):

- a ```` ```python ```` block is a complete program: it runs on its own, in a fresh interpreter, in an
  empty working directory, without network or credentials (use ``mivaorders.testing.FakeStore``);
- a block that is not (a signature overview, a snippet needing your own objects) has the line
  ``<!-- fragment -->`` (optionally ``<!-- fragment: why -->``) right above its fence: it is only compiled;
- a block that includes a file (``--8<-- "examples/x.py"``) is run by ``test_examples.py``; the one that
  includes ``scripts/notebook_plot.py`` (the notebook page's plot) is run below.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])

_OPEN = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)(?P<info>.*)$")
_CLOSE = re.compile(r"^\s*```\s*$")
_FRAGMENT = re.compile(r"^\s*<!--\s*fragment(:[^>]*)?-->\s*$")


@attrs.frozen
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def is_include(self) -> bool:
        return self.code.lstrip().startswith("--8<--")


def blocks_of(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not _CLOSE.match(lines[index]):
            body.append(lines[index][indent:])
            index += 1
        assert index < len(lines), f"{page.name}:{start + 1}: unclosed code fence"
        above = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        code = "\n".join(body) + "\n"
        found.append(Block(page, start + 1, opening["lang"], code, bool(_FRAGMENT.match(above))))
        index += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks_of(page)]
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py") and not b.is_include]
PROGRAMS = [b for b in PYTHON if not b.fragment]
FRAGMENTS = [b for b in PYTHON if b.fragment]


def test_the_docs_have_runnable_blocks() -> None:
    # Guards the parser: if it stopped finding blocks, the tests below would pass vacuously.
    assert len(PROGRAMS) >= 25
    assert len(FRAGMENTS) <= len(PROGRAMS) // 4, "most code blocks should be complete programs"


def test_fragment_markers_sit_on_python_blocks() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if _FRAGMENT.match(line):
                following = next((text for text in lines[number + 1 :] if text.strip()), "")
                opening = _OPEN.match(following)
                where = f"{page.name}:{number + 1}"
                assert opening is not None, f"{where}: a fragment marker must sit right above a code fence"
                assert opening["lang"] in ("python", "py"), f"{where}: only Python blocks are fragments"


@pytest.mark.parametrize("block", FRAGMENTS, ids=[b.id for b in FRAGMENTS])
def test_fragment_compiles(block: Block) -> None:
    compile(block.code, block.id, "exec")


@pytest.mark.parametrize("block", PROGRAMS, ids=[b.id for b in PROGRAMS])
def test_block_runs(block: Block, tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MIVA_")}
    result = subprocess.run(
        [sys.executable, "-c", block.code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, (
        f"{block.id} failed (mark it <!-- fragment --> if it is not meant to run):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr


def test_the_notebook_plot_script_draws_from_the_pandas_path(tmp_path: Path) -> None:
    out = tmp_path / "revenue.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "notebook_plot.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "500 orders" in result.stdout
    # The committed image is what the notebook page shows.
    assert (ROOT / "docs" / "img" / "notebook-revenue.png").read_bytes().startswith(b"\x89PNG")
