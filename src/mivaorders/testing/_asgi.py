"""The simulated store as an ASGI application (for ``httpx.ASGITransport``, uvicorn, hypercorn ...)."""

from __future__ import annotations

import anyio

from mivaorders._asgi import ASGIApp, Receive, Scope, Send, lifespan

from ._faults import Dispatcher
from ._protocol import ProtocolRequest

__all__ = ["ASGIApp", "SimulatedDisconnect", "StoreASGIApp"]


class SimulatedDisconnect(ConnectionError):
    """Raised by the ASGI app to drop a connection (ASGI servers then close it mid-response)."""


class StoreASGIApp:
    """json.mvc at the store's path (default ``/mm5/json.mvc``); any other path answers 404."""

    def __init__(self, dispatcher: Dispatcher, *, path: str = "/mm5/json.mvc") -> None:
        self._dispatcher = dispatcher
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope.get("path") != self._path:
            await _send_plain(send, 404, b"Not Found")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        client = scope.get("client")
        client_ip = client[0] if client else "127.0.0.1"
        outcome = self._dispatcher.dispatch(
            ProtocolRequest.build(scope["method"], headers, bytes(body), client_ip)
        )
        if outcome.delay > 0:
            await anyio.sleep(outcome.delay)
        response = outcome.response
        if response is None:
            raise SimulatedDisconnect("connection dropped before the response")
        raw_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
        ]
        raw_headers.append((b"content-length", str(len(response.body)).encode("ascii")))
        await send({"type": "http.response.start", "status": response.status, "headers": raw_headers})
        if outcome.cut is None:
            await send({"type": "http.response.body", "body": response.body, "more_body": False})
            return
        await send({"type": "http.response.body", "body": response.body[: outcome.cut], "more_body": True})
        raise SimulatedDisconnect("connection dropped mid-body")


async def _send_plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
