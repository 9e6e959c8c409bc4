from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def load_fixture(name: str) -> Any:
    """A fixture from tests/fixtures, parsed with exact decimals."""
    from mivaorders._json import loads

    return loads((FIXTURES / name).read_bytes())


def load_fixture_plain(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())
