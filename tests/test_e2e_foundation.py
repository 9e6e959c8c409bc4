"""The foundation's "done when": both clients pull a page of orders over real HTTP from our independent
implementation of the Miva JSON API (HMAC-SHA256 and timestamps required) while it answers 30% of requests
with 5xx, 429, truncated bodies or dropped connections, and raise the typed errors for authentication
failures and ``success: 0``."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault

KINDS = ["sync", "async"]
PATIENT = mo.RetryPolicy(max_attempts=15, wait=False)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeStore, str]]:
    store = FakeStore(orders=200, seed=42, require_signature=True, require_timestamp=True)
    with store.serve() as endpoint:
        yield store, endpoint


def call(kind: str, endpoint: str, function: str, params: dict[str, Any], **options: Any) -> dict[str, Any]:
    if kind == "sync":
        with mo.Client(endpoint, **options) as client:
            return client.call(function, params)

    async def go() -> dict[str, Any]:
        async with mo.AsyncClient(endpoint, **options) as client:
            return await client.call(function, params)

    return asyncio.run(go())


def options(store: FakeStore, **changes: Any) -> dict[str, Any]:
    return {
        "store_code": store.store_code,
        "auth": mo.HmacAuth(store.token, store.signing_key),
        "clock": store.clock.time,
        "retry": PATIENT,
        **changes,
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_pulls_pages_while_thirty_percent_of_answers_fail(served: tuple[FakeStore, str], kind: str) -> None:
    store, endpoint = served
    store.faults.random(
        rate=0.3,
        seed=9,
        kinds=[
            Fault.http(500),
            Fault.http(502),
            Fault.http(503),
            Fault.rate_limit(0),
            Fault.truncate(0.5),
            Fault.drop(0.4),
        ],
    )
    store.stats.reset()
    try:
        for offset in range(0, 200, 25):
            reply = call(
                kind,
                endpoint,
                "OrderList_Load_Query",
                {"Count": 25, "Offset": offset, "Sort": "id"},
                **options(store),
            )
            assert reply["success"] == 1
            assert len(reply["data"]["data"]) == 25
            assert reply["data"]["total_count"] == 200
    finally:
        store.faults.clear()
    assert store.stats.faults_before + store.stats.faults_after >= 3
    assert store.stats.requests > 8


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_signing_key_is_an_authentication_error(served: tuple[FakeStore, str], kind: str) -> None:
    store, endpoint = served
    wrong = base64.b64encode(b"not the key").decode()
    before = store.stats.requests
    with pytest.raises(mo.AuthenticationError) as info:
        call(
            kind,
            endpoint,
            "OrderList_Load_Query",
            {"Count": 1},
            **options(store, auth=mo.HmacAuth(store.token, wrong)),
        )
    assert info.value.error_message == "Invalid request signature"
    assert store.stats.requests == before + 1  # never retried


@pytest.mark.parametrize("kind", KINDS)
def test_unsigned_token_is_refused_when_signatures_are_required(
    served: tuple[FakeStore, str], kind: str
) -> None:
    store, endpoint = served
    with pytest.raises(mo.AuthenticationError, match="requires request signature"):
        call(
            kind,
            endpoint,
            "OrderList_Load_Query",
            {"Count": 1},
            **options(store, auth=mo.TokenAuth(store.token)),
        )


@pytest.mark.parametrize("kind", KINDS)
def test_stale_clock_is_retried_once_then_reported(served: tuple[FakeStore, str], kind: str) -> None:
    store, endpoint = served
    before = store.stats.requests
    with pytest.raises(mo.AuthenticationError) as info:
        call(
            kind,
            endpoint,
            "OrderList_Load_Query",
            {"Count": 1},
            **options(store, clock=lambda: store.clock.time() - 3600),
        )
    assert info.value.is_clock_skew
    assert store.stats.requests == before + 2


@pytest.mark.parametrize("kind", KINDS)
def test_success_zero_is_a_typed_api_error(served: tuple[FakeStore, str], kind: str) -> None:
    store, endpoint = served
    store.faults.script(Fault.api_error("MER-JSN-ORD-00028", "Unable to open result set"), times=1)
    with pytest.raises(mo.APIError) as info:
        call(kind, endpoint, "OrderList_Load_Query", {"Count": 1}, **options(store))
    assert info.value.error_code == "MER-JSN-ORD-00028"
    with pytest.raises(mo.APIError) as unknown:
        call(kind, endpoint, "OrderList_Load_Querry", {"Count": 1}, **options(store))
    assert unknown.value.error_code == "invalid_function"


@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_ssh_authentication_end_to_end(digest: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    store = FakeStore(orders=20, seed=1, ssh_username="ops_user", ssh_public_key=public)
    with store.serve() as endpoint:
        reply = call(
            "sync",
            endpoint,
            "OrderList_Load_Query",
            {"Count": 2},
            **options(store, auth=mo.SshAuth("ops_user", key, digest=digest)),
        )
        assert len(reply["data"]["data"]) == 2
        with pytest.raises(mo.AuthenticationError):
            call(
                "sync",
                endpoint,
                "OrderList_Load_Query",
                {"Count": 2},
                **options(store, auth=mo.SshAuth("someone_else", key)),
            )
