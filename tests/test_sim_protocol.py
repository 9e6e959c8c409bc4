"""The simulated store's json.mvc protocol: auth checks and messages, envelopes, multicall 206/Range."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

import mivaorders
from mivaorders._json import dumps, loads
from mivaorders.testing import FakeStore, StoreClock
from mivaorders.testing._params import Params
from mivaorders.testing._protocol import hmac_signature

from .conftest import FIXTURES, load_fixture

NOW = 1717250000


class StubEngine:
    """A stand-in engine: echoes what it was asked, so the protocol layer can be checked on its own."""

    def __init__(self, store_code: str = "SIM", clock: StoreClock | None = None) -> None:
        self.store_code = store_code
        self.clock = clock or StoreClock(NOW, frozen=True)
        self.calls: list[Params] = []

    def execute(self, params: Params) -> dict[str, Any]:
        self.calls.append(params)
        function = params.get("Function")
        if function == "OrderList_Load_Query":
            rows = [{"id": n} for n in range(1, 4)]
            return {"success": 1, "data": {"total_count": 3, "start_offset": 0, "data": rows}}
        name = params.get("Module_Function") if function == "Module" else function
        return {"success": 1, "data": {"function": name, "order_id": params.get("Order_ID")}}


def sign(key_b64: str, body: bytes, digest: str = "sha256") -> str:
    """The test's own HMAC: base64 of HMAC(base64-decoded key, body) -- checked against the vectors."""
    key = base64.b64decode(key_b64 + "=" * (-len(key_b64) % 4))
    return base64.b64encode(hmac.new(key, body, getattr(hashlib, digest)).digest()).decode()


def make_store(now: int = NOW, **options: Any) -> tuple[FakeStore, StubEngine]:
    engine = StubEngine(options.pop("store_code", "SIM"), StoreClock(now, frozen=True))
    return FakeStore(engine=engine, **options), engine


def post(
    store: FakeStore,
    document: Any,
    *,
    scheme: str = "MIVA-HMAC-SHA256",
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    content_type: str = "application/json",
    body: bytes | None = None,
    authorization: str | None = None,
) -> httpx.Response:
    raw = dumps(document) if body is None else body
    if authorization is None:
        digest = {"MIVA-HMAC-SHA256": "sha256", "MIVA-HMAC-SHA1": "sha1"}.get(scheme.upper())
        credential = (
            store.token if digest is None else f"{store.token}:{sign(store.signing_key, raw, digest)}"
        )
        authorization = f"{scheme} {credential}"
    sent = {"Content-Type": content_type, "X-Miva-API-Authorization": authorization, **(headers or {})}
    with httpx.Client(transport=store.transport()) as http:
        return http.request(method, store.endpoint, content=raw, headers=sent)


def call(**params: Any) -> dict[str, Any]:
    return {"Store_Code": "SIM", "Miva_Request_Timestamp": NOW, **params}


def error_of(response: httpx.Response) -> tuple[str, str]:
    data = response.json()
    assert data["success"] == 0
    return data["error_code"], data["error_message"]


# -- signing helper against the fixture vectors ------------------------------------------------------------


def test_hmac_helpers_match_the_vectors() -> None:
    for vector in load_fixture("hmac_test_vectors.json")["vectors"]:
        if vector["digest"] is None:
            continue
        body = vector["body"].encode()
        assert sign(vector["signing_key_b64"], body, vector["digest"]) == vector["signature_b64"]
        assert hmac_signature(vector["signing_key_b64"], body, vector["digest"]) == vector["signature_b64"]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_the_vector_requests_are_accepted(index: int) -> None:
    vector = load_fixture("hmac_test_vectors.json")["vectors"][index]
    signed = vector["digest"] is not None
    store, engine = make_store(
        loads(vector["body"])["Miva_Request_Timestamp"],
        store_code="EXSTORE",
        token=vector["access_token"],
        signing_key=vector["signing_key_b64"] or "AAAA",
        require_signature=signed,
    )
    body = vector["body"].encode()
    response = post(store, None, body=body, authorization=vector["header"])
    assert response.status_code == 200
    assert response.json()["success"] == 1
    assert len(engine.calls) == 1
    if not signed:
        # The same unsigned request against a token that requires signatures.
        store.configure(require_signature=True)
        assert error_of(post(store, None, body=body, authorization=vector["header"])) == (
            "access_denied",
            "Timestamp requires request signature",
        )


# -- the check order and every failure message (§3.4) ------------------------------------------------------


def test_a_request_without_authorization_is_a_session_call() -> None:
    store, engine = make_store()
    response = post(store, call(Function="OrderList_Load_Query"), authorization="")
    assert error_of(response)[0] == "session_timeout"
    assert engine.calls == []


def test_api_offline_is_503_and_checked_before_everything_else() -> None:
    store, _ = make_store(api_offline=True)
    response = post(store, call(Function="OrderList_Load_Query"), method="GET", authorization="Bogus x")
    assert response.status_code == 503
    assert error_of(response) == ("api_offline", "The API is currently offline")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "GET"}, "Invalid request method"),
        ({"content_type": "text/plain"}, "Invalid request content type"),
        ({"content_type": "Application/JSON"}, "Invalid request content type"),
        ({"authorization": "Bearer abc"}, "Unrecognized authorization type"),
        ({"authorization": "MIVA nottoken"}, "Access denied"),
        ({"authorization": "MIVA"}, "Access denied"),
    ],
)
def test_request_level_failures(change: dict[str, Any], message: str) -> None:
    store, engine = make_store(require_signature=False)
    response = post(store, call(Function="OrderList_Load_Query"), **change)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert error_of(response) == ("access_denied", message)
    assert engine.calls == []


def test_content_type_may_carry_a_charset_and_the_scheme_ignores_case() -> None:
    store, _ = make_store()
    response = post(
        store,
        call(Function="OrderList_Load_Query"),
        scheme="miva-hmac-sha1",
        content_type="application/json; x=1",
    )
    assert response.json()["success"] == 1


def test_disallowed_ip_and_disabled_token() -> None:
    store, _ = make_store(allowed_ips=["10.0.0.0/8"])
    assert error_of(post(store, call(Function="X"))) == ("access_denied", "Access denied")
    store.configure(allowed_ips=["10.0.0.0/8", "127.0.0.0/8"])
    assert post(store, call(Function="X")).json()["success"] == 1
    store.configure(allowed_ips=["0.0.0.0/0"], enabled=False)
    assert error_of(post(store, call(Function="X"))) == ("access_denied", "Token is disabled")


def test_timestamp_presence_and_window() -> None:
    store, _ = make_store(timestamp_window=60)
    document = call(Function="X")
    del document["Miva_Request_Timestamp"]
    assert error_of(post(store, document))[1] == "Missing required timestamp"
    assert post(store, call(Function="X", Miva_Request_Timestamp=NOW - 60)).json()["success"] == 1
    assert post(store, call(Function="X", Miva_Request_Timestamp=str(NOW + 60))).json()["success"] == 1
    for stale in (NOW - 61, NOW + 61, "yesterday"):
        response = post(store, call(Function="X", Miva_Request_Timestamp=stale))
        assert error_of(response)[1] == "Timestamp outside configured window"
    store.advance(120)
    assert error_of(post(store, call(Function="X")))[1] == "Timestamp outside configured window"
    store.configure(require_timestamp=False)
    assert post(store, call(Function="X", Miva_Request_Timestamp=1)).json()["success"] == 1


def test_the_timestamp_is_checked_before_the_signature() -> None:
    store, _ = make_store()
    document = call(Function="X", Miva_Request_Timestamp=NOW - 3600)
    bad = f"MIVA-HMAC-SHA256 {store.token}:{base64.b64encode(b'x' * 32).decode()}"
    assert error_of(post(store, document, authorization=bad))[1] == "Timestamp outside configured window"
    assert error_of(post(store, call(Function="X"), authorization=bad))[1] == "Invalid request signature"
    assert error_of(post(store, call(Function="X"), authorization=f"MIVA {store.token}"))[1] == (
        "Timestamp requires request signature"
    )


def test_the_signature_covers_the_raw_body_bytes() -> None:
    store, _ = make_store()
    body = dumps(call(Function="X"))
    header = f"MIVA-HMAC-SHA256 {store.token}:{sign(store.signing_key, body)}"
    assert post(store, None, body=body, authorization=header).json()["success"] == 1
    # Same JSON, different bytes: the signature no longer matches.
    reformatted = json.dumps(loads(body), indent=1).encode()
    response = post(store, None, body=reformatted, authorization=header)
    assert error_of(response)[1] == "Invalid request signature"


def test_without_required_signature_any_signature_is_ignored() -> None:
    store, _ = make_store(require_signature=False)
    wrong = f"MIVA-HMAC-SHA256 {store.token}:bm90IGEgc2lnbmF0dXJl"
    assert post(store, call(Function="X"), authorization=wrong).json()["success"] == 1
    assert post(store, call(Function="X"), scheme="MIVA").json()["success"] == 1


def test_credentials_are_seed_deterministic_and_never_in_reprs() -> None:
    first, _ = make_store(seed=7)
    second, _ = make_store(seed=7)
    other, _ = make_store(seed=8)
    assert (first.token, first.signing_key) == (second.token, second.signing_key)
    assert first.token != other.token
    assert len(first.token) == 32
    assert len(base64.b64decode(first.signing_key + "=" * (-len(first.signing_key) % 4))) == 32
    for text in (repr(first), repr(first.access), repr(first.faults), repr(first.stats)):
        assert first.token not in text
        assert first.signing_key not in text


# -- SSH authentication (§3.2) -----------------------------------------------------------------------------


def _rsa_pair() -> tuple[Any, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return key, public


def _ssh_header(key: Any, user: str, body: bytes, digest: str = "sha256") -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = hashes.SHA256() if digest == "sha256" else hashes.SHA512()
    signature = base64.b64encode(key.sign(body, padding.PKCS1v15(), algorithm)).decode()
    scheme = "SSH-RSA-SHA2-256" if digest == "sha256" else "SSH-RSA-SHA2-512"
    return f"{scheme} {base64.b64encode(user.encode()).decode()}:{signature}"


def test_ssh_authentication() -> None:
    key, public = _rsa_pair()
    store, engine = make_store(ssh_public_key=public, require_timestamp=False, timestamp_window=3600)
    body = dumps(call(Function="X"))
    for digest in ("sha256", "sha512"):
        response = post(store, None, body=body, authorization=_ssh_header(key, "ops_user", body, digest))
        assert response.json()["success"] == 1
    assert len(engine.calls) == 2
    response = post(store, None, body=body, authorization=_ssh_header(key, "someone", body))
    assert error_of(response)[1] == "Access denied"
    other_key, _ = _rsa_pair()
    response = post(store, None, body=body, authorization=_ssh_header(other_key, "ops_user", body))
    assert error_of(response)[1] == "Invalid request signature"
    # The SSH path always wants a timestamp, within a fixed 30 s, whatever the token says.
    untimed = dumps({"Store_Code": "SIM", "Function": "X"})
    response = post(store, None, body=untimed, authorization=_ssh_header(key, "ops_user", untimed))
    assert error_of(response)[1] == "Missing required timestamp"
    skewed = dumps(call(Function="X", Miva_Request_Timestamp=NOW + 31))
    response = post(store, None, body=skewed, authorization=_ssh_header(key, "ops_user", skewed))
    assert error_of(response)[1] == "Timestamp outside configured window"
    assert len(engine.calls) == 2


def test_ssh_needs_a_configured_key() -> None:
    key, _ = _rsa_pair()
    store, _ = make_store()
    body = dumps(call(Function="X"))
    response = post(store, None, body=body, authorization=_ssh_header(key, "ops_user", body))
    assert error_of(response)[1] == "Access denied"


# -- Store_Code, Function and envelopes (§5, §6) -----------------------------------------------------------


def test_store_code_and_function_checks() -> None:
    store, engine = make_store()
    document = call(Function="X")
    del document["Store_Code"]
    assert error_of(post(store, document)) == ("MER-JSN-00017", "Missing required parameter Store_Code")
    assert error_of(post(store, call(Function="X", Store_Code="OTHER"))) == (
        "EOF",
        "Record not found: MER-DBP-STR-00013",
    )
    assert error_of(post(store, call())) == ("MER-JSN-00024", "Missing required parameter Function")
    assert error_of(post(store, None, body=b"{not json"))[1] == "Missing required timestamp"
    store.configure(require_timestamp=False)
    assert error_of(post(store, None, body=b"{not json")) == (
        "MER-JSN-00024",
        "Missing required parameter Function",
    )
    assert engine.calls == []
    assert post(store, call(Function="X", Store_Code="  sim ")).json()["success"] == 1
    assert post(store, call(function="X", store_code="Sim")).json()["success"] == 1


def test_iterations_share_outer_keys() -> None:
    store, engine = make_store()
    document = call(
        Function="OrderCustomFields_Update",
        Shared="top",
        Iterations=[
            {"Order_ID": 1},
            {"Order_ID": 2, "Shared": "mine"},
            {"Store_Code": "NOPE", "Order_ID": 3},
        ],
    )
    data = post(store, document).json()
    assert [item.get("data", {}).get("order_id") for item in data] == [1, 2, None]
    assert data[2]["error_code"] == "EOF"
    assert [params.get("Shared") for params in engine.calls] == ["top", "mine"]
    # Iterations that is not an array: a plain single call.
    assert post(store, call(Function="X", Iterations={"Order_ID": 1})).json()["success"] == 1


def test_module_envelope_reaches_the_engine_and_is_counted_by_module_function() -> None:
    store, engine = make_store()
    document = call(Function="Module", Module_Code="orderworkflow", Module_Function="OrderList_Acknowledge")
    assert post(store, document).json()["data"]["function"] == "OrderList_Acknowledge"
    assert engine.calls[0]["module_code"] == "orderworkflow"
    assert store.stats.by_function["OrderList_Acknowledge"] == 1


def test_responses_are_compact_json_and_stats_count_everything() -> None:
    store, _ = make_store()
    response = post(store, call(Function="OrderList_Load_Query"))
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert b" " not in response.content
    assert int(response.headers["content-length"]) == len(response.content)
    post(store, call(Function="X"), method="GET")
    stats = store.stats.snapshot()
    assert stats["requests"] == 2
    assert stats["by_status"] == {200: 2}
    assert stats["by_function"] == {"OrderList_Load_Query": 1}
    assert stats["orders_returned"] == 3
    assert stats["bytes_out"] > 0
    assert stats["bytes_in"] > 0


# -- multicall time budget and continuation (§7) -----------------------------------------------------------


class FixtureEngine(StubEngine):
    """Answers the operations of multicall_request.json with the bodies the exchange fixture shows."""

    def __init__(self) -> None:
        super().__init__("EXSTORE", StoreClock(1717250500, frozen=True))
        exchange = load_fixture("multicall_continuation_exchange.json")["exchange"]
        first, second = exchange[0]["body"], exchange[1]["body"]
        self.answers: dict[Any, Any] = {
            "OrderList_Load_Query": first[0],
            "OrderCustomFieldList_Load": first[1],
            "OrderList_Acknowledge": second[0],
            100231: second[1][0],
            999999: second[1][1],
        }

    def execute(self, params: Params) -> dict[str, Any]:
        self.calls.append(params)
        if params.get("Function") == "OrderCustomFields_Update":
            answer: dict[str, Any] = self.answers[params.get("Order_ID")]
        elif params.get("Function") == "Module":
            answer = self.answers[params.get("Module_Function")]
        else:
            answer = self.answers[params.get("Function")]
        return answer


def test_the_multicall_continuation_exchange_is_reproduced() -> None:
    engine = FixtureEngine()
    store = FakeStore(engine=engine, op_cost_seconds=15)
    exchange = load_fixture("multicall_continuation_exchange.json")["exchange"]
    request = loads((FIXTURES / "multicall_request.json").read_bytes())
    for step in exchange:
        headers = {k: v for k, v in step["request_headers"].items() if k != "Content-Type"}
        response = post(store, request, headers=headers)
        assert response.status_code == step["status"]
        assert response.headers.get("content-range") == step["response_headers"].get("Content-Range")
        assert response.headers["content-type"] == step["response_headers"]["Content-Type"]
        assert loads(response.content) == step["body"]
    assert len(engine.calls) == 5  # 4 operations, one with two iterations


def multicall(count: int, **top: Any) -> dict[str, Any]:
    return {
        "Miva_Request_Timestamp": NOW,
        "Operations": [{"Function": "X", "Store_Code": "SIM", "Order_ID": n} for n in range(1, count + 1)],
        **top,
    }


def ids(response: httpx.Response) -> list[int]:
    return [item["data"]["order_id"] for item in response.json()]


@pytest.mark.parametrize("timeout", ["0", "-5", "soon"])
def test_a_non_positive_timeout_returns_one_operation_per_request(timeout: str) -> None:
    store, _ = make_store()
    seen: list[int] = []
    first = 1
    while first <= 4:
        headers = {"X-Miva-API-Timeout": timeout, "RANGE": f"Operations={first}-4"}
        response = post(store, multicall(4), headers=headers)
        seen += ids(response)
        if first < 4:
            assert (response.status_code, response.headers["content-range"]) == (206, "1/4")
        else:
            assert response.status_code == 200
            assert "content-range" not in response.headers
        first += len(response.json())
    assert seen == [1, 2, 3, 4]


def test_content_range_counts_the_operations_in_this_response() -> None:
    store, _ = make_store(op_cost_seconds=1)
    response = post(store, multicall(5), headers={"X-Miva-API-Timeout": "1", "Range": "Operations=3-5"})
    assert (response.status_code, response.headers["content-range"], ids(response)) == (206, "1/5", [3])
    response = post(store, multicall(5), headers={"X-Miva-API-Timeout": "2", "Range": "operations = 2 - "})
    assert (response.status_code, response.headers["content-range"], ids(response)) == (206, "2/5", [2, 3])


def test_the_default_budget_is_sixty_seconds_and_the_first_operation_always_runs() -> None:
    store, _ = make_store(op_cost_seconds=30)
    response = post(store, multicall(4))
    assert (response.status_code, response.headers["content-range"], ids(response)) == (206, "2/4", [1, 2])
    store.configure(op_cost_seconds=1000)
    response = post(store, multicall(4), headers={"Range": "Operations=2-"})
    assert (response.status_code, response.headers["content-range"], ids(response)) == (206, "1/4", [2])
    store.configure(op_cost_seconds=0)
    response = post(store, multicall(4), headers={"Range": "Operations=-2"})
    assert (response.status_code, ids(response)) == (200, [1, 2])


@pytest.mark.parametrize(
    ("range_header", "status", "code", "message"),
    [
        ("bytes=1-2", 200, "MER-JSN-00028", "Unknown Unit Type"),
        ("Operations=1-2,3-4", 416, "MER-JSN-00031", "Multiple ranges are not supported"),
        ("Operations=1-2-3", 416, "MER-JSN-00032", "Range Not Satisfiable"),
        ("Operations=0-2", 416, "MER-JSN-00033", "Range Not Satisfiable"),
        ("Operations=5-", 416, "MER-JSN-00033", "Range Not Satisfiable"),
        ("Operations=a-2", 416, "MER-JSN-00033", "Range Not Satisfiable"),
        ("Operations=3-2", 416, "MER-JSN-00034", "Range Not Satisfiable"),
        ("Operations=1-9", 416, "MER-JSN-00034", "Range Not Satisfiable"),
    ],
)
def test_range_errors(range_header: str, status: int, code: str, message: str) -> None:
    store, engine = make_store()
    response = post(store, multicall(4), headers={"Range": range_header})
    assert response.status_code == status
    assert error_of(response) == (code, message)
    assert response.headers.get("content-range") == ("*/4" if status == 416 else None)
    assert engine.calls == []


def test_range_is_ignored_without_operations_and_the_timestamp_only_counts_at_the_top() -> None:
    store, _ = make_store()
    assert post(store, call(Function="X"), headers={"Range": "Operations=9-1"}).json()["success"] == 1
    document = multicall(2)
    del document["Miva_Request_Timestamp"]
    document["Operations"][0]["Miva_Request_Timestamp"] = NOW
    assert error_of(post(store, document))[1] == "Missing required timestamp"


def test_multicall_operations_inherit_top_level_keys_and_fail_one_by_one() -> None:
    store, _ = make_store()
    document = {
        "Miva_Request_Timestamp": NOW,
        "Store_Code": "SIM",
        "Operations": [{"Function": "X", "Order_ID": 1}, {"Order_ID": 2}, "junk", {"Function": "X"}],
    }
    data = post(store, document).json()
    assert data[0]["data"]["order_id"] == 1
    assert data[1]["error_code"] == "MER-JSN-00024"
    assert data[2]["error_code"] == "MER-JSN-00024"
    assert data[3]["success"] == 1


# -- through mivaorders.Client -----------------------------------------------------------------------------


def test_the_client_talks_to_the_store() -> None:
    store, engine = make_store()
    with store.client() as client:
        assert client.call("OrderList_Load_Query", {"Count": 3})["data"]["total_count"] == 3
        answer = client.call_module("orderworkflow", "QueueOrderList_Load_Query", {"Queue_Code": "q"})
        assert answer["data"]["function"] == "QueueOrderList_Load_Query"
    assert engine.calls[0]["Store_Code"] == "SIM"


def test_the_client_follows_206_continuations() -> None:
    store, engine = make_store(op_cost_seconds=1)
    operations = [{"Function": "X", "Order_ID": n} for n in range(1, 6)]
    with store.client(api_timeout=2) as client:
        results = client.multicall(operations)
    flat = [r for r in results if isinstance(r, mivaorders.OperationResult)]
    assert [r.unwrap()["data"]["order_id"] for r in flat] == [1, 2, 3, 4, 5]
    assert len(engine.calls) == 5
    assert store.stats.by_status[206] == 2


@pytest.mark.anyio
async def test_the_async_client_talks_to_the_store() -> None:
    store, _ = make_store()
    async with store.async_client() as client:
        assert (await client.call("OrderList_Load_Query"))["data"]["total_count"] == 3


def test_the_client_uses_the_store_clock() -> None:
    store, _ = make_store()
    store.advance(10_000)
    with store.client() as client:
        assert client.call("OrderList_Load_Query")["success"] == 1


# -- the request fixtures against the real engine ------------------------------------------------------------


def _restamp(value: Any, store_code: str) -> Any:
    if isinstance(value, dict):
        return {k: store_code if k == "Store_Code" else _restamp(v, store_code) for k, v in value.items()}
    if isinstance(value, list):
        return [_restamp(item, store_code) for item in value]
    return value


def _errors(value: Any) -> list[str]:
    if isinstance(value, list):
        return [code for item in value for code in _errors(item)]
    return [value["error_code"]] if value.get("success") == 0 else []


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*_request.json")))
def test_the_request_fixtures_are_accepted(name: str) -> None:
    store = FakeStore(orders=40, seed=9)
    document = _restamp(load_fixture(name), store.store_code)
    document["Miva_Request_Timestamp"] = store.clock.now()
    response = post(store, document)
    assert response.status_code == 200
    # invalid_function is the engine speaking: it does not implement shipments or archiving.
    protocol_errors = {"access_denied", "MER-JSN-00017", "MER-JSN-00024", "EOF"}
    assert not protocol_errors & set(_errors(response.json()))
    assert sum(store.stats.by_function.values()) >= 1
    if name.startswith(("orderlist_load_query", "queue_order_list")):
        assert response.json()["success"] == 1
