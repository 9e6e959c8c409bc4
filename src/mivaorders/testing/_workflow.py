"""Order-workflow queues and the stock workflows (order-functions.md §2.1), as the simulator runs them.

A workflow is a trigger list, an optional "has a payment" condition and a list of actions. Every action
that changes something adds to the order's version and sets ``dt_updated`` to now, as Miva's
``OWFWorkflow_Apply_Action`` does; ``queue_add`` on a member changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._data import DAY, OrderRecord, StoreData

__all__ = ["VARIANTS", "Queue", "QueueSet", "Workflow", "Workflows", "seed_history"]

VARIANTS = ("acknowledge", "move", "add", "remove", "none")

NEW_AND_UPDATED = "new_and_updated"
RETRIEVED = "successfully_retrieved_orders"

# Triggers of the stock "Process New & Updated Orders" workflow.
QUEUEING_TRIGGERS = frozenset(
    {"order_created", "order_total_change", "orderitem_created", "orderitem_updated", "orderitem_deleted"}
)


@attrs.frozen
class Queue:
    id: int
    code: str
    name: str


class QueueSet:
    """The store's queues. Codes are matched case-insensitively (MySQL collation)."""

    def __init__(self, queues: tuple[Queue, ...] | None = None) -> None:
        self.queues: tuple[Queue, ...] = queues or (
            Queue(1, NEW_AND_UPDATED, "New & Updated Orders"),
            Queue(2, RETRIEVED, "Successfully Retrieved Orders"),
        )

    def by_id(self, queue_id: int) -> Queue | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def by_code(self, code: str) -> Queue | None:
        folded = code.strip().casefold()
        return next((q for q in self.queues if q.code.casefold() == folded), None)

    def add(self, order: OrderRecord, queue: Queue, now: int) -> bool:
        if queue.id in order.queues:
            return False
        order.queues.add(queue.id)
        order.touch(now)
        return True

    def move(self, order: OrderRecord, queue: Queue, now: int) -> None:
        order.queues.clear()
        order.queues.add(queue.id)
        order.touch(now)

    def remove(self, order: OrderRecord, queue: Queue, now: int) -> bool:
        if queue.id not in order.queues:
            return False
        order.queues.discard(queue.id)
        order.touch(now)
        return True


@attrs.frozen
class Workflow:
    name: str
    triggers: frozenset[str]
    needs_payment: bool
    note: str
    action: str  # "" | queue_add | queue_move | queue_remove
    target: str = ""


def stock_workflows(variant: str) -> tuple[Workflow, ...]:
    """The enabled workflows of each store configuration the simulator offers."""
    if variant == "none":
        return ()
    queueing = Workflow(
        "Process New & Updated Orders",
        QUEUEING_TRIGGERS,
        True,
        "Automated Workflow: Order moved to queue New & Updated Orders.",
        "queue_add",
        NEW_AND_UPDATED,
    )
    retrieved_note = "Automated Workflow: Order retrieved. Moved to queue Successfully Retrieved Orders."
    if variant == "acknowledge":
        return (
            queueing,
            Workflow(
                "Process Retrieved Orders with Order Acknowledgement",
                frozenset({"order_retrieved"}),
                False,
                "Automated Workflow: Order retrieved but left in queue pending acknowledgement.",
                "",
            ),
            Workflow(
                "Process Order Acknowledgement",
                frozenset({"order_acknowledged"}),
                False,
                "Automated Workflow: Order Acknowledgement received. "
                "Moved to queue Successfully Retrieved Orders.",
                "queue_move",
                RETRIEVED,
            ),
        )
    if variant == "move":
        return (
            queueing,
            Workflow(
                "Process Retrieved Orders (move)",
                frozenset({"order_retrieved"}),
                False,
                retrieved_note,
                "queue_move",
                RETRIEVED,
            ),
        )
    if variant == "remove":
        # Moves orders nowhere: they leave the queue and land in no other, so a lost answer leaves no trace
        # but the dt_updated bump.
        return (
            queueing,
            Workflow(
                "Process Retrieved Orders (remove)",
                frozenset({"order_retrieved"}),
                False,
                "Automated Workflow: Order retrieved. Removed from queue New & Updated Orders.",
                "queue_remove",
                NEW_AND_UPDATED,
            ),
        )
    if variant == "add":
        return (
            queueing,
            Workflow(
                "Process Retrieved Orders",
                frozenset({"order_retrieved"}),
                False,
                retrieved_note,
                "queue_add",
                RETRIEVED,
            ),
        )
    raise ValueError(f"unknown workflow variant {variant!r}; expected one of {', '.join(VARIANTS)}")


class Workflows:
    """Runs the enabled workflows of one trigger on one order."""

    def __init__(self, variant: str, queues: QueueSet, data: StoreData, now: Callable[[], int]) -> None:
        self.variant = variant
        self.enabled = stock_workflows(variant)
        self.queues = queues
        self._data = data
        self._now = now

    def fire(self, trigger: str, order: OrderRecord) -> None:
        for wf in self.enabled:
            if trigger not in wf.triggers:
                continue
            # Miva re-checks a failed payment condition for up to an hour; add_payment() stands in for that.
            if wf.needs_payment and not order.payments:
                continue
            now = self._now()
            if wf.note:
                order.add_note(wf.note, now, note_id=self._data.counters.next("note"))
            queue = self.queues.by_code(wf.target) if wf.target else None
            if queue is None:
                continue
            if wf.action == "queue_add":
                self.queues.add(order, queue, now)
            elif wf.action == "queue_move":
                self.queues.move(order, queue, now)
            elif wf.action == "queue_remove":
                self.queues.remove(order, queue, now)


def seed_history(data: StoreData, queues: QueueSet, anchor: int, seed: int) -> None:
    """The queue state a store running the stock acknowledgement integration would be in.

    Recent paid orders wait in ``new_and_updated``; older ones were pulled and acknowledged, so they sit
    in ``successfully_retrieved_orders`` with both workflow notes. A few old orders were edited recently
    (a line change) and are back in ``new_and_updated``.
    """
    rng = random.Random(f"mivaorders-sim-history-{seed}")
    new_q = queues.by_code(NEW_AND_UPDATED)
    done_q = queues.by_code(RETRIEVED)
    if new_q is None or done_q is None:
        return
    queued = "Automated Workflow: Order moved to queue New & Updated Orders."
    acked = (
        "Automated Workflow: Order Acknowledgement received. Moved to queue Successfully Retrieved Orders."
    )
    for order in data.orders.values():
        if not order.payments:
            continue
        row = order.row
        first_paid = order.payments[0].row["dtstamp"]
        # never after the anchor: a generated order must not be stamped later than the store's "now"
        order.add_note(queued, min(first_paid + 1, anchor), note_id=data.counters.next("note"))
        order.queues.add(new_q.id)
        if row["orderdate"] >= anchor - 3 * DAY:
            pass
        else:
            ack_at = min(first_paid + rng.randint(300, 4 * 3600), anchor - 600)
            order.add_note(acked, ack_at, note_id=data.counters.next("note"))
            order.queues.clear()
            order.queues.add(done_q.id)
            if rng.random() < 0.02:
                edited = anchor - rng.randint(600, 2 * DAY)
                order.add_note(queued, edited, note_id=data.counters.next("note"))
                order.queues.add(new_q.id)
        order.notes.sort(key=lambda n: (n["dtstamp"], n["id"]))
        row["dt_updated"] = max(n["dtstamp"] for n in order.notes) if order.notes else row["dt_updated"]
        row["dt_updated"] = max(row["dt_updated"], _latest_event(order))
        order.version = 0


def _latest_event(order: OrderRecord) -> int:
    stamps = [order.row["orderdate"]]
    stamps += [p.row["dtstamp"] for p in order.payments]
    stamps += [s["ship_date"] for s in order.shipments]
    stamps += [r["dt_issued"] for r in order.returns] + [r["dt_recvd"] for r in order.returns]
    return int(max(stamps))
