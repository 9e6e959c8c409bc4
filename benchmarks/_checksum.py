"""One checksum over what a consumer of a pull uses, computed the same way from any SDK's decoded orders.

Standard library only: the official SDK's child process runs it in its own virtual environment. Each order
contributes a hash of its id, total, item quantities, payment amounts and shipment ids; the hashes are
summed, so the checksum does not depend on the order of delivery. Money is compared in cents (the official
SDK decodes it to ``float``, we keep ``Decimal``), parsed from the shortest text that round-trips.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal

__all__ = ["Checksum"]

_CENT = Decimal("0.01")
_MOD = 2**64


def cents(value: object) -> str:
    return str(Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(_CENT))


class Checksum:
    def __init__(self) -> None:
        self.value = 0
        self.orders = 0
        self.ids: set[int] = set()

    def add(
        self,
        order_id: int,
        total: object,
        quantities: Iterable[int],
        payments: Iterable[object],
        shipments: Iterable[int],
    ) -> None:
        line = "|".join(
            [
                str(order_id),
                cents(total),
                ",".join(str(q) for q in quantities),
                ",".join(cents(p) for p in payments),
                ",".join(str(s) for s in sorted(shipments)),
            ]
        )
        digest = hashlib.blake2b(line.encode(), digest_size=8).digest()
        self.value = (self.value + int.from_bytes(digest, "big")) % _MOD
        self.orders += 1
        self.ids.add(order_id)

    def hexdigest(self) -> str:
        return f"{self.value:016x}"
