"""Framework-free webhook receivers: one request core, a WSGI app and an ASGI app around it.

The core vets the request *before* the body is read (so an unauthenticated caller cannot make us read
10 MB), reads at most ``max_bytes``, decodes the order, skips repeats, calls the user's handler and
answers quickly:

======  =====================================================================================
200     handled, or a repeat that was already handled (``seen``), or skipped as incomplete
400     malformed body or query; 401 token/Basic credentials; 403 IP; 405 method; 413 too large;
        415 a form post
500     the handler raised: visible in Miva's workflow log. Miva does not retry (unconfirmed), so
        reconcile by ``dt_updated`` anyway.
======  =====================================================================================

Answers never echo the token, the body or payment data; logs carry only the reason, status, peer and
order id.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING

from . import _json
from ._asgi import Receive, Scope, Send, lifespan
from ._webhook import (
    OrderIdNotification,
    SeenStore,
    WebhookError,
    WebhookRequest,
    WebhookVerifier,
    dedupe_key,
    is_complete,
    parse_order,
    parse_order_id,
)
from .models import Order

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "AsyncOrderHandler",
    "OrderHandler",
    "OrderIdHandler",
    "WebhookASGIApp",
    "WebhookResponse",
    "WebhookWSGIApp",
    "handle_webhook",
]

logger = logging.getLogger("mivaorders.webhooks")

#: ``(status, headers, body)``.
WebhookResponse = tuple[int, list[tuple[str, str]], bytes]
OrderHandler = Callable[[Order], object]
AsyncOrderHandler = Callable[[Order], Awaitable[object] | object]
OrderIdHandler = Callable[[OrderIdNotification], Awaitable[object] | object]

_CHUNK = 65_536
_HEADERS = [("content-type", "application/json"), ("cache-control", "no-store")]


def _answer(
    status: int, payload: Mapping[str, object], extra: Iterable[tuple[str, str]] = ()
) -> WebhookResponse:
    return status, [*_HEADERS, *extra], _json.dumps(payload)


def _rejected(exc: WebhookError, request: WebhookRequest | None) -> WebhookResponse:
    peer = request.remote_addr if request is not None else None
    logger.warning("webhook rejected: reason=%s status=%s peer=%s", exc.reason, exc.status, peer)
    extra: list[tuple[str, str]] = []
    if exc.status == HTTPStatus.METHOD_NOT_ALLOWED:
        extra.append(("allow", "POST, GET"))
    if exc.reason in ("missing_credentials", "bad_credentials"):
        # The challenge lets a client that sends credentials only when asked (RFC 7617) retry with them.
        extra.append(("www-authenticate", 'Basic realm="webhook", charset="UTF-8"'))
    return _answer(exc.status, {"error": exc.reason}, extra)


class _Core:
    """What the sync and async receivers share: vetting, decoding and the dedupe/completeness rules."""

    def __init__(
        self,
        verifier: WebhookVerifier,
        handler: AsyncOrderHandler,
        on_order_id: OrderIdHandler | None,
        seen: SeenStore | None,
        skip_incomplete: bool,
    ) -> None:
        self.verifier = verifier
        self.handler = handler
        self.on_order_id = on_order_id
        self.seen = seen
        self.skip_incomplete = skip_incomplete

    def vet(self, request: WebhookRequest) -> None:
        if request.method.upper() == "GET" and self.on_order_id is None:
            raise WebhookError("GET webhooks are not enabled", reason="method_not_allowed", status=405)
        self.verifier.vet(request)

    def decode(self, request: WebhookRequest, body: bytes) -> Order | OrderIdNotification:
        if request.method.upper() == "GET":
            return parse_order_id(request.query, param=self.verifier.order_id_param)
        return parse_order(body, max_bytes=self.verifier.max_bytes, max_depth=self.verifier.max_depth)

    @staticmethod
    def has_body(request: WebhookRequest) -> bool:
        """Whether the request's body is read (a POST); a vetted GET carries only the query."""
        return request.method.upper() == "POST"

    def call(self, event: Order | OrderIdNotification) -> object:
        """Hand the event to its handler; the result may be awaitable (the async receiver awaits it)."""
        if isinstance(event, Order):
            return self.handler(event)
        assert self.on_order_id is not None  # vet() refuses a GET when there is no on_order_id
        return self.on_order_id(event)

    def skip(self, event: Order | OrderIdNotification) -> WebhookResponse | None:
        """An early 200 for a repeat or an incomplete order, else None (handle it)."""
        if not isinstance(event, Order):
            return None
        if self.seen is not None and self.seen.seen(dedupe_key(event)):
            logger.info("webhook order %s: repeat delivery, already handled", event.id)
            return _answer(200, {"ok": True, "duplicate": True})
        if self.skip_incomplete and not is_complete(event):
            logger.info("webhook order %s: admin order without payment, skipped", event.id)
            return _answer(200, {"ok": True, "skipped": "incomplete"})
        return None

    def done(self, event: Order | OrderIdNotification) -> WebhookResponse:
        if isinstance(event, Order):
            if self.seen is not None:
                self.seen.mark(dedupe_key(event))
            logger.debug("webhook order %s handled", event.id)
        return _answer(200, {"ok": True})

    @staticmethod
    def failed(event: Order | OrderIdNotification, error: Exception) -> WebhookResponse:
        """The 500 answer for a handler that raised ``error``."""
        # The user's own exception (with traceback); the order itself is never logged.
        logger.error("webhook handler failed for order %s", _event_id(event), exc_info=error)
        return _answer(500, {"error": "handler_failed"})


def _event_id(event: Order | OrderIdNotification) -> int:
    return event.id if isinstance(event, Order) else event.order_id


def _close_awaitable(result: object) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()  # a coroutine that will never run: close it to avoid "never awaited"


def handle_webhook(
    method: str,
    query: str | bytes,
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
    body: bytes | bytearray,
    remote_addr: str | None,
    *,
    verifier: WebhookVerifier,
    handler: OrderHandler,
    on_order_id: Callable[[OrderIdNotification], object] | None = None,
    seen: SeenStore | None = None,
    skip_incomplete: bool = False,
) -> WebhookResponse:
    """Answer one webhook request whose body is already in memory: ``(status, headers, body)``.

    ``handler`` gets each new :class:`~mivaorders.models.Order`; ``on_order_id`` (if given) enables the
    ``GET ?Order_ID=`` variant. ``seen`` skips repeats (by ``dedupe_key``); ``skip_incomplete`` answers
    200 without calling ``handler`` for admin orders that have no payment yet (:func:`is_complete`).
    """
    core = _Core(verifier, handler, on_order_id, seen, skip_incomplete)
    request = WebhookRequest(method=method, query=query, headers=headers, remote_addr=remote_addr)
    try:
        core.vet(request)
        event = core.decode(request, bytes(body))
    except WebhookError as exc:
        return _rejected(exc, request)
    return _dispatch_sync(core, event)


def _dispatch_sync(core: _Core, event: Order | OrderIdNotification) -> WebhookResponse:
    early = core.skip(event)
    if early is not None:
        return early
    try:
        result = core.call(event)
        if inspect.isawaitable(result):
            _close_awaitable(result)
            raise TypeError("an async handler needs WebhookASGIApp; WSGI handlers must be plain functions")
    except Exception as exc:
        return core.failed(event, exc)
    return core.done(event)


# --------------------------------------------------------------------------------------------- WSGI
def _wsgi_request(environ: WSGIEnvironment) -> WebhookRequest:
    headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-")] = environ[key]
    return WebhookRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        query=environ.get("QUERY_STRING", ""),
        headers=headers,
        remote_addr=environ.get("REMOTE_ADDR"),
    )


def _too_large(limit: int) -> WebhookError:
    return WebhookError(f"webhook body is larger than {limit} bytes", reason="too_large", status=413)


def _wsgi_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """Read the body, never more than ``limit + 1`` bytes, never past ``CONTENT_LENGTH`` (PEP 3333)."""
    stream = environ["wsgi.input"]
    text = (environ.get("CONTENT_LENGTH") or "").strip()
    remaining: int | None
    if text:
        if not text.isdigit():
            raise WebhookError("invalid Content-Length", reason="bad_length", status=400)
        remaining = int(text)
        if remaining > limit:
            raise _too_large(limit)
    elif environ.get("wsgi.input_terminated"):
        remaining = None  # chunked body; the server signals its end
    else:
        return b""
    chunks: list[bytes] = []
    total = 0
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return b"".join(chunks)


class WebhookWSGIApp:
    """A WSGI application receiving Miva order webhooks (mount it at the webhook URL's path).

    ``handler(order)`` must be a plain function; keep it short (queue the work) so Miva gets its answer
    quickly. See :func:`handle_webhook` for the other arguments.
    """

    def __init__(
        self,
        handler: OrderHandler,
        *,
        verifier: WebhookVerifier,
        on_order_id: Callable[[OrderIdNotification], object] | None = None,
        seen: SeenStore | None = None,
        skip_incomplete: bool = False,
    ) -> None:
        self.handler = handler
        self.on_order_id = on_order_id
        self._core = _Core(verifier, handler, on_order_id, seen, skip_incomplete)

    def __repr__(self) -> str:
        return f"WebhookWSGIApp(verifier={self._core.verifier!r})"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self.respond(environ)
        phrase = HTTPStatus(status).phrase
        start_response(f"{status} {phrase}", [*headers, ("content-length", str(len(body)))])
        return [body]

    def respond(self, environ: WSGIEnvironment) -> WebhookResponse:
        """The ``(status, headers, body)`` for one request (what ``__call__`` sends)."""
        request = _wsgi_request(environ)
        try:
            self._core.vet(request)
            body = _wsgi_body(environ, self._core.verifier.max_bytes) if self._core.has_body(request) else b""
            event = self._core.decode(request, body)
        except WebhookError as exc:
            return _rejected(exc, request)
        return _dispatch_sync(self._core, event)


# --------------------------------------------------------------------------------------------- ASGI
class _Disconnected(Exception):
    """The client went away before the body arrived; there is nobody to answer."""


async def _asgi_body(receive: Receive, limit: int) -> bytes:
    """Collect ``http.request`` messages; stop (without draining) once past ``limit``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebhookASGIApp:
    """An ASGI application receiving Miva order webhooks (mount it at the webhook URL's path).

    ``handler(order)`` may be ``async``; a plain function runs on the event loop, so keep it short.
    See :func:`handle_webhook` for the other arguments.
    """

    def __init__(
        self,
        handler: AsyncOrderHandler,
        *,
        verifier: WebhookVerifier,
        on_order_id: OrderIdHandler | None = None,
        seen: SeenStore | None = None,
        skip_incomplete: bool = False,
    ) -> None:
        self.handler = handler
        self.on_order_id = on_order_id
        self._core = _Core(verifier, handler, on_order_id, seen, skip_incomplete)

    def __repr__(self) -> str:
        return f"WebhookASGIApp(verifier={self._core.verifier!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError(f"WebhookASGIApp serves HTTP only, not {scope['type']!r}")
        try:
            status, headers, body = await self.respond(scope, receive)
        except _Disconnected:
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in [*headers, ("content-length", str(len(body)))]
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def respond(self, scope: Scope, receive: Receive) -> WebhookResponse:
        """The ``(status, headers, body)`` for one HTTP request (what ``__call__`` sends)."""
        client = scope.get("client")
        request = WebhookRequest(
            method=scope["method"],
            query=scope.get("query_string", b""),
            headers=scope.get("headers", []),
            remote_addr=client[0] if client else None,
        )
        core = self._core
        try:
            core.vet(request)
            body = await _asgi_body(receive, core.verifier.max_bytes) if core.has_body(request) else b""
            event = core.decode(request, body)
        except WebhookError as exc:
            return _rejected(exc, request)
        early = core.skip(event)
        if early is not None:
            return early
        try:
            result = core.call(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            return core.failed(event, exc)
        return core.done(event)
