"""``examples/webhook_{flask,fastapi,starlette}.py`` import and answer real requests through each framework.

Flask through its own test client; FastAPI and Starlette through ``httpx.ASGITransport`` (what their docs
recommend for async tests), with the peer address set so the IP allow-list is exercised.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from mivaorders import json as exact_json
from mivaorders.testing import FakeStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOKEN = "t0k3n-for-the-webhook-examples-0123456789"


def _load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``examples/<name>.py`` afresh (each reads its token from the environment at import)."""
    monkeypatch.setenv("MIVA_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.delenv("MIVA_WEBHOOK_USER", raising=False)
    monkeypatch.delenv("MIVA_WEBHOOK_PASSWORD", raising=False)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bodies() -> dict[str, bytes]:
    """A storefront order (complete) and an admin order without a payment (incomplete), as Miva posts them."""
    store = FakeStore(orders=3, seed=1)
    incomplete_id = store.create_order(paid=False, admin=True)
    truth = store.truth()
    complete = next(data for oid, data in truth.items() if data["source"] == "shopper")
    return {"complete": exact_json.dumps(complete), "incomplete": exact_json.dumps(truth[incomplete_id])}


def _order_id(body: bytes) -> int:
    data = exact_json.loads(body)
    assert isinstance(data, dict)
    value = data["id"]
    assert isinstance(value, int)
    return value


@pytest.fixture(autouse=True)
def _forget_example_modules() -> Iterator[None]:
    yield
    for name in [n for n in sys.modules if n.startswith("example_webhook_")]:
        del sys.modules[name]


# -- Flask ---------------------------------------------------------------------------------------------


def test_flask_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bodies: dict[str, bytes]
) -> None:
    example = _load("webhook_flask", monkeypatch)
    client = example.app.test_client()
    url = f"/miva/webhook?token={TOKEN}"
    headers = {"Content-Type": "application/json"}

    assert client.get("/").get_data(as_text=True) == "ok"  # the Flask app itself still answers

    answer = client.post(url, data=bodies["complete"], headers=headers)
    assert answer.status_code == 200
    order_id = _order_id(bodies["complete"])
    assert f"order {order_id} " in capsys.readouterr().out

    repeat = client.post(url, data=bodies["complete"], headers=headers)
    assert repeat.status_code == 200
    assert capsys.readouterr().out == ""  # LRUSeenStore skipped the exact repeat

    skipped = client.post(url, data=bodies["incomplete"], headers=headers)
    assert skipped.status_code == 200
    assert capsys.readouterr().out == ""  # skip_incomplete=True: an admin order without a payment

    refused = client.post("/miva/webhook?token=wrong", data=bodies["complete"], headers=headers)
    assert refused.status_code == 401
    assert client.get(f"{url}&Order_ID=42").status_code == 200
    assert "order id 42" in capsys.readouterr().out


# -- Starlette and FastAPI over ASGI -------------------------------------------------------------------


def _asgi_client(app: Any, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40123))
    return httpx.AsyncClient(transport=transport, base_url="https://sync.example.com")


@pytest.mark.anyio
async def test_starlette_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bodies: dict[str, bytes]
) -> None:
    example = _load("webhook_starlette", monkeypatch)
    headers = {"Content-Type": "application/json"}
    url = f"/miva/webhook?token={TOKEN}"
    async with _asgi_client(example.app, "203.0.113.9") as client:
        answer = await client.post(url, content=bodies["complete"], headers=headers)
        assert answer.status_code == 200
        assert f"order {_order_id(bodies['complete'])} " in capsys.readouterr().out

        # The handler itself ignores an incomplete order; the receiver still answers 200.
        answer = await client.post(url, content=bodies["incomplete"], headers=headers)
        assert answer.status_code == 200
        assert capsys.readouterr().out == ""

        refused = await client.post("/miva/webhook?token=nope", content=bodies["complete"], headers=headers)
        assert refused.status_code == 401
        not_json = await client.post(url, content=b"<html>", headers=headers)
        assert not_json.status_code == 400


@pytest.mark.anyio
async def test_fastapi_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bodies: dict[str, bytes]
) -> None:
    example = _load("webhook_fastapi", monkeypatch)
    headers = {"Content-Type": "application/json"}
    url = f"/miva/webhook?token={TOKEN}"
    order_id = _order_id(bodies["complete"])
    async with _asgi_client(example.app, "192.0.2.44") as client:  # inside the example's allow-list
        answer = await client.post(url, content=bodies["complete"], headers=headers)
        assert (answer.status_code, answer.json()) == (200, {"ok": True})
        # The background task ran after the answer was sent.
        assert f"order {order_id} " in capsys.readouterr().out

        repeat = await client.post(url, content=bodies["complete"], headers=headers)
        assert repeat.status_code == 200
        assert capsys.readouterr().out == ""  # seen by (id, dt_updated)

        notified = await client.get(f"{url}&Order_ID=77")
        assert notified.status_code == 200
        assert "fetch order 77" in capsys.readouterr().out

        bad = await client.post(url, content=b'{"id": NaN}', headers=headers)
        assert (bad.status_code, bad.json()) == (400, {"error": "non_finite_number"})

    async with _asgi_client(example.app, "198.51.100.3") as outsider:  # outside the allow-list
        denied = await outsider.post(url, content=bodies["complete"], headers=headers)
        assert (denied.status_code, denied.json()) == (403, {"error": "ip_not_allowed"})
