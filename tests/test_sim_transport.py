"""``FakeStore.transport()`` serves ``httpx.Client`` and ``httpx.AsyncClient``, like ``MockTransport``."""

from __future__ import annotations

import httpx
import pytest

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault


def _client(store: FakeStore, http: httpx.Client) -> mo.Client:
    return mo.Client(
        store.endpoint,
        store_code=store.store_code,
        auth=mo.HmacAuth(store.token, store.signing_key),
        http_client=http,
        clock=store.clock.time,
    )


def _async_client(store: FakeStore, http: httpx.AsyncClient) -> mo.AsyncClient:
    return mo.AsyncClient(
        store.endpoint,
        store_code=store.store_code,
        auth=mo.HmacAuth(store.token, store.signing_key),
        http_client=http,
        clock=store.clock.time,
    )


def test_one_transport_is_both_kinds() -> None:
    transport = FakeStore(orders=1, seed=1).transport()
    assert isinstance(transport, httpx.BaseTransport)
    assert isinstance(transport, httpx.AsyncBaseTransport)


def test_sync_client_on_the_transport() -> None:
    store = FakeStore(orders=12, seed=3)
    with httpx.Client(transport=store.transport()) as http, _client(store, http) as client:
        ids = [order.id for order in client.orders.iter(page_size=5, columns=())]
    assert sorted(ids) == sorted(store.truth())


@pytest.mark.anyio
async def test_async_client_on_the_same_transport() -> None:
    store = FakeStore(orders=12, seed=3)
    transport = store.transport()
    async with httpx.AsyncClient(transport=transport) as http, _async_client(store, http) as client:
        ids = [order.id async for order in client.orders.iter(page_size=5, columns=())]
    assert sorted(ids) == sorted(store.truth())
    # The very same object also still serves a sync client.
    with httpx.Client(transport=transport) as sync_http, _client(store, sync_http) as sync_client:
        assert sync_client.orders.get(ids[0]) is not None


@pytest.mark.anyio
async def test_async_faults_look_like_the_network() -> None:
    store = FakeStore(orders=3, seed=1)
    store.faults.script(Fault.drop())
    async with httpx.AsyncClient(transport=store.transport()) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(store.endpoint, content=b"{}")
