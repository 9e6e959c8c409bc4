from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

import pytest
import tenacity

import mivaorders as mo
from mivaorders import RetryPolicy
from mivaorders._envelope import Safety
from mivaorders.retry import default_retry_on, proves_not_acted


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_jitter_stays_within_the_ceiling() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100


def test_retry_after_is_a_capped_floor() -> None:
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.1, jitter=False, retry_after_cap=60)
    assert policy.delay_for(mo.HTTPStatusError(429, retry_after=5), 1) == 5
    assert policy.delay_for(mo.HTTPStatusError(429, retry_after=3600), 1) == 60
    assert policy.delay_for(mo.HTTPStatusError(503), 1) == pytest.approx(0.1)


def test_predicate_may_choose_the_delay() -> None:
    policy = RetryPolicy(retry_on=lambda exc: 2.5)
    assert policy.delay_for(mo.TransportError("x"), 1) == 2.5
    assert policy.should_retry(mo.TransportError("x"), Safety.IDEMPOTENT) == 2.5


def test_default_predicate() -> None:
    assert default_retry_on(mo.TransportError("x"))
    assert default_retry_on(mo.RequestTimeoutError("x"))
    assert default_retry_on(mo.ResponseDecodeError("x"))
    assert all(default_retry_on(mo.HTTPStatusError(s)) for s in (429, 500, 502, 503, 504))
    assert not default_retry_on(mo.HTTPStatusError(400))
    assert not default_retry_on(mo.APIError("nope", error_code="MER-JSN-00023"))
    assert not default_retry_on(mo.ResponseValidationError(["$.id: bad"]))
    assert not default_retry_on(mo.AuthenticationError("Access denied", error_code="access_denied"))
    assert default_retry_on(mo.AuthenticationError("Timestamp outside configured window"))


def test_unsafe_operations_need_proof_the_store_never_acted() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(mo.HTTPStatusError(503), Safety.UNSAFE)
    assert not policy.should_retry(mo.TransportError("cut", maybe_sent=True), Safety.UNSAFE)
    assert policy.should_retry(mo.TransportError("refused", maybe_sent=False), Safety.UNSAFE)
    assert policy.should_retry(mo.HTTPStatusError(429), Safety.UNSAFE)
    assert proves_not_acted(mo.AuthenticationError("Timestamp outside configured window"))
    assert not policy.should_retry(ValueError("not ours"), Safety.IDEMPOTENT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_time": -1},
        {"initial_delay": -0.1},
        {"multiplier": 0.5},
        {"retry_after_cap": -1},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=">="):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"max_time": -1},
        {"initial_delay": float("nan")},
        {"multiplier": 0.5},
        {"jitter": "yes"},
        {"retry_on": 3},
        {"max_clock_skew_retries": -1},
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(mo.ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def _failing_twice(retrying: Iterable[tenacity.AttemptManager]) -> int:
    failures = 0
    for attempt in retrying:
        with attempt:
            if failures < 2:
                failures += 1
                raise mo.HTTPStatusError(503)
    return failures


def test_the_predicate_is_asked_once_per_failure() -> None:
    asked: list[Exception] = []

    def retry_on(exc: Exception) -> float:
        asked.append(exc)
        return 0.25

    policy = RetryPolicy(retry_on=retry_on, wait=False)
    assert _failing_twice(policy.retrying(Safety.IDEMPOTENT, "Order_Load")) == 2
    assert len(asked) == 2


def test_the_predicate_is_asked_once_per_failure_with_waiting() -> None:
    asked: list[Exception] = []
    slept: list[float] = []

    def retry_on(exc: Exception) -> float:
        asked.append(exc)
        return 0.0

    policy = RetryPolicy(retry_on=retry_on)
    retrying = policy.retrying(Safety.IDEMPOTENT, "Order_Load").copy(sleep=slept.append)
    assert _failing_twice(retrying) == 2
    assert len(asked) == 2
    assert slept == [0.0, 0.0]


def test_the_async_predicate_is_asked_once_per_failure() -> None:
    asked: list[Exception] = []

    def retry_on(exc: Exception) -> bool:
        asked.append(exc)
        return True

    async def go() -> int:
        failures = 0
        async for attempt in RetryPolicy(retry_on=retry_on, wait=False).async_retrying(
            Safety.IDEMPOTENT, "Order_Load"
        ):
            with attempt:
                if failures < 2:
                    failures += 1
                    raise mo.TransportError("reset")
        return failures

    assert asyncio.run(go()) == 2
    assert len(asked) == 2


def test_clock_skew_retries_are_counted_per_request() -> None:
    policy = RetryPolicy(wait=False, max_clock_skew_retries=1)
    tries: list[int] = []

    def request() -> None:
        for attempt in policy.retrying(Safety.IDEMPOTENT, "Order_Load"):
            with attempt:
                tries.append(attempt.retry_state.attempt_number)
                raise mo.AuthenticationError("Timestamp outside configured window")

    for _ in range(2):  # a second request gets its own allowance
        with pytest.raises(mo.AuthenticationError):
            request()
    assert tries == [1, 2, 1, 2]
