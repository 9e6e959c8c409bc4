"""The simulated store's clock: real time by default, or frozen and advanced by hand in tests."""

from __future__ import annotations

import threading
import time

__all__ = ["StoreClock"]


class StoreClock:
    """Epoch-seconds clock shared by every part of one simulated store.

    ``offset`` shifts real time; ``freeze()`` stops it; ``advance()`` moves it forward either way.
    Thread-safe, because the HTTP adapters serve requests from several threads.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()
        self._frozen_at: float | None = None
        if frozen:
            self.freeze()

    def time(self) -> float:
        """Now, in epoch seconds with a fraction."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def now(self) -> int:
        """Now, in whole epoch seconds (what Miva stores in ``dt_updated`` and friends)."""
        return int(self.time())

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen_at is not None

    def freeze(self) -> None:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time() + self._offset

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
