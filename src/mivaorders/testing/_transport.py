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


def _delay(request: httpx.Request, outcome: Outcome) -> tuple[float, bool]:
    """How long the answer takes, and whether the client's read timeout runs out first (then that long)."""
    limit = _read_timeout(request)
    if limit is not None and outcome.delay > limit:
        return limit, True
    return outcome.delay, False


def _response(request: httpx.Request, outcome: Outcome, timed_out: bool) -> httpx.Response:
    """What the client gets once the delay has passed: a timeout, a dropped connection or the answer."""
    if timed_out:
        raise httpx.ReadTimeout("timed out", request=request)
    response = outcome.response
    if response is None:
        raise httpx.RemoteProtocolError(_NO_RESPONSE, request=request)
    stream: httpx.ByteStream | _DroppingStream = (
        httpx.ByteStream(response.body)
        if outcome.cut is None
        else _DroppingStream(response.body, outcome.cut, request)
    )
    headers = [*response.headers, ("Content-Length", str(len(response.body)))]
    return httpx.Response(response.status, headers=headers, stream=stream, request=request)


class _DroppingStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body cut after ``cut`` bytes, for sync and async clients alike (as ``httpx.ByteStream``)."""

    def __init__(self, body: bytes, cut: int, request: httpx.Request) -> None:
        self._body, self._cut, self._request = body, cut, request

    def __iter__(self) -> Iterator[bytes]:
        if self._cut:
            yield self._body[: self._cut]
        raise self._dropped()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._cut:
            yield self._body[: self._cut]
        raise self._dropped()

    def _dropped(self) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(_incomplete(self._cut, len(self._body)), request=self._request)


class FakeStoreTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport into a simulated store for ``httpx.Client`` and ``httpx.AsyncClient`` alike.

    ``httpx.Client(transport=store.transport())`` or ``httpx.AsyncClient(transport=store.transport())``,
    as with ``httpx.MockTransport``. The store itself is synchronous and fast; under an ``AsyncClient``
    its delays are awaited, so other tasks keep running.
    """

    def __init__(self, dispatcher: Dispatcher, *, client_ip: str = "127.0.0.1") -> None:
        self._dispatcher = dispatcher
        self._client_ip = client_ip

    def _dispatch(self, request: httpx.Request, body: bytes) -> Outcome:
        return self._dispatcher.dispatch(
            ProtocolRequest.build(request.method, request.headers.multi_items(), body, self._client_ip)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outcome = self._dispatch(request, request.read())
        seconds, timed_out = _delay(request, outcome)
        if seconds > 0 or timed_out:
            time.sleep(seconds)
        return _response(request, outcome, timed_out)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        outcome = self._dispatch(request, await request.aread())
        seconds, timed_out = _delay(request, outcome)
        if seconds > 0 or timed_out:
            await anyio.sleep(seconds)
        return _response(request, outcome, timed_out)


class FakeStoreAsyncTransport(FakeStoreTransport):
    """The same transport under its older async name: ``store.async_transport()``."""
