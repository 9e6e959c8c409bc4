"""Fault injection in the simulated store: scripted and random faults, before and after the store acted."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import mivaorders
from mivaorders._json import dumps, loads
from mivaorders.testing import FakeStore, Fault, StoreClock
from mivaorders.testing._faults import When
from mivaorders.testing._params import Params
from mivaorders.testing._protocol import hmac_signature

NOW = 1717250000


class CountingEngine:
    """A stand-in engine that counts what it executed."""

    def __init__(self) -> None:
        self.store_code = "SIM"
        self.clock = StoreClock(NOW, frozen=True)
        self.executed: list[str] = []

    def execute(self, params: Params) -> dict[str, Any]:
        name = params.get("Module_Function") if params.get("Function") == "Module" else params.get("Function")
        self.executed.append(str(name))
        return {
            "success": 1,
            "data": {"total_count": 1, "start_offset": 0, "data": [{"id": 1, "n": "x" * 40}]},
        }


def make_store(**options: Any) -> tuple[FakeStore, CountingEngine]:
    engine = CountingEngine()
    return FakeStore(engine=engine, **options), engine


def request(store: FakeStore, document: dict[str, Any], **headers: str) -> httpx.Request:
    body = dumps({"Store_Code": "SIM", "Miva_Request_Timestamp": NOW, **document})
    auth = f"MIVA-HMAC-SHA256 {store.token}:{hmac_signature(store.signing_key, body)}"
    sent = {"Content-Type": "application/json", "X-Miva-API-Authorization": auth, **headers}
    return httpx.Request("POST", store.endpoint, content=body, headers=sent)


def send(store: FakeStore, function: str = "OrderList_Load_Query", **extra: Any) -> httpx.Response:
    timeout = extra.pop("timeout", None)
    with httpx.Client(transport=store.transport(), timeout=timeout) as http:
        return http.send(request(store, {"Function": function, **extra}))


def test_scripted_http_errors_strike_before_the_store_acts() -> None:
    store, engine = make_store()
    store.faults.script(Fault.http(503), times=2)
    for _ in range(2):
        response = send(store)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
    assert engine.executed == []
    assert send(store).json()["success"] == 1
    assert engine.executed == ["OrderList_Load_Query"]
    stats = store.stats.snapshot()
    assert (stats["faults_before"], stats["faults_after"]) == (2, 0)
    assert stats["faults"] == {"http:before": 2}
    assert stats["by_status"] == {503: 2, 200: 1}
    assert store.faults.pending == 0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_after_faults_let_the_store_act_and_lose_the_answer(status: int) -> None:
    store, engine = make_store()
    store.faults.script(Fault.http(status), when="after")
    assert send(store).status_code == status
    assert engine.executed == ["OrderList_Load_Query"]
    assert store.stats.faults_after == 1


def test_rate_limit_and_api_error() -> None:
    store, _ = make_store()
    store.faults.script(Fault.rate_limit(retry_after=2))
    store.faults.script(Fault.rate_limit(retry_after=None))
    store.faults.script(Fault.api_error("MER-XYZ", "Broken"))
    first = send(store)
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    second = send(store)
    assert second.status_code == 429
    assert "retry-after" not in second.headers
    third = send(store)
    assert third.status_code == 200
    assert third.json() == {"success": 0, "error_code": "MER-XYZ", "error_message": "Broken"}


def test_faults_can_target_one_function() -> None:
    store, engine = make_store()
    store.faults.script(Fault.http(502), function="OrderList_Acknowledge")
    assert send(store).status_code == 200
    module = {"Module_Code": "orderworkflow", "Module_Function": "OrderList_Acknowledge"}
    assert send(store, "Module", **module).status_code == 502
    assert send(store, "Module", **module).status_code == 200
    assert engine.executed == ["OrderList_Load_Query", "OrderList_Acknowledge"]


def test_truncated_body_has_a_matching_content_length() -> None:
    store, engine = make_store()
    full = send(store).content
    store.faults.script(Fault.truncate(keep=0.5), when="after")
    response = send(store)
    assert int(response.headers["content-length"]) == len(response.content) == len(full) // 2
    assert full.startswith(response.content)
    with pytest.raises(ValueError, match=r"."):
        loads(response.content)
    assert len(engine.executed) == 2


def test_dropped_connections_raise_httpx_errors() -> None:
    store, engine = make_store()
    store.faults.script(Fault.drop(), when="before")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        send(store)
    assert engine.executed == []
    store.faults.script(Fault.drop(keep=0.25), when="after")
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        send(store)
    assert engine.executed == ["OrderList_Load_Query"]
    stats = store.stats.snapshot()
    assert stats["dropped"] == 2
    assert stats["faults"] == {"drop:before": 1, "drop:after": 1}


def test_slow_answers_run_into_read_timeouts() -> None:
    store, engine = make_store()
    store.faults.script(Fault.slow(0.3), when="after")
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        send(store, timeout=httpx.Timeout(5, read=0.05))
    assert 0.04 < time.perf_counter() - started < 0.3
    assert engine.executed == ["OrderList_Load_Query"]
    store.faults.script(Fault.slow(0.05), when="after")
    started = time.perf_counter()
    assert send(store).status_code == 200
    assert time.perf_counter() - started >= 0.05


def test_latency_applies_to_every_request() -> None:
    store, _ = make_store(latency_ms=40, jitter_ms=10)
    started = time.perf_counter()
    send(store)
    assert time.perf_counter() - started >= 0.04


def test_forced_206_only_strikes_multicalls() -> None:
    store, engine = make_store()
    store.faults.script(Fault.partial(operations=1), when="after")
    assert send(store).status_code == 200  # not a multicall: the fault waits
    operations = [{"Function": "OrderList_Load_Query"}] * 3
    response = send(store, "", Operations=operations)
    assert (response.status_code, response.headers["content-range"]) == (206, "1/3")
    assert len(response.json()) == 1
    assert len(engine.executed) == 2
    assert send(store, "", Operations=operations).status_code == 200


def test_after_only_faults_refuse_before() -> None:
    store, _ = make_store()
    for fault in (Fault.truncate(), Fault.slow(1), Fault.partial()):
        with pytest.raises(ValueError, match="after"):
            store.faults.script(fault, when="before")
    with pytest.raises(ValueError, match="status"):
        Fault.http(200)
    with pytest.raises(ValueError, match="keep"):
        Fault.drop(keep=1)


def _statuses(seed: int, count: int = 40) -> list[int | str]:
    store, _ = make_store()
    store.faults.random(rate=0.5, kinds=[Fault.http(500), Fault.drop(), Fault.rate_limit()], seed=seed)
    seen: list[int | str] = []
    for _ in range(count):
        try:
            seen.append(send(store).status_code)
        except httpx.RemoteProtocolError:
            seen.append("dropped")
    return seen


def test_random_faults_are_seeded_and_deterministic() -> None:
    first = _statuses(3)
    assert first == _statuses(3)
    assert first != _statuses(4)
    assert 5 < sum(1 for status in first if status != 200) < 35
    assert {500, 429, "dropped"} <= set(first)


def test_random_rates_and_when() -> None:
    store, engine = make_store()
    store.faults.random(rate=1, kinds=[Fault.http(503)], when="before")
    assert [send(store).status_code for _ in range(3)] == [503, 503, 503]
    assert engine.executed == []
    store.faults.random(rate=1, kinds=[Fault.http(503)], when="after")
    send(store)
    assert len(engine.executed) == 1
    store.faults.clear()
    assert not store.faults.active
    assert send(store).status_code == 200


@pytest.mark.anyio
async def test_async_transport_faults() -> None:
    store, engine = make_store()
    store.faults.script(Fault.drop(), when="after")
    store.faults.script(Fault.slow(0.3), when="after")
    async with httpx.AsyncClient(transport=store.async_transport()) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.send(request(store, {"Function": "OrderList_Load_Query"}))
        slow = request(store, {"Function": "OrderList_Load_Query"})
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                store.endpoint,
                content=slow.content,
                headers=slow.headers,
                timeout=httpx.Timeout(5, read=0.05),
            )
    assert len(engine.executed) == 2


def test_the_client_sees_faults_as_its_own_errors() -> None:
    store, _ = make_store()
    with store.client(retry=None) as client:
        store.faults.script(Fault.http(503))
        with pytest.raises(mivaorders.HTTPStatusError):
            client.call("OrderList_Load_Query")
        store.faults.script(Fault.truncate(), when="after")
        with pytest.raises(mivaorders.ResponseDecodeError):
            client.call("OrderList_Load_Query")
        store.faults.script(Fault.drop(), when="after")
        with pytest.raises(mivaorders.TransportError):
            client.call("OrderList_Load_Query")
        store.faults.script(Fault.api_error("MER-SIM-1", "nope"))
        with pytest.raises(mivaorders.APIError):
            client.call("OrderList_Load_Query")
        assert client.call("OrderList_Load_Query")["success"] == 1


@pytest.mark.parametrize(("when", "moved"), [("before", 0), ("after", 3)])
def test_a_lost_queue_answer_may_already_have_moved_the_queue(when: When, moved: int) -> None:
    store = FakeStore(orders=80, seed=2, workflow="move")
    for _ in range(4):
        store.create_order()
    waiting = store_queue(store)
    assert len(waiting) > 3
    store.faults.script(Fault.http(502), when=when, function="QueueOrderList_Load_Query")
    params = {"Queue_Code": "new_and_updated", "Count": 3}
    with store.client(retry=None) as client, pytest.raises(mivaorders.HTTPStatusError):
        client.call_module("orderworkflow", "QueueOrderList_Load_Query", params)
    assert len(store_queue(store)) == len(waiting) - moved
    assert store.stats.faults[f"http:{when}"] == 1


def store_queue(store: FakeStore) -> list[int]:
    return store.queue_members("new_and_updated")
