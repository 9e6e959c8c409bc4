"""Fault injection for the simulated store: what can go wrong between a client and a Miva store.

A fault strikes either ``"before"`` the store acted (the request never reaches the engine) or ``"after"``
(the engine ran -- a queue may already have moved -- and then the answer is lost or damaged). A ``late``
fault is the third case: the connection drops while the store is still working, and it acts afterwards.
Faults are scripted for the next N requests, or drawn at random from a seeded ``random.Random``
(deterministic).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from ._protocol import ProtocolRequest, ProtocolResponse, StoreProtocol, is_multicall, request_functions

__all__ = ["Dispatcher", "Fault", "FaultInjector", "FaultKind", "Outcome", "Strike", "When"]

FaultKind = Literal["http", "rate_limit", "api_error", "truncate", "drop", "slow", "partial", "late"]
When = Literal["before", "after"]

# Faults that only make sense once the store has produced an answer.
_AFTER_ONLY = frozenset({"truncate", "slow", "partial"})
# Faults whose store action comes after the client already gave up.
_BEFORE_ONLY = frozenset({"late"})


@attrs.frozen
class Fault:
    """One kind of failure. Build it with the class methods (``Fault.http(503)`` ...)."""

    kind: FaultKind
    status: int = 0
    retry_after: float | None = None
    error_code: str = ""
    error_message: str = ""
    delay: float = 0.0
    keep: float = 0.5
    operations: int = 1
    requests: int = 1

    @classmethod
    def http(cls, status: int = 503) -> Fault:
        """A gateway or server error page (500, 502, 503, 504 ...), not JSON."""
        if not 400 <= status <= 599:
            raise ValueError(f"an HTTP fault needs a 4xx or 5xx status, not {status}")
        return cls("http", status=status)

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1) -> Fault:
        """HTTP 429 from something in front of the store, with ``Retry-After`` (seconds) unless None."""
        return cls("rate_limit", status=429, retry_after=retry_after)

    @classmethod
    def api_error(
        cls, error_code: str = "MER-SIM-00001", error_message: str = "Simulated store error"
    ) -> Fault:
        """HTTP 200 with ``{"success": 0, "error_code": ..., "error_message": ...}`` for the whole request."""
        return cls("api_error", status=200, error_code=error_code, error_message=error_message)

    @classmethod
    def truncate(cls, keep: float = 0.5) -> Fault:
        """The body cut to ``keep`` (a fraction) under a matching Content-Length: not JSON any more."""
        return cls("truncate", keep=_fraction(keep))

    @classmethod
    def drop(cls, keep: float = 0.5) -> Fault:
        """The connection closes: ``before`` with no answer at all, ``after`` mid-body after ``keep``."""
        return cls("drop", keep=_fraction(keep))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """The store acts; the answer starts ``seconds`` later (a client read timeout may strike first)."""
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        return cls("slow", delay=seconds)

    @classmethod
    def partial(cls, operations: int = 1) -> Fault:
        """A multicall stops after ``operations`` operations with 206, as if its time budget were spent."""
        if operations < 1:
            raise ValueError("json.mvc always runs at least one operation")
        return cls("partial", operations=operations)

    @classmethod
    def late(cls, requests: int = 1) -> Fault:
        """The connection drops with no answer while the store is still working: it acts on the request
        (a queue load moves its orders) just before the ``requests``-th request after this one arrives."""
        if not isinstance(requests, int) or requests < 1:
            raise ValueError("requests must be a whole number >= 1")
        return cls("late", requests=requests)

    def applies_to(self, *, multicall: bool) -> bool:
        return multicall or self.kind != "partial"


def _fraction(keep: float) -> float:
    if not 0 <= keep < 1:
        raise ValueError("keep is the fraction of the body sent: 0 <= keep < 1")
    return keep


@attrs.frozen
class Strike:
    """A fault chosen for one request."""

    fault: Fault
    when: When


@attrs.define
class _Scripted:
    fault: Fault
    remaining: int
    when: When
    function: str | None


@attrs.define
class _Random:
    rate: float
    kinds: tuple[Fault, ...]
    rng: random.Random
    when: When | Literal["any"]
    function: str | None


class FaultInjector:
    """The fault plan of one store (``store.faults``). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: list[_Scripted] = []
        self._random: _Random | None = None

    def script(
        self, fault: Fault, *, times: int = 1, when: When = "before", function: str | None = None
    ) -> None:
        """Strike the next ``times`` matching requests (only those calling ``function``, if given).

        Scripted faults are used in the order they were added, before any random fault.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if when not in ("before", "after"):
            raise ValueError("when is 'before' or 'after'")
        if when == "before" and fault.kind in _AFTER_ONLY:
            raise ValueError(f"a {fault.kind!r} fault can only strike after the store acted")
        if when == "after" and fault.kind in _BEFORE_ONLY:
            raise ValueError(f"a {fault.kind!r} fault strikes before the store acts (it acts later)")
        with self._lock:
            self._scripted.append(_Scripted(fault, times, when, function))

    def random(
        self,
        *,
        rate: float,
        kinds: Iterable[Fault],
        seed: int = 0,
        when: When | Literal["any"] = "any",
        function: str | None = None,
    ) -> None:
        """Strike each matching request with probability ``rate``, choosing among ``kinds``.

        ``when="any"`` draws before/after per strike; kinds that can only strike after the store acted
        (truncate, slow, partial) always do. Replaces an earlier random plan.
        """
        faults = tuple(kinds)
        if not 0 <= rate <= 1:
            raise ValueError("rate is a probability between 0 and 1")
        if not faults:
            raise ValueError("kinds needs at least one Fault")
        with self._lock:
            self._random = _Random(rate, faults, random.Random(seed), when, function)

    def clear(self) -> None:
        """No more faults: drops scripted and random plans."""
        with self._lock:
            self._scripted.clear()
            self._random = None

    @property
    def active(self) -> bool:
        """Whether any fault is planned (lets the store skip looking at requests when none is)."""
        return bool(self._scripted) or self._random is not None

    @property
    def pending(self) -> int:
        """How many scripted strikes are left."""
        with self._lock:
            return sum(entry.remaining for entry in self._scripted)

    def pick(self, functions: Sequence[str], *, multicall: bool) -> Strike | None:
        """The fault for one request calling ``functions``, or None; consumes a scripted strike."""
        with self._lock:
            for entry in self._scripted:
                if entry.function is not None and entry.function not in functions:
                    continue
                if not entry.fault.applies_to(multicall=multicall):
                    continue
                entry.remaining -= 1
                if entry.remaining == 0:
                    self._scripted.remove(entry)
                return Strike(entry.fault, entry.when)
            plan = self._random
            if plan is None or (plan.function is not None and plan.function not in functions):
                return None
            if plan.rng.random() >= plan.rate:
                return None
            candidates = [fault for fault in plan.kinds if fault.applies_to(multicall=multicall)]
            if not candidates:
                return None
            fault = plan.rng.choice(candidates)
            when: When
            if fault.kind in _AFTER_ONLY:
                when = "after"
            elif fault.kind in _BEFORE_ONLY:
                when = "before"
            elif plan.when == "any":
                when = "before" if plan.rng.random() < 0.5 else "after"
            else:
                when = plan.when
            return Strike(fault, when)

    def __repr__(self) -> str:
        return f"FaultInjector(pending={self.pending}, random={self._random is not None})"


_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@attrs.frozen
class Outcome:
    """What an adapter must do for one request: wait ``delay`` seconds, then send ``response``.

    ``response`` None means the connection closes before any answer. ``cut`` set means the status, the
    headers and the full Content-Length go out but only the first ``cut`` body bytes, then the connection
    closes.
    """

    response: ProtocolResponse | None
    delay: float = 0.0
    cut: int | None = None


def _page(status: int) -> ProtocolResponse:
    # Proxies and web servers answer with HTML, not Miva JSON.
    reason = _REASONS.get(status, "Error")
    body = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
    return ProtocolResponse(status, (("Content-Type", "text/html; charset=utf-8"),), body.encode())


def _fault_response(fault: Fault) -> ProtocolResponse:
    if fault.kind == "api_error":
        document = {"success": 0, "error_code": fault.error_code, "error_message": fault.error_message}
        return ProtocolResponse.json(200, document)
    response = _page(fault.status)
    if fault.kind == "rate_limit" and fault.retry_after is not None:
        value = fault.retry_after
        text = str(int(value)) if float(value).is_integer() else str(value)
        response = attrs.evolve(response, headers=(*response.headers, ("Retry-After", text)))
    return response


@attrs.define
class _Late:
    remaining: int
    request: ProtocolRequest


class Dispatcher:
    """The store as the network sees it: the fault plan and latency wrapped around :class:`StoreProtocol`."""

    def __init__(
        self,
        protocol: StoreProtocol,
        faults: FaultInjector,
        *,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.protocol = protocol
        self.faults = faults
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self._rng = random.Random(f"jitter-{seed}")
        self._lock = threading.Lock()
        self._late: list[_Late] = []  # requests the store still has to act on

    def _latency(self) -> float:
        delay = self.latency_ms / 1000
        if self.jitter_ms > 0:
            with self._lock:
                delay += self._rng.uniform(0, self.jitter_ms / 1000)
        return delay

    def _act_late(self) -> None:
        """Run the work of ``late`` faults whose time has come (their answers go nowhere)."""
        with self._lock:
            if not self._late:
                return
            for entry in self._late:
                entry.remaining -= 1
            due = [entry.request for entry in self._late if entry.remaining <= 0]
            self._late = [entry for entry in self._late if entry.remaining > 0]
        for request in due:
            self.protocol.handle(request)

    def dispatch(self, request: ProtocolRequest) -> Outcome:
        self._act_late()
        stats = self.protocol.stats
        strike = None
        functions = request_functions(request.body)
        if self.faults.active:
            strike = self.faults.pick(functions, multicall=is_multicall(request.body))
        delay = self._latency()
        if strike is None:
            outcome = Outcome(self.protocol.handle(request), delay)
        else:
            stats.record_fault(strike.fault.kind, strike.when, functions)
            outcome = self._strike(request, strike, delay)
        response = outcome.response
        if response is None or outcome.cut is not None:
            sent = outcome.cut or 0
            stats.record_request(status=None, bytes_in=len(request.body), bytes_out=sent, functions=functions)
        else:
            stats.record_request(
                status=response.status,
                bytes_in=len(request.body),
                bytes_out=len(response.body),
                functions=functions,
            )
        return outcome

    def _strike(self, request: ProtocolRequest, strike: Strike, delay: float) -> Outcome:
        fault = strike.fault
        if fault.kind == "late":
            with self._lock:
                self._late.append(_Late(fault.requests, request))
            return Outcome(None, delay)
        if strike.when == "before":
            if fault.kind == "drop":
                return Outcome(None, delay)
            return Outcome(_fault_response(fault), delay)
        answer = self.protocol.handle(
            request, stop_after=fault.operations if fault.kind == "partial" else None
        )
        if fault.kind in ("http", "rate_limit", "api_error"):
            return Outcome(_fault_response(fault), delay)
        if fault.kind == "truncate":
            return Outcome(
                attrs.evolve(answer, body=answer.body[: int(len(answer.body) * fault.keep)]), delay
            )
        if fault.kind == "drop":
            return Outcome(answer, delay, cut=int(len(answer.body) * fault.keep))
        if fault.kind == "slow":
            return Outcome(answer, delay + fault.delay)
        return Outcome(answer, delay)  # partial: the protocol already stopped early
