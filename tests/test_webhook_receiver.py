"""The framework-free receivers: handle_webhook, WebhookWSGIApp (minimal environ), WebhookASGIApp (httpx)."""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest

from mivaorders._json import dumps
from mivaorders.models import Order
from mivaorders.webhooks import (
    LRUSeenStore,
    OrderIdNotification,
    WebhookASGIApp,
    WebhookVerifier,
    WebhookWSGIApp,
    handle_webhook,
    parse_order,
)

from .conftest import FIXTURES, load_fixture

TOKEN = "tok-0123456789-abcdefghij"
URL = f"/hooks/miva?token={TOKEN}"


@pytest.fixture
def body() -> bytes:
    return (FIXTURES / "webhook_order_payload.json").read_bytes()


def _variant(**changes: Any) -> bytes:
    data = copy.deepcopy(load_fixture("webhook_order_payload.json"))
    data.update(changes)
    return dumps(data)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.orders: list[Order] = []
        self.ids: list[OrderIdNotification] = []
        self.fail = fail

    def __call__(self, order: Order) -> None:
        self.orders.append(order)
        if self.fail:
            raise RuntimeError("database down")

    def on_id(self, notification: OrderIdNotification) -> None:
        self.ids.append(notification)


# --------------------------------------------------------------------------------------------- WSGI
class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


class EndlessStream:
    """A chunked upload that never ends."""

    def __init__(self) -> None:
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "the receiver must read in bounded chunks"
        self.consumed += size
        return b"[" * size


def environ(
    method: str = "POST",
    query: str = f"token={TOKEN}",
    body: bytes = b"",
    *,
    stream: Any = None,
    content_length: bool = True,
    remote_addr: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/hooks/miva",
        "QUERY_STRING": query,
        "REMOTE_ADDR": remote_addr,
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream if stream is not None else CountingStream(body),
    }
    if content_length:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def call_wsgi(app: WebhookWSGIApp, env: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    chunks: Iterable[bytes] = app(env, start_response)
    payload = b"".join(chunks)
    status, headers = started[0]
    return status, dict(headers), payload


def test_wsgi_post_hands_the_order_to_the_handler(body: bytes) -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    status, headers, payload = call_wsgi(app, environ(body=body))
    assert status == "200 OK"
    assert json.loads(payload) == {"ok": True}
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(payload))
    assert recorder.orders == [parse_order(body)]


@pytest.mark.parametrize(
    ("query", "reason"), [("", "missing_token"), ("token=nope-nope-nope-nope", "bad_token")]
)
def test_wsgi_token_failures_are_401_and_skip_the_body(body: bytes, query: str, reason: str) -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    env = environ(query=query, body=body)
    status, _, payload = call_wsgi(app, env)
    assert status == "401 Unauthorized"
    assert json.loads(payload) == {"error": reason}
    assert env["wsgi.input"].consumed == 0  # vetted before reading
    assert recorder.orders == []


def test_wsgi_oversized_declared_length_is_refused_unread(body: bytes) -> None:
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN, max_bytes=1_000))
    env = environ(body=body)
    status, _, payload = call_wsgi(app, env)
    assert status.startswith("413 ")  # the reason phrase changed in Python 3.13
    assert json.loads(payload) == {"error": "too_large"}
    assert env["wsgi.input"].consumed == 0


def test_wsgi_chunked_upload_stops_reading_past_the_limit() -> None:
    stream = EndlessStream()
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN, max_bytes=200_000))
    env = environ(stream=stream, content_length=False)
    env["wsgi.input_terminated"] = True
    status, _, _ = call_wsgi(app, env)
    assert status.startswith("413")
    assert 200_000 < stream.consumed <= 200_000 + 65_536


def test_wsgi_without_length_or_termination_reads_nothing() -> None:
    stream = EndlessStream()
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN))
    status, _, payload = call_wsgi(app, environ(stream=stream, content_length=False))
    assert status.startswith("400")
    assert json.loads(payload) == {"error": "empty_body"}
    assert stream.consumed == 0


def test_wsgi_short_body_is_truncated(body: bytes) -> None:
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN))
    env = environ(body=body[:300])
    env["CONTENT_LENGTH"] = str(len(body))  # the sender promised more than it sent
    status, _, payload = call_wsgi(app, env)
    assert status.startswith("400")
    assert json.loads(payload) == {"error": "truncated"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not_json"),
        (b"[" * 100_000, "too_deep"),
        (b'{"success": 1, "data": {}}', "envelope"),
        (b'{"id": "x"}', "invalid_order"),
        (b"\xc3\x28", "not_utf8"),
        (b'{"id":1,"notes":[' + b"{}," * 1_000_000 + b"{}]}", "too_many_values"),
        (b'{"id": 1, "total": 1e99999999999999999999}', "invalid_order"),
        (b'{"id": 1, "ship_fname": "\\ud800"}', "invalid_order"),
    ],
)
def test_wsgi_malformed_bodies_are_400(raw: bytes, reason: str) -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    status, _, payload = call_wsgi(app, environ(body=raw))
    assert status == "400 Bad Request"
    assert json.loads(payload) == {"error": reason}
    assert recorder.orders == []


def test_wsgi_bad_content_length() -> None:
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN))
    env = environ(body=b"{}")
    env["CONTENT_LENGTH"] = "12abc"
    status, _, payload = call_wsgi(app, env)
    assert status.startswith("400")
    assert json.loads(payload) == {"error": "bad_length"}


def test_wsgi_methods() -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    status, headers, _ = call_wsgi(app, environ(method="PUT"))
    assert status == "405 Method Not Allowed"
    assert headers["allow"] == "POST, GET"
    # GET is the webhook_get variant; without on_order_id it is not enabled.
    status, _, _ = call_wsgi(app, environ(method="GET", query=f"token={TOKEN}&Order_ID=5"))
    assert status.startswith("405")


def test_wsgi_get_order_id_variant() -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), on_order_id=recorder.on_id)
    status, _, _ = call_wsgi(
        app, environ(method="GET", query=f"token={TOKEN}&Order_ID=100231", content_length=False)
    )
    assert status == "200 OK"
    assert recorder.ids == [OrderIdNotification(100231)]
    status, _, payload = call_wsgi(app, environ(method="GET", query=f"token={TOKEN}&Order_ID=x"))
    assert status.startswith("400")
    assert json.loads(payload) == {"error": "bad_order_id"}
    status, _, _ = call_wsgi(app, environ(method="GET", query="Order_ID=100231"))
    assert status.startswith("401")
    assert len(recorder.ids) == 1


def test_wsgi_ip_allow_list(body: bytes) -> None:
    app = WebhookWSGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN, allowed_networks=["192.0.2.0/24"]))
    assert call_wsgi(app, environ(body=body))[0] == "200 OK"
    status, _, payload = call_wsgi(app, environ(body=body, remote_addr="203.0.113.9"))
    assert status == "403 Forbidden"
    assert json.loads(payload) == {"error": "ip_not_allowed"}


def test_wsgi_basic_credentials_challenge(body: bytes) -> None:
    verifier = WebhookVerifier(basic_username="miva", basic_password="stored-in-the-action")
    app = WebhookWSGIApp(Recorder(), verifier=verifier)
    status, headers, _ = call_wsgi(app, environ(query="", body=body))
    assert status.startswith("401")
    assert headers["www-authenticate"].startswith("Basic ")
    good = "Basic " + base64.b64encode(b"miva:stored-in-the-action").decode()
    assert call_wsgi(app, environ(query="", body=body, headers={"Authorization": good}))[0] == "200 OK"


def test_wsgi_handler_failure_is_500_and_logged_without_secrets(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mivaorders")
    app = WebhookWSGIApp(Recorder(fail=True), verifier=WebhookVerifier(token=TOKEN))
    status, _, payload = call_wsgi(app, environ(body=body))
    assert status == "500 Internal Server Error"
    assert json.loads(payload) == {"error": "handler_failed"}
    assert "webhook handler failed for order 100231" in caplog.text
    assert "database down" in caplog.text  # the user's own exception is kept
    call_wsgi(app, environ(query="token=wrong-token-wrong-token", body=body))
    assert "bad_token" in caplog.text
    for secret in (TOKEN, "jane.sample@example.com", "Visa ending", "wrong-token"):
        assert secret not in caplog.text


def test_wsgi_rejects_async_handlers(body: bytes) -> None:
    async def handler(order: Order) -> None:  # pragma: no cover - never awaited, closed by the app
        raise AssertionError

    app = WebhookWSGIApp(handler, verifier=WebhookVerifier(token=TOKEN))
    status, _, _ = call_wsgi(app, environ(body=body))
    assert status.startswith("500")


def test_repeated_deliveries_are_acknowledged_but_handled_once(body: bytes) -> None:
    recorder = Recorder()
    seen = LRUSeenStore()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), seen=seen)
    first = call_wsgi(app, environ(body=body))
    second = call_wsgi(app, environ(body=body))
    assert first[0] == second[0] == "200 OK"
    assert json.loads(second[2]) == {"ok": True, "duplicate": True}
    assert len(recorder.orders) == 1
    updated = _variant(dt_updated=1717332999)  # a new state of the same order is handled
    call_wsgi(app, environ(body=updated))
    assert [o.dt_updated.timestamp() if o.dt_updated else None for o in recorder.orders] == [
        1717332000.0,
        1717332999.0,
    ]


def test_a_failed_delivery_is_not_marked_seen(body: bytes) -> None:
    recorder = Recorder(fail=True)
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), seen=LRUSeenStore())
    assert call_wsgi(app, environ(body=body))[0].startswith("500")
    recorder.fail = False
    assert call_wsgi(app, environ(body=body))[0] == "200 OK"
    assert len(recorder.orders) == 2


def test_skip_incomplete_admin_orders() -> None:
    recorder = Recorder()
    app = WebhookWSGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), skip_incomplete=True)
    unpaid = _variant(source="user", payments=[])
    status, _, payload = call_wsgi(app, environ(body=unpaid))
    assert status == "200 OK"
    assert json.loads(payload) == {"ok": True, "skipped": "incomplete"}
    assert recorder.orders == []
    call_wsgi(app, environ(body=_variant(source="user")))
    assert len(recorder.orders) == 1


# ---------------------------------------------------------------------------------- handle_webhook
def test_handle_webhook_core(body: bytes) -> None:
    recorder = Recorder()
    verifier = WebhookVerifier(token=TOKEN)
    status, headers, payload = handle_webhook(
        "POST",
        f"token={TOKEN}",
        [("Content-Type", "application/json")],
        body,
        "192.0.2.1",
        verifier=verifier,
        handler=recorder,
    )
    assert (status, json.loads(payload)) == (200, {"ok": True})
    assert ("cache-control", "no-store") in headers
    assert recorder.orders[0].id == 100231
    status, _, _ = handle_webhook("POST", b"", {}, body, None, verifier=verifier, handler=recorder)
    assert status == 401
    status, _, _ = handle_webhook(
        "GET",
        f"token={TOKEN}&Order_ID=3",
        {},
        b"",
        None,
        verifier=verifier,
        handler=recorder,
        on_order_id=recorder.on_id,
    )
    assert status == 200
    assert recorder.ids == [OrderIdNotification(3)]
    status, _, _ = handle_webhook(
        "POST",
        f"token={TOKEN}",
        {},
        b"x" * 101,
        None,
        verifier=WebhookVerifier(token=TOKEN, max_bytes=100),
        handler=recorder,
    )
    assert status == 413


# --------------------------------------------------------------------------------------------- ASGI
def _client(app: WebhookASGIApp, client: tuple[str, int] = ("192.0.2.10", 5000)) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=client), base_url="https://shop.test"
    )


@pytest.mark.anyio
async def test_asgi_async_handler(body: bytes) -> None:
    received: list[Order] = []

    async def handler(order: Order) -> None:
        received.append(order)

    app = WebhookASGIApp(handler, verifier=WebhookVerifier(token=TOKEN))
    async with _client(app) as client:
        response = await client.post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert received == [parse_order(body)]


@pytest.mark.anyio
async def test_asgi_sync_handler_and_failures(body: bytes) -> None:
    recorder = Recorder()
    app = WebhookASGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), on_order_id=recorder.on_id)
    async with _client(app) as client:
        assert (await client.post(URL, content=body)).status_code == 200
        missing = await client.post("/hooks/miva", content=body)
        wrong = await client.post("/hooks/miva?token=not-the-right-token", content=body)
        malformed = await client.post(URL, content=body[:50])
        get = await client.get(URL + "&Order_ID=100231")
        put = await client.put(URL, content=body)
        form = await client.post(URL, data={"a": "b"})
    assert (missing.status_code, missing.json()) == (401, {"error": "missing_token"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "bad_token"})
    assert TOKEN not in wrong.text
    assert (malformed.status_code, malformed.json()) == (400, {"error": "truncated"})
    assert get.status_code == 200
    assert put.status_code == 405
    assert form.status_code == 415
    assert len(recorder.orders) == 1
    assert recorder.ids == [OrderIdNotification(100231)]


@pytest.mark.anyio
async def test_asgi_handler_exception_is_500(body: bytes) -> None:
    async def handler(order: Order) -> None:
        raise RuntimeError("boom")

    app = WebhookASGIApp(handler, verifier=WebhookVerifier(token=TOKEN))
    async with _client(app) as client:
        response = await client.post(URL, content=body)
    assert (response.status_code, response.json()) == (500, {"error": "handler_failed"})


@pytest.mark.anyio
async def test_asgi_ip_allow_list(body: bytes) -> None:
    app = WebhookASGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN, allowed_networks=["192.0.2.0/24"]))
    async with _client(app, client=("198.51.100.1", 4000)) as client:
        response = await client.post(URL, content=body)
    assert response.status_code == 403


@pytest.mark.anyio
async def test_asgi_dedupes_repeats(body: bytes) -> None:
    recorder = Recorder()
    app = WebhookASGIApp(recorder, verifier=WebhookVerifier(token=TOKEN), seen=LRUSeenStore(maxsize=10))
    async with _client(app) as client:
        answers = [await client.post(URL, content=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json().get("duplicate", False) for a in answers] == [False, True, True]
    assert len(recorder.orders) == 1


@pytest.mark.anyio
async def test_asgi_streamed_upload_stops_past_the_limit() -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b" " * 10_000

    app = WebhookASGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN, max_bytes=100_000))
    async with _client(app) as client:
        response = await client.post(URL, content=endless())
    assert (response.status_code, response.json()) == (413, {"error": "too_large"})
    assert pulled <= 12


def _scope(method: str = "POST", query: bytes = f"token={TOKEN}".encode()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/hooks/miva",
        "query_string": query,
        "headers": [(b"content-type", b"application/json")],
        "client": ("192.0.2.10", 1234),
    }


@pytest.mark.anyio
async def test_asgi_raw_protocol(body: bytes) -> None:
    recorder = Recorder()
    app = WebhookASGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    parts = [body[:100], body[100:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(_scope(), receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert sent[1] == {"type": "http.response.body", "body": b'{"ok":true}'}
    assert recorder.orders[0].id == 100231


@pytest.mark.anyio
async def test_asgi_disconnect_sends_nothing() -> None:
    recorder = Recorder()
    app = WebhookASGIApp(recorder, verifier=WebhookVerifier(token=TOKEN))
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(_scope(), receive, send)
    assert sent == []
    assert recorder.orders == []


@pytest.mark.anyio
async def test_asgi_lifespan_and_other_scopes() -> None:
    app = WebhookASGIApp(Recorder(), verifier=WebhookVerifier(token=TOKEN))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    with pytest.raises(RuntimeError, match="HTTP only"):
        await app({"type": "websocket"}, receive, send)


def test_reprs_hide_the_secret() -> None:
    verifier = WebhookVerifier(token=TOKEN)
    for app in (WebhookWSGIApp(Recorder(), verifier=verifier), WebhookASGIApp(Recorder(), verifier=verifier)):
        assert TOKEN not in repr(app)
        assert "'***'" in repr(app)


def test_apps_keep_what_they_were_given() -> None:
    verifier = WebhookVerifier(token=TOKEN)
    handler = Recorder()
    for app in (
        WebhookWSGIApp(handler, verifier=verifier, on_order_id=handler.on_id),
        WebhookASGIApp(handler, verifier=verifier, on_order_id=handler.on_id),
    ):
        assert app.handler is handler
        assert app.verifier is verifier
        assert app.on_order_id == handler.on_id
