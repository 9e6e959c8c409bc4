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
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import attrs

from . import _json, _webhook
from ._asgi import Receive, Scope, Send, lifespan
from ._conversation import Turns
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
OrderIdHandler = Callable[[_webhook.OrderIdNotification], Awaitable[object] | object]

_Event = Order | _webhook.OrderIdNotification

_CHUNK = 65_536
_HEADERS = [("content-type", "application/json"), ("cache-control", "no-store")]


def _answer(
    status: int, payload: Mapping[str, object], extra: Iterable[tuple[str, str]] = ()
) -> WebhookResponse:
    return status, [*_HEADERS, *extra], _json.dumps(payload)


def _rejected(exc: _webhook.WebhookError, request: _webhook.WebhookRequest) -> WebhookResponse:
    logger.warning(
        "webhook rejected: reason=%s status=%s peer=%s", exc.reason, exc.status, request.remote_addr
    )
    extra: list[tuple[str, str]] = []
    if exc.status == HTTPStatus.METHOD_NOT_ALLOWED:
        extra.append(("allow", "POST, GET"))
    if exc.reason in ("missing_credentials", "bad_credentials"):
        # The challenge lets a client that sends credentials only when asked (RFC 7617) retry with them.
        extra.append(("www-authenticate", 'Basic realm="webhook", charset="UTF-8"'))
    return _answer(exc.status, {"error": exc.reason}, extra)


def _event_id(event: _Event) -> int:
    return event.id if isinstance(event, Order) else event.order_id


# ------------------------------------------------------------------------------------ the exchange
@attrs.frozen
class _ReadBody:
    """Read the request's body, refusing more than ``limit`` bytes; answered with the bytes."""

    limit: int


@attrs.frozen
class _Settle:
    """Finish what the handler returned (the ASGI app awaits an awaitable, the sync receivers refuse it);
    answered with nothing, or the failure thrown in."""

    result: object


_Step = _ReadBody | _Settle
#: One webhook request, written once for both receivers as a generator of steps (the pattern of
#: ``mivaorders._conversation``); a receiver answers the steps and the generator returns the response.
_Exchange = Generator[_Step, Any, WebhookResponse]


@attrs.define(eq=False)
class _Receiver:
    """What the receivers share: the handlers, the rules (vetting, dedupe, completeness) and the exchange.

    Each receiver (and :func:`handle_webhook`) only runs :meth:`_exchange`, reading the body and settling
    the handler's result in its own way. The repr shows the verifier only (it hides its secrets).
    """

    handler: AsyncOrderHandler = attrs.field(repr=False)
    verifier: _webhook.WebhookVerifier
    on_order_id: OrderIdHandler | None = attrs.field(repr=False)
    _seen: _webhook.SeenStore | None = attrs.field(repr=False)
    _skip_incomplete: bool = attrs.field(repr=False)

    def _exchange(self, request: _webhook.WebhookRequest) -> _Exchange:
        """Vet (before the body is read), read the body, decode, skip repeats, hand over, answer."""
        try:
            self._vet(request)
            body = (yield _ReadBody(self.verifier.max_bytes)) if _has_body(request) else b""
            event = self.verifier.decode(request, body)
        except _webhook.WebhookError as exc:
            return _rejected(exc, request)
        early = self._skip(event)
        if early is not None:
            return early
        try:
            yield _Settle(self._call(event))
        except Exception as exc:
            # The user's own exception (with traceback); the order itself is never logged.
            logger.error("webhook handler failed for order %s", _event_id(event), exc_info=exc)
            return _answer(500, {"error": "handler_failed"})
        if isinstance(event, Order):
            if self._seen is not None:
                self._seen.mark(_webhook.dedupe_key(event))
            logger.debug("webhook order %s handled", event.id)
        return _answer(200, {"ok": True})

    def _vet(self, request: _webhook.WebhookRequest) -> None:
        if request.method.upper() == "GET" and self.on_order_id is None:
            raise _webhook.WebhookError(
                "GET webhooks are not enabled", reason="method_not_allowed", status=405
            )
        self.verifier.vet(request)

    def _skip(self, event: _Event) -> WebhookResponse | None:
        """An early 200 for a repeat or an incomplete order, else None (handle it)."""
        if not isinstance(event, Order):
            return None
        if self._seen is not None and self._seen.seen(_webhook.dedupe_key(event)):
            logger.info("webhook order %s: repeat delivery, already handled", event.id)
            return _answer(200, {"ok": True, "duplicate": True})
        if self._skip_incomplete and not _webhook.is_complete(event):
            logger.info("webhook order %s: admin order without payment, skipped", event.id)
            return _answer(200, {"ok": True, "skipped": "incomplete"})
        return None

    def _call(self, event: _Event) -> object:
        """Hand the event to its handler; the result may be awaitable."""
        if isinstance(event, Order):
            return self.handler(event)
        assert self.on_order_id is not None  # _vet() refuses a GET when there is no on_order_id
        return self.on_order_id(event)


def _has_body(request: _webhook.WebhookRequest) -> bool:
    """Whether the request's body is read (a POST); a vetted GET carries only the query."""
    return request.method.upper() == "POST"


def _respond_sync(
    receiver: _Receiver, request: _webhook.WebhookRequest, read_body: Callable[[int], bytes]
) -> WebhookResponse:
    """Run the exchange where nothing can be awaited (WSGI, :func:`handle_webhook`)."""
    turns = Turns(receiver._exchange(request))
    while (step := turns.step()) is not None:
        _take_sync(turns, step, read_body)
    return turns.result


def _take_sync(turns: Turns[WebhookResponse], step: _Step, read_body: Callable[[int], bytes]) -> None:
    try:
        if isinstance(step, _ReadBody):
            turns.answer(read_body(step.limit))
        else:
            _refuse_awaitable(step.result)
    except Exception as exc:  # the exchange decides what a failure means
        turns.fail(exc)


def _refuse_awaitable(result: object) -> None:
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()  # a coroutine that will never run: close it to avoid "never awaited"
        raise TypeError("an async handler needs WebhookASGIApp; WSGI handlers must be plain functions")


def handle_webhook(
    method: str,
    query: str | bytes,
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
    body: bytes | bytearray,
    remote_addr: str | None,
    *,
    verifier: _webhook.WebhookVerifier,
    handler: OrderHandler,
    on_order_id: Callable[[_webhook.OrderIdNotification], object] | None = None,
    seen: _webhook.SeenStore | None = None,
    skip_incomplete: bool = False,
) -> WebhookResponse:
    """Answer one webhook request whose body is already in memory: ``(status, headers, body)``.

    ``handler`` gets each new :class:`~mivaorders.models.Order`; ``on_order_id`` (if given) enables the
    ``GET ?Order_ID=`` variant. ``seen`` skips repeats (by ``dedupe_key``); ``skip_incomplete`` answers
    200 without calling ``handler`` for admin orders that have no payment yet (:func:`is_complete`).
    """
    receiver = _Receiver(handler, verifier, on_order_id, seen, skip_incomplete)
    request = _webhook.WebhookRequest(method=method, query=query, headers=headers, remote_addr=remote_addr)
    # The body is already in memory; parse_order refuses one past the verifier's max_bytes.
    return _respond_sync(receiver, request, lambda _limit: bytes(body))


# --------------------------------------------------------------------------------------------- WSGI
def _wsgi_request(environ: WSGIEnvironment) -> _webhook.WebhookRequest:
    headers = {key[5:].replace("_", "-"): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-")] = environ[key]
    return _webhook.WebhookRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        query=environ.get("QUERY_STRING", ""),
        headers=headers,
        remote_addr=environ.get("REMOTE_ADDR"),
    )


def _too_large(limit: int) -> _webhook.WebhookError:
    return _webhook.WebhookError(f"webhook body is larger than {limit} bytes", reason="too_large", status=413)


def _wsgi_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """Read the body, never more than ``limit + 1`` bytes, never past ``CONTENT_LENGTH`` (PEP 3333)."""
    stream = environ["wsgi.input"]
    text = (environ.get("CONTENT_LENGTH") or "").strip()
    remaining: int | None
    if text:
        if not text.isdigit():
            raise _webhook.WebhookError("invalid Content-Length", reason="bad_length", status=400)
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


class WebhookWSGIApp(_Receiver):
    """A WSGI application receiving Miva order webhooks (mount it at the webhook URL's path).

    ``handler(order)`` must be a plain function; keep it short (queue the work) so Miva gets its answer
    quickly. See :func:`handle_webhook` for the other arguments.
    """

    def __init__(
        self,
        handler: OrderHandler,
        *,
        verifier: _webhook.WebhookVerifier,
        on_order_id: Callable[[_webhook.OrderIdNotification], object] | None = None,
        seen: _webhook.SeenStore | None = None,
        skip_incomplete: bool = False,
    ) -> None:
        super().__init__(handler, verifier, on_order_id, seen, skip_incomplete)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self.respond(environ)
        phrase = HTTPStatus(status).phrase
        start_response(f"{status} {phrase}", [*headers, ("content-length", str(len(body)))])
        return [body]

    def respond(self, environ: WSGIEnvironment) -> WebhookResponse:
        """The ``(status, headers, body)`` for one request (what ``__call__`` sends)."""
        return _respond_sync(self, _wsgi_request(environ), lambda limit: _wsgi_body(environ, limit))


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


async def _take_async(turns: Turns[WebhookResponse], step: _Step, receive: Receive) -> None:
    try:
        if isinstance(step, _ReadBody):
            turns.answer(await _asgi_body(receive, step.limit))
        elif inspect.isawaitable(step.result):
            await step.result
    except Exception as exc:  # the exchange decides what a failure means
        turns.fail(exc)


class WebhookASGIApp(_Receiver):
    """An ASGI application receiving Miva order webhooks (mount it at the webhook URL's path).

    ``handler(order)`` may be ``async``; a plain function runs on the event loop, so keep it short.
    See :func:`handle_webhook` for the other arguments.
    """

    def __init__(
        self,
        handler: AsyncOrderHandler,
        *,
        verifier: _webhook.WebhookVerifier,
        on_order_id: OrderIdHandler | None = None,
        seen: _webhook.SeenStore | None = None,
        skip_incomplete: bool = False,
    ) -> None:
        super().__init__(handler, verifier, on_order_id, seen, skip_incomplete)

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
        request = _webhook.WebhookRequest(
            method=scope["method"],
            query=scope.get("query_string", b""),
            headers=scope.get("headers", []),
            remote_addr=client[0] if client else None,
        )
        turns = Turns(self._exchange(request))
        while (step := turns.step()) is not None:
            await _take_async(turns, step, receive)
        return turns.result
