"""Retry policies: when a failed request is tried again, and how long to wait first.

A :class:`RetryPolicy` caps both the number of attempts and the total time, backs off exponentially with
full jitter, honours ``Retry-After`` (up to a cap), and asks a predicate which failures are worth another
try. Whatever the predicate says, a request that may already have changed the store (a write, or a queue
load in a workflow without acknowledgement) is only retried when the failure proves the store never acted
on it: a refused connection, an HTTP 429, or an authentication failure.

Pass ``retry=None`` to a client to turn retrying off; ``RetryPolicy(wait=False)`` keeps retrying but never
sleeps (for tests).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import attrs
import tenacity

from ._envelope import Safety
from ._exceptions import (
    AuthenticationError,
    ConfigurationError,
    HTTPStatusError,
    MivaError,
    ResponseDecodeError,
    TransportError,
)
from ._validate import boolean, callable_, seconds, whole_number

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "default_retry_on", "proves_not_acted"]

logger = logging.getLogger("mivaorders")

#: HTTP statuses retried by default.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

#: A predicate: ``False``/``None`` = do not retry, ``True`` = retry after the backoff delay,
#: a number = retry after that many seconds.
RetryPredicate = Callable[[Exception], "bool | float | None"]


def default_retry_on(exc: Exception) -> bool:
    """Retry connection failures, timeouts, 429/5xx, truncated or undecodable bodies, and clock skew."""
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, HTTPStatusError):
        return exc.status_code in RETRYABLE_STATUS
    if isinstance(exc, ResponseDecodeError):
        return True
    if isinstance(exc, AuthenticationError):
        # A stale timestamp is worth one more try with a fresh one; other auth failures never are.
        return exc.is_clock_skew
    return False


def proves_not_acted(exc: Exception) -> bool:
    """True when the failure shows the store did not run the function at all."""
    if isinstance(exc, TransportError):
        return not exc.maybe_sent
    if isinstance(exc, HTTPStatusError):
        return exc.status_code == 429
    # Authentication is checked before any function runs.
    return isinstance(exc, AuthenticationError)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried.

    ``max_attempts`` counts every try including the first; ``max_time`` (seconds) bounds the whole call,
    waits included. Delays grow from ``initial_delay`` by ``multiplier`` up to ``max_delay``, with full
    jitter. A ``Retry-After`` header is honoured up to ``retry_after_cap`` seconds. ``retry_on`` replaces
    :func:`default_retry_on`; it may return a number of seconds to wait instead of ``True``.
    """

    max_attempts: int = attrs.field(default=4)
    max_time: float = attrs.field(default=60.0)
    initial_delay: float = attrs.field(default=0.5)
    max_delay: float = attrs.field(default=10.0)
    multiplier: float = attrs.field(default=2.0)
    jitter: bool = attrs.field(default=True)
    retry_after_cap: float = attrs.field(default=60.0)
    retry_on: RetryPredicate = attrs.field(default=default_retry_on)
    wait: bool = attrs.field(default=True)
    max_clock_skew_retries: int = attrs.field(default=1)

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        whole_number(value, "max_attempts", minimum=1, error=ConfigurationError)

    @max_clock_skew_retries.validator
    def _check_skew_retries(self, _: attrs.Attribute[int], value: int) -> None:
        whole_number(value, "max_clock_skew_retries", minimum=0, error=ConfigurationError)

    @max_time.validator
    @initial_delay.validator
    @max_delay.validator
    @retry_after_cap.validator
    def _check_seconds(self, attribute: attrs.Attribute[float], value: float) -> None:
        seconds(value, attribute.name, allow_zero=True, error=ConfigurationError)

    @multiplier.validator
    def _check_multiplier(self, _: attrs.Attribute[float], value: float) -> None:
        if seconds(value, "multiplier", error=ConfigurationError) < 1:
            raise ConfigurationError(f"multiplier must be a finite number >= 1, not {value!r}")

    @jitter.validator
    @wait.validator
    def _check_flag(self, attribute: attrs.Attribute[bool], value: bool) -> None:
        boolean(value, attribute.name, error=ConfigurationError)

    @retry_on.validator
    def _check_predicate(self, _: attrs.Attribute[RetryPredicate], value: RetryPredicate) -> None:
        callable_(value, "retry_on", error=ConfigurationError)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay after failed attempt number ``attempt`` (1-based), before jitter is capped."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0, ceiling)

    def delay_for(self, exc: Exception, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) ended with ``exc``.

        The predicate's own number wins over the backoff; ``Retry-After`` is a floor, capped.
        """
        return self._delay(exc, attempt, self.retry_on(exc))

    def _delay(self, exc: Exception, attempt: int, verdict: bool | float | None) -> float:
        """:meth:`delay_for` given the predicate's verdict, so one failure asks the predicate once."""
        seconds = self.backoff(attempt)
        if isinstance(verdict, (int, float)) and not isinstance(verdict, bool):
            seconds = float(verdict)
        if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
            seconds = max(seconds, min(exc.retry_after, self.retry_after_cap))
        return seconds

    def should_retry(self, exc: Exception, safety: Safety) -> bool | float:
        """The decision for one failure: ``False``, ``True`` (back off) or seconds to wait."""
        if not isinstance(exc, MivaError) or safety is Safety.ONCE:
            return False
        if safety is Safety.UNSAFE and not proves_not_acted(exc):
            return False
        verdict = self.retry_on(exc)
        if verdict is None or verdict is False:
            return False
        return verdict

    def _retrying_kwargs(self, safety: Safety, label: str) -> dict[str, Any]:
        """tenacity arguments for one request; the sync and async clients share them."""
        request = _RequestRetries(policy=self, safety=safety, label=label)
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.max_attempts)
        if self.wait:
            stop = stop | tenacity.stop_before_delay(self.max_time)
        return {
            "stop": stop,
            "wait": request.delay,
            "retry": request.decide,
            "before_sleep": request.log_attempt,
            "reraise": True,
        }

    def retrying(
        self, safety: Safety, label: str, sleep: Callable[[float], None] | None = None
    ) -> tenacity.Retrying:
        """tenacity's loop for one request; ``sleep`` replaces sleeping (the clients' drivers pass a
        recorder, and sleep themselves)."""
        if sleep is None:
            sleep = _sleep if self.wait else _no_sleep
        return tenacity.Retrying(sleep=sleep, **self._retrying_kwargs(safety, label))

    def async_retrying(self, safety: Safety, label: str) -> tenacity.AsyncRetrying:
        kwargs = self._retrying_kwargs(safety, label)
        if not self.wait:
            return tenacity.AsyncRetrying(sleep=_async_no_sleep, **kwargs)
        return tenacity.AsyncRetrying(**kwargs)


@attrs.define
class _RequestRetries:
    """The retry bookkeeping of one request: tenacity asks :meth:`decide`, then :meth:`delay`.

    ``decide`` keeps the predicate's verdict for ``delay``, so each failure asks ``retry_on`` once;
    ``clock_skew_retries`` counts the retries spent on a stale timestamp.
    """

    policy: RetryPolicy
    safety: Safety
    label: str
    clock_skew_retries: int = 0
    verdict: bool | float | None = None

    def decide(self, state: tenacity.RetryCallState) -> bool:
        exc = _failure(state)
        if exc is None:
            return False
        self.verdict = self.policy.should_retry(exc, self.safety)
        if self.verdict is False:
            return False
        if isinstance(exc, AuthenticationError) and exc.is_clock_skew:
            self.clock_skew_retries += 1
            if self.clock_skew_retries > self.policy.max_clock_skew_retries:
                return False
        return True

    def delay(self, state: tenacity.RetryCallState) -> float:
        exc = _failure(state)
        if exc is None or not self.policy.wait:
            return 0.0
        return self.policy._delay(exc, state.attempt_number, self.verdict)

    def log_attempt(self, state: tenacity.RetryCallState) -> None:
        logger.debug(
            "%s: attempt %d failed (%s); retrying in %.2fs",
            self.label,
            state.attempt_number,
            type(_failure(state)).__name__,
            state.upcoming_sleep,
        )


def _failure(state: tenacity.RetryCallState) -> Exception | None:
    """The exception the attempt ended with, or ``None`` when it succeeded."""
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    exc = outcome.exception()
    return exc if isinstance(exc, Exception) else None


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _no_sleep(seconds: float) -> None:
    return None


async def _async_no_sleep(seconds: float) -> None:
    return None


#: What clients use when ``retry`` is not given.
DEFAULT_RETRY = RetryPolicy()

#: One attempt, no retries (what ``retry=None`` means).
NO_RETRY = RetryPolicy(max_attempts=1)
