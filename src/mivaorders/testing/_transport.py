"""httpx transports that hand requests straight to a simulated store: no sockets, same httpx errors.

Faults look to the client as they would over a network: a dropped connection raises
``httpx.RemoteProtocolError``, a slow answer longer than the request's read timeout raises
``httpx.ReadTimeout``, a truncated body arrives with a matching Content-Length.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx

from ._faults import Dispatcher, Outcome
from ._protocol import ProtocolRequest

__all__ = ["FakeStoreAsyncTransport", "FakeStoreTransport"]

_NO_RESPONSE = "Server disconnected without sending a response."


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict):
        value = timeout.get("read")
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _incomplete(received: int, expected: int) -> str:
    # The wording httpcore uses when a peer closes the connection mid-body.
    return (
        "peer closed connection without sending complete message body: "
        f"received {received} bytes, expected {expected}"
    )


def _protocol_request(request: httpx.Request, body: bytes, client_ip: str) -> ProtocolRequest:
    return ProtocolRequest.build(request.method, request.headers.multi_items(), body, client_ip)


def _headers(outcome: Outcome) -> list[tuple[str, str]]:
    assert outcome.response is not None
    response = outcome.response
    return [*response.headers, ("Content-Length", str(len(response.body)))]


class _DroppingStream(httpx.SyncByteStream):
    def __init__(self, body: bytes, cut: int, request: httpx.Request) -> None:
        self._body, self._cut, self._request = body, cut, request

    def __iter__(self) -> Iterator[bytes]:
        if self._cut:
            yield self._body[: self._cut]
        raise httpx.RemoteProtocolError(_incomplete(self._cut, len(self._body)), request=self._request)


class _AsyncDroppingStream(httpx.AsyncByteStream):
    def __init__(self, body: bytes, cut: int, request: httpx.Request) -> None:
        self._body, self._cut, self._request = body, cut, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._cut:
            yield self._body[: self._cut]
        raise httpx.RemoteProtocolError(_incomplete(self._cut, len(self._body)), request=self._request)


class FakeStoreTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport into a simulated store for ``httpx.Client`` and ``httpx.AsyncClient`` alike.

    ``httpx.Client(transport=store.transport())`` or ``httpx.AsyncClient(transport=store.transport())``,
    as with ``httpx.MockTransport``. The store itself is synchronous and fast; under an ``AsyncClient``
    its delays are awaited, so other tasks keep running.
    """

    def __init__(self, dispatcher: Dispatcher, *, client_ip: str = "127.0.0.1") -> None:
        self._dispatcher = dispatcher
        self._client_ip = client_ip

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outcome = self._dispatcher.dispatch(_protocol_request(request, request.read(), self._client_ip))
        limit = _read_timeout(request)
        if limit is not None and outcome.delay > limit:
            time.sleep(limit)
            raise httpx.ReadTimeout("timed out", request=request)
        if outcome.delay > 0:
            time.sleep(outcome.delay)
        response = outcome.response
        if response is None:
            raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
        stream: httpx.SyncByteStream = (
            httpx.ByteStream(response.body)
            if outcome.cut is None
            else _DroppingStream(response.body, outcome.cut, request)
        )
        return httpx.Response(response.status, headers=_headers(outcome), stream=stream, request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        outcome = self._dispatcher.dispatch(_protocol_request(request, body, self._client_ip))
        limit = _read_timeout(request)
        if limit is not None and outcome.delay > limit:
            await anyio.sleep(limit)
            raise httpx.ReadTimeout("timed out", request=request)
        if outcome.delay > 0:
            await anyio.sleep(outcome.delay)
        response = outcome.response
        if response is None:
            raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
        stream: httpx.AsyncByteStream = (
            httpx.ByteStream(response.body)
            if outcome.cut is None
            else _AsyncDroppingStream(response.body, outcome.cut, request)
        )
        return httpx.Response(response.status, headers=_headers(outcome), stream=stream, request=request)


class FakeStoreAsyncTransport(FakeStoreTransport):
    """The same transport under its older async name: ``store.async_transport()``."""
