"""Whole-number settings share one check (``_validate.whole_number``): no bools, no floats, a minimum."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import mivaorders as mo
from mivaorders import filters, read_sqlite
from mivaorders.webhooks import LRUSeenStore, WebhookVerifier

TOKEN = "t" * 24


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda n: LRUSeenStore(maxsize=n), mo.ConfigurationError),
        (lambda n: WebhookVerifier(token=TOKEN, max_bytes=n), mo.ConfigurationError),
        (lambda n: WebhookVerifier(token=TOKEN, max_depth=n), mo.ConfigurationError),
        (lambda n: filters.customer_id(n), mo.FilterError),
        (lambda n: filters.business_account_id(n), mo.FilterError),
    ],
)
def test_bad_whole_numbers_are_refused(
    make: Callable[[object], object], error: type[mo.MivaError], bad: object
) -> None:
    with pytest.raises(error, match="whole number"):
        make(bad)


def test_good_whole_numbers_pass() -> None:
    assert len(LRUSeenStore(maxsize=1)) == 0
    assert WebhookVerifier(token=TOKEN, max_bytes=1, max_depth=1).max_depth == 1
    assert filters.customer_id(7).value == 7


@pytest.mark.parametrize("bad", [0, 2.0, False])
def test_read_sqlite_batch_size(tmp_path: Path, bad: object) -> None:
    with pytest.raises(mo.ArgumentError, match="batch_size must be a whole number"):
        read_sqlite(tmp_path / "none.db", batch_size=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 0.5, True])
def test_pay_id_filter_takes_a_whole_number(bad: object) -> None:
    with pytest.raises(mo.FilterError, match="whole number"):
        filters.F.pay_id == bad  # noqa: B015
