"""Test helpers for mivaorders integrations: a simulated Miva store.

``FakeStore(orders=500, seed=1)`` is an in-memory Miva store behind a faithful json.mvc front end. Point a
client at it in process (``store.client()``, ``store.transport()``), through ASGI (``store.asgi_app``) or
over real loopback HTTP (``with store.serve() as endpoint: ...``), and inject faults (``store.faults``).
"""

from __future__ import annotations

import base64
import contextlib
import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._clock import StoreClock
from ._faults import Dispatcher, Fault, FaultInjector, Strike
from ._protocol import AccessPolicy, Engine, ProtocolRequest, ProtocolResponse, StoreProtocol, StoreStats
from ._transport import FakeStoreAsyncTransport, FakeStoreTransport

if TYPE_CHECKING:
    from mivaorders import AsyncClient, Client

    from ._asgi import ASGIApp

__all__ = [
    "FakeStore",
    "Fault",
    "FaultInjector",
    "StoreClock",
    "StoreStats",
    "Strike",
]

DEFAULT_ENDPOINT = "https://sim.mivaorders.test/mm5/json.mvc"


def _credentials(seed: int) -> tuple[str, str]:
    """A token and an (unpadded) base64 signing key that look random but follow from the seed."""
    rng = random.Random(f"mivaorders-credentials-{seed}")
    token = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    key = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode("ascii").rstrip("=")
    return token, key


class FakeStore:
    """A simulated Miva store: the engine (orders, queues, workflows) behind json.mvc's protocol.

    Token settings (``require_signature``, ``require_timestamp``, ``timestamp_window``, ``allowed_ips``,
    ``enabled``) and ``api_offline`` act as the Miva admin settings do; change them later with
    :meth:`configure`. ``op_cost_seconds`` adds simulated seconds per multicall operation to the time
    budget, so a 206 can be forced deterministically. ``engine`` replaces the built-in ``StoreEngine``.
    """

    def __init__(
        self,
        *,
        orders: int = 500,
        seed: int = 1,
        store_code: str = "SIM",
        workflow: str = "acknowledge",
        passphrase: str = "sim-passphrase",  # noqa: S107 - the simulator's own test passphrase
        ack_budget: int | None = None,
        clock: StoreClock | None = None,
        engine: Engine | None = None,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        op_cost_seconds: float = 0.0,
        require_signature: bool = True,
        require_timestamp: bool = True,
        timestamp_window: int = 60,
        allowed_ips: Sequence[str] | None = None,
        enabled: bool = True,
        api_offline: bool = False,
        token: str | None = None,
        signing_key: str | None = None,
        ssh_username: str = "ops_user",
        ssh_public_key: bytes | str | None = None,
        client_ip: str = "127.0.0.1",
        endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        if engine is None:
            from ._engine import StoreEngine

            engine = StoreEngine(
                orders=orders,
                seed=seed,
                store_code=store_code,
                clock=clock,
                workflow=workflow,
                passphrase=passphrase,
                ack_budget=ack_budget,
            )
        made_token, made_key = _credentials(seed)
        public_key = ssh_public_key.encode("ascii") if isinstance(ssh_public_key, str) else ssh_public_key
        access = AccessPolicy(
            token=token or made_token,
            signing_key=signing_key or made_key,
            require_signature=require_signature,
            require_timestamp=require_timestamp,
            timestamp_window=timestamp_window,
            allowed_ips=None if allowed_ips is None else tuple(allowed_ips),
            enabled=enabled,
            api_offline=api_offline,
            ssh_username=ssh_username if public_key is not None else None,
            ssh_public_key=public_key,
        )
        self.engine = engine
        self.endpoint = endpoint
        self.client_ip = client_ip
        self.stats = StoreStats()
        self.faults = FaultInjector()
        self._protocol = StoreProtocol(engine, access, stats=self.stats, op_cost_seconds=op_cost_seconds)
        self._dispatcher = Dispatcher(
            self._protocol, self.faults, latency_ms=latency_ms, jitter_ms=jitter_ms, seed=seed
        )

    def __repr__(self) -> str:
        return f"FakeStore(store_code={self.store_code!r}, endpoint={self.endpoint!r})"

    # -- identity and settings ------------------------------------------------------------------------------

    @property
    def store_code(self) -> str:
        return self.engine.store_code

    @property
    def clock(self) -> StoreClock:
        return self.engine.clock

    @property
    def token(self) -> str:
        return self._protocol.access.token

    @property
    def signing_key(self) -> str:
        return self._protocol.access.signing_key

    @property
    def access(self) -> AccessPolicy:
        """The current token settings (read-only; change them with :meth:`configure`)."""
        return self._protocol.access

    def configure(self, **changes: Any) -> None:
        """Change token settings or the API-offline switch, e.g. ``configure(enabled=False)``.

        ``denied_functions`` takes away function permissions from the token, e.g.
        ``configure(denied_functions={"OrderList_Load_Query"})`` (module functions as
        ``"Module:orderworkflow:<function>"``): those calls answer ``access_denied``.

        Also accepts ``latency_ms``, ``jitter_ms`` and ``op_cost_seconds``.
        """
        for name in ("latency_ms", "jitter_ms"):
            if name in changes:
                setattr(self._dispatcher, name, float(changes.pop(name)))
        if "op_cost_seconds" in changes:
            self._protocol.op_cost_seconds = float(changes.pop("op_cost_seconds"))
        if "allowed_ips" in changes and changes["allowed_ips"] is not None:
            changes["allowed_ips"] = tuple(changes["allowed_ips"])
        if "denied_functions" in changes:
            changes["denied_functions"] = frozenset(changes["denied_functions"])
        self._protocol.access = attrs.evolve(self._protocol.access, **changes)

    # -- the store's own controls (the engine's control API) ---------------------------------------------

    def create_order(
        self, *, paid: bool = True, admin: bool = False, guest: bool = False, items: int | None = None
    ) -> int:
        """Place a new order now; returns its id."""
        engine: Any = self.engine
        order_id: int = engine.create_order(paid=paid, admin=admin, guest=guest, items=items)
        return order_id

    def update_order(self, order_id: int, **changes: Any) -> None:
        """Edit an order as the admin would (bumps ``dt_updated``; re-queues as Miva's workflow does)."""
        engine: Any = self.engine
        engine.update_order(order_id, **changes)

    def add_payment(self, order_id: int) -> None:
        """Give an admin-created order its first payment."""
        engine: Any = self.engine
        engine.add_payment(order_id)

    def truth(self) -> dict[int, dict[str, Any]]:
        """Every order, fully rendered with all on-demand columns: what a perfect sync would hold."""
        engine: Any = self.engine
        orders: dict[int, dict[str, Any]] = engine.orders_truth()
        return orders

    def queue_members(self, queue_code: str) -> list[int]:
        """The ids of the orders in a workflow queue, e.g. ``"new_and_updated"``."""
        engine: Any = self.engine
        members: list[int] = engine.queue_members(queue_code)
        return members

    def shipments(self, order_id: int) -> list[dict[str, Any]]:
        """An order's shipments as the store holds them (copies): to check what write-back really did."""
        engine: Any = self.engine
        shipments: list[dict[str, Any]] = engine.shipments(order_id)
        return shipments

    def advance(self, seconds: float) -> None:
        """Move the store's clock (negative moves it back)."""
        self.clock.advance(seconds)

    def freeze(self) -> None:
        """Stop the store's clock (``advance`` still moves it)."""
        self.clock.freeze()

    # -- ways in --------------------------------------------------------------------------------------------

    def handle(self, request: ProtocolRequest) -> ProtocolResponse | None:
        """Answer one request with faults applied (None when a fault drops the connection)."""
        return self._dispatcher.dispatch(request).response

    def transport(self) -> FakeStoreTransport:
        """An httpx transport into this store, for ``httpx.Client`` and ``httpx.AsyncClient`` alike:
        ``httpx.Client(transport=store.transport())``, ``httpx.AsyncClient(transport=store.transport())``."""
        return FakeStoreTransport(self._dispatcher, client_ip=self.client_ip)

    def async_transport(self) -> FakeStoreTransport:
        """The same as :meth:`transport` (kept from when the two were different classes)."""
        return FakeStoreAsyncTransport(self._dispatcher, client_ip=self.client_ip)

    def client(self, **options: Any) -> Client:
        """A ready ``mivaorders.Client`` for this store, signing with HMAC-SHA256 on the store's clock."""
        from mivaorders import Client, HmacAuth

        options.setdefault("clock", self.clock.time)
        http = options.pop("http_client", None) or httpx.Client(transport=self.transport())
        return Client(
            self.endpoint,
            store_code=self.store_code,
            auth=HmacAuth(self.token, self.signing_key),
            http_client=http,
            **options,
        )

    def async_client(self, **options: Any) -> AsyncClient:
        """A ready ``mivaorders.AsyncClient`` for this store; see :meth:`client`."""
        from mivaorders import AsyncClient, HmacAuth

        options.setdefault("clock", self.clock.time)
        http = options.pop("http_client", None) or httpx.AsyncClient(transport=self.async_transport())
        return AsyncClient(
            self.endpoint,
            store_code=self.store_code,
            auth=HmacAuth(self.token, self.signing_key),
            http_client=http,
            **options,
        )

    @property
    def asgi_app(self) -> ASGIApp:
        """An ASGI application serving json.mvc (``httpx.ASGITransport(app=store.asgi_app)``, uvicorn ...)."""
        from ._asgi import StoreASGIApp

        return StoreASGIApp(self._dispatcher)

    @contextlib.contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve over real HTTP on a loopback address; yields the ``http://.../mm5/json.mvc`` endpoint."""
        from ._http import serve_loopback

        with serve_loopback(self._dispatcher, host=host, port=port) as endpoint:
            yield endpoint
