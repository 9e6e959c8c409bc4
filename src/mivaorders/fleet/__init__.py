"""Many stores, many workers: orders of a fleet of Miva stores in PostgreSQL, synced by Celery workers.

``pip install 'mivaorders[fleet]'`` (psycopg 3, Celery, the Redis client, cryptography).

- :class:`PostgresSink`: the incremental sync's sink and checkpoint store on PostgreSQL, for one store.
- :class:`Fleet`: the stores (credentials encrypted at rest), one sync per store at a time under a
  PostgreSQL lease, and their status.
- ``mivaorders.fleet.celery``: a configured Celery ``app`` with the ``mivaorders.fleet.sync_store`` and
  ``mivaorders.fleet.sync_all`` tasks and a beat schedule.
"""

from __future__ import annotations

from mivaorders._postgres import PostgresSink

from ._fleet import Fleet, FleetSyncResult, StoreInfo, StoreStatus, UnknownStoreError
from ._secrets import KEY_VARIABLE, generate_key

__all__ = [
    "KEY_VARIABLE",
    "Fleet",
    "FleetSyncResult",
    "PostgresSink",
    "StoreInfo",
    "StoreStatus",
    "UnknownStoreError",
    "generate_key",
]
