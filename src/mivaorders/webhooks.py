"""Order webhooks: parse the body Miva posts, vet the request, decide whether to take the order.

Miva's order workflows can call your URL (action ``webhook_post_order``) with a **bare Order object**
rendered with every on-demand column except ``parts``, or (action ``webhook_get``) with only
``GET <url>?Order_ID=<id>``. Miva cannot sign these calls, so this module vets them by what the sender
can carry: a secret token in the URL, an IP allow-list, and the HTTP Basic credentials a webhook action
can store. See ``docs/webhooks.md``.

Every failure raises :class:`WebhookError` (a :class:`~mivaorders.WebhookError`, so also a
``ValueError``) with a machine-readable ``reason`` and the HTTP ``status`` a receiver should answer.
No message, repr or log line holds the token, the body or payment data.

This module is the public face: the parsing, vetting and seen-store live in ``mivaorders._webhook``, the
framework-free receivers (:func:`handle_webhook`, :class:`WebhookWSGIApp`, :class:`WebhookASGIApp`) in
``mivaorders._receiver``.
"""

from __future__ import annotations

from ._receiver import (
    AsyncOrderHandler,
    OrderHandler,
    OrderIdHandler,
    WebhookASGIApp,
    WebhookResponse,
    WebhookWSGIApp,
    handle_webhook,
)
from ._webhook import (
    ADMIN_SOURCES,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DedupeKey,
    LRUSeenStore,
    OrderIdNotification,
    SeenStore,
    WebhookError,
    WebhookRequest,
    WebhookVerifier,
    dedupe_key,
    is_complete,
    parse_order,
    parse_order_id,
)

__all__ = [
    "ADMIN_SOURCES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "AsyncOrderHandler",
    "DedupeKey",
    "LRUSeenStore",
    "OrderHandler",
    "OrderIdHandler",
    "OrderIdNotification",
    "SeenStore",
    "WebhookASGIApp",
    "WebhookError",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookVerifier",
    "WebhookWSGIApp",
    "dedupe_key",
    "handle_webhook",
    "is_complete",
    "parse_order",
    "parse_order_id",
]
