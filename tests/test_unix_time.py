from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mivaorders._unix_time import from_unix_seconds, unix_seconds


def test_never_is_zero_both_ways() -> None:
    assert unix_seconds(None) == 0
    assert from_unix_seconds(0) is None


def test_whole_seconds_round_trip_as_aware_utc() -> None:
    moment = from_unix_seconds(1_700_000_123)
    assert moment == datetime(2023, 11, 14, 22, 15, 23, tzinfo=timezone.utc)
    assert moment is not None
    assert moment.tzinfo is timezone.utc
    assert unix_seconds(moment) == 1_700_000_123
    assert unix_seconds(moment + timedelta(microseconds=999_999)) == 1_700_000_123
    assert unix_seconds(moment.astimezone(timezone(timedelta(hours=-5)))) == 1_700_000_123


def test_a_number_no_datetime_holds_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid timestamp"):
        from_unix_seconds(10**18)
