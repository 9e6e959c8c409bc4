"""The adaptive page size: how many orders the next page asks for, learned from how the last ones went.

A pull that always asks for 100 orders spends most of its time waiting on round trips; one that always asks
for 1,000 can run into a slow store's time limits. :class:`AdaptivePageSize` is the policy (frozen
settings); :class:`PageSizer` is one pull's state. The sizer does no I/O and reads no clock: the iterators
tell it how long each answered page took and which failures happened, and read :attr:`PageSizer.size`
before sending the next page. The same object serves ``Client`` and ``AsyncClient``.
"""

from __future__ import annotations

import enum

import attrs

from ._exceptions import FilterError, HTTPStatusError, RequestTimeoutError
from ._query import MAX_PAGE_SIZE

__all__ = ["AdaptivePageSize", "PageFailure", "PageSizer", "classify_failure"]

#: Miva's multicall time budget when ``X-Miva-API-Timeout`` is not sent (``miva-json-api.md`` §7).
MIVA_DEFAULT_BUDGET = 60.0
#: A page should take at most this share of the tightest time limit in play.
_SHARE_OF_LIMIT = 0.25


class PageFailure(enum.Enum):
    """A failed page request that says the page may be too big (or the store too busy)."""

    TIMEOUT = "timeout"
    SERVER_ERROR = "server error"
    RATE_LIMITED = "rate limited"
    CUT_SHORT = "multicall cut short"


def classify_failure(exc: BaseException) -> PageFailure | None:
    """The :class:`PageFailure` behind an exception, or ``None`` when page size has nothing to do with it."""
    if isinstance(exc, RequestTimeoutError):
        return PageFailure.TIMEOUT
    if isinstance(exc, HTTPStatusError):
        if exc.status_code == 429:
            return PageFailure.RATE_LIMITED
        if exc.status_code >= 500:
            return PageFailure.SERVER_ERROR
    return None


def _whole(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_SIZE:
        raise FilterError(f"{name} must be a whole number from 1 to {MAX_PAGE_SIZE}, not {value!r}")
    return value


@attrs.frozen(kw_only=True)
class AdaptivePageSize:
    """The page-size policy of pulls that are not given an explicit ``page_size``.

    Start at ``start``; after an answer that came back fast enough that a page ``growth`` times bigger is
    still expected within ``target_seconds``, grow (up to ``maximum``). Shrink after a slow answer (to the
    size expected to take ``target_seconds``) and halve after a timeout, a 5xx, a 429 or a multicall the
    store cut short; then wait ``calm_pages`` good answers before growing again. Never below ``minimum``.
    ``grow=False`` makes it shrink-only (what no-acknowledgement queue loads use). With several pages in
    flight (``FastPaging(concurrency=n)``) each page grows to at most ``maximum // n``.

    The target is also capped at a quarter of the tightest time limit the client has: its read timeout and
    its ``X-Miva-API-Timeout`` (``api_timeout``, Miva's default 60 s when unset), so a page finishes well
    inside both.
    """

    start: int = 100
    minimum: int = 10
    maximum: int = 1000
    target_seconds: float = 2.0
    growth: float = 2.0
    calm_pages: int = 2
    grow: bool = True

    def __attrs_post_init__(self) -> None:
        for name in ("start", "minimum", "maximum"):
            _whole(name, getattr(self, name))
        if not self.minimum <= self.start <= self.maximum:
            raise FilterError(
                f"need minimum <= start <= maximum, not {self.minimum}, {self.start}, {self.maximum}"
            )
        if not isinstance(self.target_seconds, (int, float)) or not self.target_seconds > 0:
            raise FilterError(f"target_seconds must be a number of seconds > 0, not {self.target_seconds!r}")
        if not isinstance(self.growth, (int, float)) or not self.growth > 1:
            raise FilterError(f"growth must be a number > 1, not {self.growth!r}")
        if not isinstance(self.calm_pages, int) or self.calm_pages < 0:
            raise FilterError(f"calm_pages must be a whole number >= 0, not {self.calm_pages!r}")

    def target_within(self, *limits: float | None) -> float:
        """``target_seconds``, capped at a quarter of the tightest of ``limits`` (``None``: no limit)."""
        known = [limit for limit in limits if limit is not None and limit > 0]
        if not known:
            return float(self.target_seconds)
        return min(float(self.target_seconds), min(known) * _SHARE_OF_LIMIT)

    def sizer(self, *limits: float | None, in_flight: int = 1) -> PageSizer:
        """A fresh state for one pull, whose pages should finish well inside ``limits`` (seconds).

        ``in_flight`` pages at a time (``FastPaging(concurrency=n)``) share ``maximum`` between them, so the
        orders held in flight, and so the memory, stay within what one page of ``maximum`` would hold.
        """
        if not isinstance(in_flight, int) or in_flight < 1:
            raise FilterError(f"in_flight must be a whole number >= 1, not {in_flight!r}")
        return PageSizer(self, self.target_within(*limits), in_flight=in_flight)


#: The policy used when no ``page_size`` is given.
DEFAULT_ADAPTIVE = AdaptivePageSize()


class PageSizer:
    """One pull's page size under an :class:`AdaptivePageSize` policy. Pure: no clock, no I/O."""

    def __init__(self, policy: AdaptivePageSize, target: float, *, in_flight: int = 1) -> None:
        self.policy = policy
        self.target = target
        self.maximum = max(policy.minimum, policy.maximum // in_flight)
        self.size = min(policy.start, self.maximum)
        self.changes: list[tuple[int, int, str]] = []  # (from, to, why): for logs, stats and tests
        self._hold = 0  # good answers still needed before growing again

    def _set(self, size: int, why: str) -> None:
        size = max(self.policy.minimum, min(self.maximum, size))
        if size != self.size:
            self.changes.append((self.size, size, why))
            self.size = size

    def answered(self, count: int, elapsed: float) -> None:
        """A page asking for ``count`` orders was answered ``elapsed`` seconds after it was sent."""
        elapsed = max(0.0, elapsed)
        if elapsed > self.target:
            # Aim a little under the target: the time per order is not quite proportional.
            fitting = int(count * 0.8 * self.target / elapsed)
            self._set(min(self.size, fitting), f"slow answer ({elapsed:.2f} s)")
            self._hold = self.policy.calm_pages
            return
        if self._hold:
            self._hold -= 1
            return
        if not self.policy.grow or count < self.size:
            return  # an answer to an older, smaller page says little about the current size
        bigger = min(self.maximum, int(self.size * self.policy.growth))
        if elapsed * bigger / max(count, 1) <= self.target:
            self._set(bigger, f"fast answer ({elapsed:.2f} s)")

    def failed(self, failure: PageFailure) -> None:
        """A page request failed in a way a smaller page may avoid (its retry will use the new size)."""
        self._set(self.size // 2, failure.value)
        self._hold = self.policy.calm_pages
