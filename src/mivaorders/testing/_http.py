"""The simulated store over real HTTP: a threaded stdlib server bound to a loopback address only.

Faults happen for real here: a dropped connection closes the socket (before any answer, or after part of
the body was written under a full Content-Length), a slow answer really waits. Nothing is logged: request
headers carry the token and signature.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._faults import Dispatcher
from ._protocol import ProtocolRequest

__all__ = ["LoopbackServer", "check_loopback", "serve_loopback"]

DEFAULT_PATH = "/mm5/json.mvc"


def check_loopback(host: str) -> str:
    """The literal loopback address to bind for ``host``; refuses anything that is not loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"the simulator only binds loopback addresses, not {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"the simulator only binds loopback addresses, not {host!r}")
    return str(address)


class LoopbackServer(ThreadingHTTPServer):
    """One simulated store on ``host:port``; ``port=0`` picks a free port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, dispatcher: Dispatcher, *, host: str = "127.0.0.1", port: int = 0, path: str = DEFAULT_PATH
    ):
        bind = check_loopback(host)
        if ipaddress.ip_address(bind).version == 6:
            self.address_family = socket.AF_INET6
        self.dispatcher = dispatcher
        self.path = path
        super().__init__((bind, port), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that goes away mid-request (killed, timed out) is normal here, not worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def endpoint(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body go out in separate writes, and with Nagle on, a small body waited for
    # the client's delayed ACK (~40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server: LoopbackServer

    def log_message(self, format: str, *args: object) -> None:
        """Silent on purpose: nothing about requests may reach a log."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0] != self.server.path:
            self._plain(404, b"Not Found")
            return
        request = ProtocolRequest.build(self.command, self.headers.items(), body, self.client_address[0])
        outcome = self.server.dispatcher.dispatch(request)
        if outcome.delay > 0:
            time.sleep(outcome.delay)
        response = outcome.response
        if response is None:
            self._drop()
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if outcome.cut is None:
            self.wfile.write(response.body)
            return
        self.wfile.write(response.body[: outcome.cut])
        self.wfile.flush()
        self._drop()

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def serve_loopback(
    dispatcher: Dispatcher, *, host: str = "127.0.0.1", port: int = 0, path: str = DEFAULT_PATH
) -> Iterator[str]:
    """Run a :class:`LoopbackServer` in a background thread; yields its endpoint URL."""
    server = LoopbackServer(dispatcher, host=host, port=port, path=path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
