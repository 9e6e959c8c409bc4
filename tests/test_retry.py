from __future__ import annotations

import random

import pytest

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
