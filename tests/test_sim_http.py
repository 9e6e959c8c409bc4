"""The simulated store over real loopback HTTP, through ASGI, and as ``python -m mivaorders.testing``."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

import mivaorders
from mivaorders._json import dumps
from mivaorders.testing import FakeStore, Fault
from mivaorders.testing._protocol import hmac_signature
from mivaorders.testing._simulate import run_simulator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store() -> FakeStore:
    return FakeStore(orders=60, seed=5)


def signed(store: FakeStore, document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = dumps({"Store_Code": store.store_code, "Miva_Request_Timestamp": store.clock.now(), **document})
    auth = f"MIVA-HMAC-SHA256 {store.token}:{hmac_signature(store.signing_key, body)}"
    return body, {"Content-Type": "application/json", "X-Miva-API-Authorization": auth}


QUERY = {"Function": "OrderList_Load_Query", "Count": 5, "Sort": "id"}


def test_serve_answers_over_real_http(store: FakeStore) -> None:
    store.faults.clear()
    with store.serve() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        assert endpoint.endswith("/mm5/json.mvc")
        body, headers = signed(store, QUERY)
        response = httpx.post(endpoint, content=body, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        data = response.json()
        assert data["success"] == 1
        assert len(data["data"]["data"]) == 5
        assert (
            httpx.post(endpoint.replace("json.mvc", "other.mvc"), content=body, headers=headers).status_code
            == 404
        )
        with mivaorders.Client(
            endpoint, store_code=store.store_code, auth=mivaorders.HmacAuth(store.token, store.signing_key)
        ) as client:
            assert client.call("OrderList_Load_Query", {"Count": 1})["data"]["total_count"] == 60


def test_truncated_and_dropped_answers_are_real(store: FakeStore) -> None:
    with store.serve() as endpoint, httpx.Client() as http:
        body, headers = signed(store, QUERY)
        full = http.post(endpoint, content=body, headers=headers).content
        store.faults.script(Fault.truncate(keep=0.5), when="after")
        cut = http.post(endpoint, content=body, headers=headers)
        assert int(cut.headers["content-length"]) == len(cut.content) == len(full) // 2
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.content)
        store.faults.script(Fault.drop(keep=0.5), when="after")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(endpoint, content=body, headers=headers)
        store.faults.script(Fault.drop(), when="before")
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(endpoint, content=body, headers=headers)
        store.faults.script(Fault.slow(0.5), when="after")
        with pytest.raises(httpx.ReadTimeout):
            http.post(endpoint, content=body, headers=headers, timeout=httpx.Timeout(5, read=0.1))
        store.faults.script(Fault.rate_limit(retry_after=3))
        limited = http.post(endpoint, content=body, headers=headers)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
        assert http.post(endpoint, content=body, headers=headers).json()["success"] == 1


def test_the_server_refuses_non_loopback_hosts(store: FakeStore) -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):  # noqa: S104 - the point is to refuse it
        with pytest.raises(ValueError, match="loopback"), store.serve(host=host):
            pass  # pragma: no cover


def test_the_asgi_app(store: FakeStore) -> None:
    import anyio

    async def run() -> None:
        transport = httpx.ASGITransport(app=store.asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="https://sim.test") as http:
            body, headers = signed(store, QUERY)
            response = await http.post("/mm5/json.mvc", content=body, headers=headers)
            assert response.json()["success"] == 1
            assert response.headers["content-length"] == str(len(response.content))
            assert (await http.post("/elsewhere", content=body, headers=headers)).status_code == 404
            denied = await http.get("/mm5/json.mvc", headers=headers)
            assert denied.json()["error_message"] == "Invalid request method"
            store.faults.script(Fault.http(504))
            assert (await http.post("/mm5/json.mvc", content=body, headers=headers)).status_code == 504

    anyio.run(run)


def test_run_simulator_prints_one_line_and_serves(store: FakeStore) -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(target=run_simulator, args=(0, 30, 2, 0.0), kwargs={"out": out, "stop": stop})
    thread.start()
    try:
        for _ in range(200):
            if out.getvalue():
                break
            time.sleep(0.02)
        info = json.loads(out.getvalue())
        assert set(info) == {"endpoint", "store_code", "token", "signing_key"}
        auth = mivaorders.HmacAuth(info["token"], info["signing_key"])
        with mivaorders.Client(info["endpoint"], store_code=info["store_code"], auth=auth) as client:
            assert client.call("OrderList_Load_Query", {"Count": 1})["data"]["total_count"] == 30
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_python_dash_m_runs_the_simulator() -> None:
    command = [sys.executable, "-m", "mivaorders.testing", "--port", "0", "--orders", "20", "--seed", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["store_code"] == FakeStore(orders=1, seed=3).store_code
        assert info["token"] == FakeStore(orders=1, seed=3).token
        auth = mivaorders.HmacAuth(info["token"], info["signing_key"])
        with mivaorders.Client(info["endpoint"], store_code=info["store_code"], auth=auth) as client:
            assert client.call("OrderList_Load_Query", {"Count": 1})["data"]["total_count"] == 20
    finally:
        process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
