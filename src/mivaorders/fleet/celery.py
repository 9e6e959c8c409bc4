"""The fleet on Celery: ``app``, the tasks ``mivaorders.fleet.sync_store`` and ``mivaorders.fleet.sync_all``,
and a beat schedule that runs ``sync_all`` every ``MIVAORDERS_FLEET_INTERVAL`` minutes (default 5).

Configured from the environment when imported: ``MIVAORDERS_BROKER_URL`` (default
``redis://127.0.0.1:6379/0``), ``MIVAORDERS_RESULT_BACKEND`` (default: the broker), ``MIVAORDERS_DSN``
(the fleet's PostgreSQL), ``MIVAORDERS_FLEET_KEY`` (decrypts credentials; workers need it) and
``MIVAORDERS_VISIBILITY_TIMEOUT`` (seconds before Redis re-delivers a task whose worker vanished;
default 600). Run a worker with ``mivaorders fleet worker`` or ``celery -A mivaorders.fleet.celery worker``.

Tasks are acknowledged late and rejected (so re-queued) when their worker is lost: a killed worker loses
nothing. A re-delivered task whose first copy still runs finds the store's lease taken and returns
``busy`` at once, so re-delivery can never sync a store twice at the same time.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task

from mivaorders._exceptions import ConfigurationError
from mivaorders.fleet._fleet import Fleet, UnknownStoreError

__all__ = ["DSN_VARIABLE", "app", "fleet_for", "make_app", "sync_all", "sync_store"]

DSN_VARIABLE = "MIVAORDERS_DSN"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def _number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {text!r}")
    return value


def make_app(
    broker_url: str | None = None, *, result_backend: str | None = None, dsn: str | None = None
) -> Celery:
    """A Celery app for the fleet; arguments left out come from the environment (see the module doc)."""
    broker = broker_url or os.environ.get("MIVAORDERS_BROKER_URL") or DEFAULT_BROKER
    interval = _number("MIVAORDERS_FLEET_INTERVAL", 5.0) * 60
    visibility = _number("MIVAORDERS_VISIBILITY_TIMEOUT", 600.0)
    transport = {
        "visibility_timeout": visibility,
        # Look for a vanished worker's tasks every few seconds (kombu's default looks every 100 s).
        "unacked_restore_interval": max(1.0, min(10.0, visibility / 4)),
        "unacked_restore_throttle": 1,
    }
    celery = Celery("mivaorders.fleet")
    celery.conf.update(
        broker_url=broker,
        result_backend=result_backend or os.environ.get("MIVAORDERS_RESULT_BACKEND") or broker,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # acknowledged when done, so a lost worker's task is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds no more tasks than it runs
        broker_transport_options=transport,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=True,
        beat_schedule={
            "mivaorders-fleet-sync-all": {"task": "mivaorders.fleet.sync_all", "schedule": interval},
        },
        mivaorders_dsn=dsn or os.environ.get(DSN_VARIABLE, ""),
        mivaorders_interval=interval,
    )
    return celery


app = make_app()


def fleet_for(task: Task[Any, Any]) -> Fleet:
    """The fleet a task works on (its app's ``mivaorders_dsn``), named after the worker that runs it."""
    dsn = str(task.app.conf.get("mivaorders_dsn") or os.environ.get(DSN_VARIABLE, ""))
    hostname = task.request.hostname or "celery"
    return Fleet(dsn, worker=f"{hostname}:{os.getpid()}")


@app.task(bind=True, name="mivaorders.fleet.sync_store", acks_late=True, reject_on_worker_lost=True)
def sync_store(self: Task[Any, Any], key: str) -> dict[str, Any]:
    """One incremental sync of store ``key`` under its lease; ``{"outcome": "synced" | "busy", ...}``, or
    ``"removed"`` when the store left the fleet after the task was queued."""
    fleet = fleet_for(self)
    try:
        return fleet.sync(key).to_json()
    except UnknownStoreError:
        return {"key": key, "outcome": "removed", "worker": fleet.worker}


@app.task(bind=True, name="mivaorders.fleet.sync_all")
def sync_all(self: Task[Any, Any]) -> list[str]:
    """Enqueue ``sync_store`` for every store; returns the keys. Each task expires after one interval, so
    a backlog never piles up syncs of the same store."""
    keys = [store.key for store in fleet_for(self).stores()]
    expires = float(self.app.conf.get("mivaorders_interval") or 300)
    for key in keys:
        sync_store.apply_async((key,), expires=expires)
    return keys
