"""Client and AsyncClient: wire bytes, retries, continuation, error mapping, configuration, redaction.

Every behaviour test runs against both clients through :class:`Harness`, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
import respx

import mivaorders as mo
from mivaorders import RetryPolicy

from .conftest import load_fixture, load_fixture_plain

ENDPOINT = "https://shop.example.com/mm5/json.mvc"
TOKEN = "0123456789abcdef0123456789abcdef"
KEY = "bWl2YW9yZGVycy10ZXN0LXNpZ25pbmcta2V5LTAwMDE="
FAST = RetryPolicy(max_attempts=4, wait=False)

Handler = Callable[[httpx.Request], httpx.Response]


def ok_list(rows: Sequence[Any] = ()) -> httpx.Response:
    return httpx.Response(
        200, json={"success": 1, "data": {"total_count": len(rows), "start_offset": 0, "data": list(rows)}}
    )


def verify_signature(request: httpx.Request) -> None:
    header = request.headers["X-Miva-API-Authorization"]
    scheme, _, rest = header.partition(" ")
    assert scheme == "MIVA-HMAC-SHA256"
    token, _, signature = rest.partition(":")
    assert token == TOKEN
    expected = hmac.new(base64.b64decode(KEY), request.content, hashlib.sha256).digest()
    assert base64.b64decode(signature) == expected


class Harness:
    """Runs the same scenario with ``Client`` or ``AsyncClient`` over a mock transport."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.requests: list[httpx.Request] = []
        self.clock = itertools.count(1717250000)

    def _handler(self, script: Iterator[Handler | httpx.Response | Exception]) -> Handler:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            step = next(script)
            if isinstance(step, Exception):
                raise step
            if isinstance(step, httpx.Response):
                # A fresh copy: one Response object cannot be sent twice, nor by both clients.
                return httpx.Response(step.status_code, headers=step.headers, content=step.content)
            return step(request)

        return handle

    def run(
        self,
        script: Sequence[Handler | httpx.Response | Exception],
        action: str,
        *args: Any,
        retry: RetryPolicy | None = FAST,
        **kwargs: Any,
    ) -> Any:
        handler = self._handler(iter(script))
        options: dict[str, Any] = {
            "store_code": "EXSTORE",
            "auth": mo.HmacAuth(TOKEN, KEY),
            "retry": retry,
            "clock": lambda: next(self.clock),
        }
        transport = httpx.MockTransport(handler)
        if self.kind == "sync":
            with mo.Client(ENDPOINT, http_client=httpx.Client(transport=transport), **options) as client:
                return getattr(client, action)(*args, **kwargs)

        async def go() -> Any:
            async with (
                httpx.AsyncClient(transport=transport) as http,
                mo.AsyncClient(ENDPOINT, http_client=http, **options) as client,
            ):
                return await getattr(client, action)(*args, **kwargs)

        return asyncio.run(go())

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Harness:
    return Harness(request.param)


# -- exact wire bytes (respx) ----------------------------------------------------------------------


VECTOR = load_fixture_plain("hmac_test_vectors.json")["vectors"][0]
VECTOR_PARAMS = {
    "Count": 25,
    "Offset": 0,
    "Sort": "id",
    "Filter": [
        {"name": "search", "value": [{"field": "orderdate", "operator": "GE", "value": "1717200000"}]}
    ],
}


def test_sync_wire_bytes_match_the_signing_vector() -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(ENDPOINT).mock(return_value=ok_list())
        with mo.Client(
            ENDPOINT, store_code="EXSTORE", auth=mo.HmacAuth(TOKEN, KEY), clock=lambda: 1717250000
        ) as client:
            client.call("OrderList_Load_Query", VECTOR_PARAMS)
    request = route.calls.last.request
    assert request.content == VECTOR["body"].encode()
    assert request.headers["X-Miva-API-Authorization"] == VECTOR["header"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith(f"mivaorders/{mo.__version__} python/")
    assert "X-Miva-API-Timeout" not in request.headers
    assert "Range" not in request.headers


async def _async_wire(api_timeout: int | None) -> httpx.Request:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(ENDPOINT).mock(return_value=ok_list())
        async with mo.AsyncClient(
            ENDPOINT,
            store_code="EXSTORE",
            auth=mo.HmacAuth(TOKEN, KEY),
            clock=lambda: 1717250000,
            api_timeout=api_timeout,
        ) as client:
            await client.call("OrderList_Load_Query", VECTOR_PARAMS)
        return route.calls.last.request


def test_async_wire_bytes_match_the_signing_vector() -> None:
    request = asyncio.run(_async_wire(None))
    assert request.content == VECTOR["body"].encode()
    assert request.headers["X-Miva-API-Authorization"] == VECTOR["header"]
    assert asyncio.run(_async_wire(100)).headers["X-Miva-API-Timeout"] == "100"


def test_token_auth_and_module_envelope_wire_bytes() -> None:
    expected = load_fixture_plain("acknowledge_request.json")
    with respx.mock(assert_all_called=True) as router:
        route = router.post(ENDPOINT).mock(
            return_value=httpx.Response(200, json=load_fixture_plain("acknowledge_response.json"))
        )
        with mo.Client(
            ENDPOINT,
            store_code="EXSTORE",
            auth=mo.TokenAuth(TOKEN),
            clock=lambda: expected["Miva_Request_Timestamp"],
        ) as client:
            reply = client.call_module(
                "orderworkflow", "OrderList_Acknowledge", {"Order_IDs": [100231, 100232]}
            )
    request = route.calls.last.request
    assert json.loads(request.content) == expected
    assert b" " not in request.content  # compact, as serialised once
    assert request.headers["X-Miva-API-Authorization"] == f"MIVA {TOKEN}"
    assert reply == {"success": 1, "processed": 2}


def test_non_ascii_is_escaped_so_signed_bytes_are_sent_bytes(harness: Harness) -> None:
    def signed(request: httpx.Request) -> httpx.Response:
        verify_signature(request)
        return httpx.Response(200, json={"success": 1})

    harness.run(
        [signed],
        "call",
        "OrderCustomFields_Update",
        {"Order_ID": 1, "CustomField_Values": {"customfields": {"gift_message": "Feliz cumpleaños ✓"}}},
    )
    content = harness.requests[0].content
    assert content.isascii()
    assert b"\\u00f1" in content


# -- retries ---------------------------------------------------------------------------------------


TRANSIENT: list[Any] = [
    httpx.Response(500),
    httpx.Response(502, text="<html>Bad Gateway</html>"),
    httpx.Response(503),
    httpx.Response(504),
    httpx.Response(429, headers={"Retry-After": "1"}),
    httpx.Response(200, content=b'{"success":1,"data":{"total_co'),
    httpx.Response(200, text="<html>maintenance</html>"),
    httpx.ConnectError("refused"),
    httpx.ReadTimeout("slow"),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
]


@pytest.mark.parametrize(
    "failure", TRANSIENT, ids=lambda f: type(f).__name__ + str(getattr(f, "status_code", ""))
)
def test_reads_are_retried_with_fresh_timestamp_and_signature(harness: Harness, failure: Any) -> None:
    def check(request: httpx.Request) -> httpx.Response:
        verify_signature(request)
        return ok_list([{"id": 1}])

    reply = harness.run([failure, check], "call", "OrderList_Load_Query", {"Count": 1})
    assert reply["data"]["data"] == [{"id": 1}]
    first, second = harness.bodies()
    assert second["Miva_Request_Timestamp"] > first["Miva_Request_Timestamp"]
    signatures = {r.headers["X-Miva-API-Authorization"] for r in harness.requests}
    assert len(signatures) == 2


def test_attempts_are_capped(harness: Harness) -> None:
    with pytest.raises(mo.HTTPStatusError) as info:
        harness.run([httpx.Response(503)] * 10, "call", "OrderList_Load_Query")
    assert info.value.status_code == 503
    assert len(harness.requests) == 4


def test_retry_none_sends_once(harness: Harness) -> None:
    with pytest.raises(mo.HTTPStatusError):
        harness.run([httpx.Response(503), ok_list()], "call", "OrderList_Load_Query", retry=None)
    assert len(harness.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(
            200,
            json={
                "success": 0,
                "error_code": "MER-JSN-00023",
                "error_message": "One or more parameters are invalid",
                "validation_error": True,
            },
        ),
        httpx.Response(
            200, json={"success": 0, "error_code": "access_denied", "error_message": "Access denied"}
        ),
        httpx.Response(
            200,
            json={"success": 0, "error_code": "access_denied", "error_message": "Invalid request signature"},
        ),
        httpx.Response(400),
        httpx.Response(404),
    ],
)
def test_errors_that_are_never_retried(harness: Harness, failure: httpx.Response) -> None:
    with pytest.raises(mo.MivaError):
        harness.run([failure, ok_list()], "call", "OrderList_Load_Query")
    assert len(harness.requests) == 1


def test_clock_skew_is_retried_once(harness: Harness) -> None:
    skew = httpx.Response(
        200,
        json={
            "success": 0,
            "error_code": "access_denied",
            "error_message": "Timestamp outside configured window",
        },
    )
    assert harness.run([skew, ok_list()], "call", "OrderList_Load_Query")["success"] == 1
    harness.requests.clear()
    with pytest.raises(mo.AuthenticationError) as info:
        harness.run([skew, skew, skew], "call", "OrderList_Load_Query")
    assert info.value.is_clock_skew
    assert len(harness.requests) == 2


QUEUE_LOAD = ("call_module", "orderworkflow", "QueueOrderList_Load_Query", {"Queue_Code": "new_and_updated"})


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503),
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("cut"),
        httpx.Response(200, content=b"{"),
    ],
)
def test_destructive_queue_load_is_not_retried_once_it_may_have_arrived(
    harness: Harness, failure: Any
) -> None:
    with pytest.raises(mo.MivaError):
        harness.run([failure, ok_list()], *QUEUE_LOAD)
    assert len(harness.requests) == 1


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("no route"), httpx.Response(429)]
)
def test_destructive_queue_load_is_retried_when_the_store_never_acted(harness: Harness, failure: Any) -> None:
    assert harness.run([failure, ok_list()], *QUEUE_LOAD)["success"] == 1
    assert len(harness.requests) == 2


def test_declared_idempotent_queue_load_is_retried(harness: Harness) -> None:
    reply = harness.run([httpx.Response(503), ok_list()], *QUEUE_LOAD, idempotent=True)
    assert reply["success"] == 1
    assert len(harness.requests) == 2


def test_writes_are_not_retried_after_a_lost_response(harness: Harness) -> None:
    with pytest.raises(mo.TransportError) as info:
        harness.run(
            [httpx.ReadError("reset"), httpx.Response(200, json={"success": 1})],
            "call",
            "OrderItemList_CreateShipment",
            {"Order_ID": 1, "Line_IDs": [1]},
        )
    assert info.value.maybe_sent
    assert len(harness.requests) == 1


def test_custom_predicate_replaces_the_default(harness: Harness) -> None:
    policy = RetryPolicy(max_attempts=3, wait=False, retry_on=lambda exc: isinstance(exc, mo.NotFoundError))
    missing = httpx.Response(200, json=load_fixture_plain("error_response.json"))
    assert harness.run([missing, ok_list()], "call", "OrderList_Load_Query", retry=policy)["success"] == 1
    harness.requests.clear()
    with pytest.raises(mo.HTTPStatusError):
        harness.run([httpx.Response(503), ok_list()], "call", "OrderList_Load_Query", retry=policy)
    assert len(harness.requests) == 1


def test_total_time_is_capped(harness: Harness) -> None:
    policy = RetryPolicy(max_attempts=50, max_time=0.3, initial_delay=0.05, max_delay=0.05, jitter=False)
    with pytest.raises(mo.HTTPStatusError):
        harness.run([httpx.Response(503)] * 50, "call", "OrderList_Load_Query", retry=policy)
    assert 2 <= len(harness.requests) <= 8


# -- multicall -------------------------------------------------------------------------------------


def _exchange_script() -> list[Handler]:
    exchange = load_fixture_plain("multicall_continuation_exchange.json")["exchange"]

    def respond(step: dict[str, Any]) -> Handler:
        def handle(request: httpx.Request) -> httpx.Response:
            verify_signature(request)
            expected_range = step["request_headers"].get("Range")
            assert request.headers.get("Range") == expected_range
            return httpx.Response(step["status"], headers=step["response_headers"], json=step["body"])

        return handle

    return [respond(step) for step in exchange]


def test_multicall_follows_206_continuation(harness: Harness) -> None:
    operations = load_fixture_plain("multicall_request.json")["Operations"]
    results = harness.run(_exchange_script(), "multicall", operations)
    merged = load_fixture("multicall_response.json")
    assert len(results) == 4
    assert results[0].unwrap() == merged[0]
    assert results[2].envelope == {"success": 1, "processed": 1}
    iterations = results[3]
    assert [r.ok for r in iterations] == [True, False]
    assert isinstance(iterations[1].error, mo.NotFoundError)
    first, second = harness.bodies()
    assert second["Operations"] == first["Operations"]
    assert second["Miva_Request_Timestamp"] > first["Miva_Request_Timestamp"]
    assert (
        harness.requests[0].headers["X-Miva-API-Authorization"]
        != harness.requests[1].headers["X-Miva-API-Authorization"]
    )


def test_multicall_continuation_is_retried_with_its_range(harness: Harness) -> None:
    script = _exchange_script()
    reads = [{"Function": "OrderList_Load_Query", "Count": 1}] * 4
    ok = {"success": 1}
    steps: list[Any] = [
        httpx.Response(206, headers={"Content-Range": "2/4"}, json=[ok, ok]),
        httpx.Response(503),
        lambda r: (
            httpx.Response(200, json=[ok, ok])
            if r.headers.get("Range") == "Operations=3-4"
            else httpx.Response(400)
        ),
    ]
    del script
    results = harness.run(steps, "multicall", reads)
    assert [r.ok for r in results] == [True] * 4
    assert [r.headers.get("Range") for r in harness.requests] == [None, "Operations=3-4", "Operations=3-4"]


def test_multicall_range_error_is_raised(harness: Harness) -> None:
    body = {"success": 0, "error_code": "MER-JSN-00033", "error_message": "Range Not Satisfiable"}
    with pytest.raises(mo.HTTPStatusError) as info:
        harness.run(
            [httpx.Response(416, headers={"Content-Range": "*/2"}, json=body)],
            "multicall",
            [{"Function": "A_Load"}] * 2,
        )
    assert info.value.status_code == 416
    assert "MER-JSN-00033" in str(info.value)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error", "attrs"),
    [
        (
            httpx.Response(
                200, json={"success": 0, "error_code": "access_denied", "error_message": "Access denied"}
            ),
            mo.AuthenticationError,
            {"error_code": "access_denied"},
        ),
        (
            httpx.Response(200, json=load_fixture_plain("validation_error_response.json")),
            mo.InvalidParameterError,
            {"error_code": "MER-JSN-00023"},
        ),
        (
            httpx.Response(200, json=load_fixture_plain("error_invalid_function_response.json")),
            mo.APIError,
            {"error_code": "invalid_function"},
        ),
        (httpx.Response(401, text="Unauthorized"), mo.HTTPStatusError, {"status_code": 401}),
        (httpx.Response(200, text="<!DOCTYPE html><html></html>"), mo.ResponseDecodeError, {}),
    ],
)
def test_error_mapping(
    harness: Harness, response: httpx.Response, error: type[Exception], attrs: Mapping[str, Any]
) -> None:
    with pytest.raises(error) as info:
        harness.run([response] * 4, "call", "OrderList_Load_Query", retry=None)
    for name, value in attrs.items():
        assert getattr(info.value, name) == value
    assert getattr(info.value, "function", None) == "OrderList_Load_Query"


@pytest.mark.parametrize(
    ("failure", "error", "maybe_sent"),
    [
        (httpx.ConnectTimeout("t"), mo.RequestTimeoutError, False),
        (httpx.ReadTimeout("t"), mo.RequestTimeoutError, True),
        (httpx.ConnectError("c"), mo.TransportError, False),
        (httpx.ReadError("r"), mo.TransportError, True),
    ],
)
def test_transport_errors_are_translated(
    harness: Harness, failure: Exception, error: type[mo.TransportError], maybe_sent: bool
) -> None:
    with pytest.raises(error) as info:
        harness.run([failure], "call", "OrderList_Load_Query", retry=None)
    assert info.value.maybe_sent is maybe_sent
    assert isinstance(info.value, mo.MivaError)


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "kwargs", "needle"),
    [
        ("", {}, "endpoint"),
        ("shop.example.com/mm5/json.mvc", {}, "not an http"),
        ("ftp://shop.example.com/json.mvc", {}, "not an http"),
        ("http://shop.example.com/mm5/json.mvc", {}, "plain http"),
        ("https://user:pw@shop.example.com/mm5/json.mvc", {}, "credentials"),
        ("https://shop.example.com/mm5/json.mvc?x=1", {}, "query"),
        (ENDPOINT, {"store_code": ""}, "store_code"),
        (ENDPOINT, {"store_code": " S "}, "whitespace"),
        (ENDPOINT, {"timeout": -1}, "timeout"),
        (ENDPOINT, {"api_timeout": 0}, "api_timeout"),
        (ENDPOINT, {"auth": "token"}, "auth must be"),
        (ENDPOINT, {"headers": {"X-Miva-API-Authorization": "x"}}, "set by the client"),
    ],
)
@pytest.mark.parametrize("cls", [mo.Client, mo.AsyncClient])
def test_bad_configuration_fails_at_construction(
    cls: Any, endpoint: str, kwargs: dict[str, Any], needle: str
) -> None:
    options: dict[str, Any] = {"store_code": "S", "auth": mo.TokenAuth("t"), **kwargs}
    with pytest.raises(mo.ConfigurationError, match=needle):
        cls(endpoint, **options)


def test_plain_http_is_allowed_for_loopback_and_on_request() -> None:
    for endpoint in (
        "http://127.0.0.1:8765/mm5/json.mvc",
        "http://localhost/mm5/json.mvc",
        "http://[::1]:80/json.mvc",
    ):
        mo.Client(endpoint, store_code="S", auth=mo.TokenAuth("t")).close()
    mo.Client(
        "http://shop.internal/json.mvc", store_code="S", auth=mo.TokenAuth("t"), allow_insecure_http=True
    ).close()


def test_default_timeout_is_finite() -> None:
    with mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t")) as client:
        assert client.timeout.read is not None
        assert client.timeout.connect is not None
        assert client.timeout.read <= 120


def test_from_env() -> None:
    env = {
        "MIVA_ENDPOINT": ENDPOINT,
        "MIVA_STORE_CODE": "EXSTORE",
        "MIVA_API_TOKEN": TOKEN,
        "MIVA_SIGNING_KEY": KEY,
    }
    with mo.Client.from_env(env) as client:
        assert client.store_code == "EXSTORE"
        assert isinstance(client._config.auth, mo.HmacAuth)
    plain = mo.AsyncClient.from_env({**env, "MIVA_SIGNING_KEY": ""})
    assert isinstance(plain._config.auth, mo.TokenAuth)
    for missing in ("MIVA_ENDPOINT", "MIVA_STORE_CODE", "MIVA_API_TOKEN"):
        with pytest.raises(mo.ConfigurationError, match=missing):
            mo.Client.from_env({k: v for k, v in env.items() if k != missing})


def test_with_options_shares_the_pool() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: ok_list()))
    client = mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"))
    client._http.close()
    client._http = http
    copy = client.with_options(store_code="OTHER", retry=None, timeout=5)
    assert copy._http is client._http
    assert copy.store_code == "OTHER"
    assert client.store_code == "S"
    assert copy.retry.max_attempts == 1
    assert copy.timeout.read == 5
    copy.close()
    assert not http.is_closed
    assert copy.call("OrderList_Load_Query")["success"] == 1
    client.close()
    assert http.is_closed


def test_owned_pool_is_closed_and_borrowed_one_is_not() -> None:
    with mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t")) as owned:
        pool = owned._http
    assert pool.is_closed
    borrowed = httpx.Client()
    with mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"), http_client=borrowed):
        pass
    assert not borrowed.is_closed
    borrowed.close()


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_reprs_or_errors(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    passphrase = "correct-horse-battery-staple"
    caplog.set_level(logging.DEBUG)
    secrets = [TOKEN, KEY, passphrase]
    errors: list[Exception] = []
    failures: list[Any] = [
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, content=b"{"),
        httpx.Response(
            200, json={"success": 0, "error_code": "access_denied", "error_message": "Access denied"}
        ),
    ]
    for failure in failures:
        try:
            harness.run([failure] * 4, "call", "OrderList_Load_Query", {"Passphrase": passphrase})
        except mo.MivaError as exc:
            errors.append(exc)
    assert len(errors) == len(failures)
    signatures = [r.headers["X-Miva-API-Authorization"].split(":")[-1] for r in harness.requests]
    texts = [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors)]
    client = mo.Client(ENDPOINT, store_code="S", auth=mo.HmacAuth(TOKEN, KEY))
    texts += [repr(client), repr(client._config), repr(client.with_options(retry=None))]
    client.close()
    for text in texts:
        for secret in [*secrets, *signatures]:
            assert secret not in text
    assert "OrderList_Load_Query" in caplog.text  # the logs do say what happened


@pytest.mark.parametrize("client_type", [mo.Client, mo.AsyncClient])
def test_with_options_builds_a_new_client_of_the_same_class(
    client_type: type[mo.Client] | type[mo.AsyncClient],
) -> None:
    client = client_type(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"))
    orders = client.orders  # a resource made (and cached) for the original
    copy = client.with_options(store_code="OTHER")
    assert type(copy) is client_type
    assert copy.orders is not orders
    assert "OTHER" in repr(copy.orders)
    assert "'S'" in repr(client.orders)
    assert client.orders is orders
    with pytest.raises(
        mo.ConfigurationError, match=r"cannot change clock, http_client; it changes allow_insecure"
    ):
        client.with_options(clock=time.time, http_client=None)  # type: ignore[call-arg]


def test_with_options_keeps_the_insecure_http_decision_per_client() -> None:
    allowed = mo.Client(
        "http://shop.internal/json.mvc", store_code="S", auth=mo.TokenAuth("t"), allow_insecure_http=True
    )
    assert allowed.with_options(store_code="X").endpoint == "http://shop.internal/json.mvc"
    secure = mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"))
    with pytest.raises(mo.ConfigurationError, match="plain http"):
        secure.with_options(endpoint="http://shop.internal/json.mvc")
    allowed.close()
    secure.close()


@pytest.mark.parametrize(
    ("action", "args", "needle"),
    [
        ("call", ("",), "function must be a non-empty string"),
        ("call", ("Order_Load", {"x": float("nan")}), "params cannot be sent as JSON"),
        ("call_module", ("", "QueueOrderList_Load_Query"), "module_code must be a non-empty string"),
        ("multicall", ([],), "multicall needs at least one operation"),
    ],
)
def test_async_client_refuses_bad_arguments_at_the_call_before_any_await(
    action: str, args: tuple[Any, ...], needle: str
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return ok_list()

    async def go() -> None:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http,
            mo.AsyncClient(
                ENDPOINT, store_code="EXSTORE", auth=mo.TokenAuth(TOKEN), http_client=http
            ) as client,
        ):
            with pytest.raises(mo.ArgumentError, match=needle):
                getattr(client, action)(*args)  # not awaited: the error comes at the call
            # a good call is a coroutine, so it can be a task of its own
            envelope = await asyncio.create_task(client.call("OrderList_Load_Query", {"Count": 1}))
            assert envelope["success"] == 1

    asyncio.run(go())
    assert len(sent) == 1
