"""Receive Miva order webhooks in a Starlette app (the ASGI receiver as a route).

Miva webhook URL: https://shop-sync.example.com/miva/webhook?token=<MIVA_WEBHOOK_TOKEN>
Run: uvicorn webhook_starlette:app --proxy-headers   (behind a proxy: also set trusted_proxies below)
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Route

from mivaorders.models import Order
from mivaorders.webhooks import LRUSeenStore, WebhookASGIApp, WebhookVerifier, is_complete

verifier = WebhookVerifier(
    token=os.environ["MIVA_WEBHOOK_TOKEN"],
    basic_username=os.environ.get("MIVA_WEBHOOK_USER"),  # if the webhook action stores Basic credentials
    basic_password=os.environ.get("MIVA_WEBHOOK_PASSWORD"),
)


async def save_order(order: Order) -> None:
    if not is_complete(order):  # an admin order without a payment yet: wait for the next trigger
        return
    # Keep this quick (enqueue); upsert by order.id, since the same order arrives more than once.
    print("order", order.id, order.total)


webhook = WebhookASGIApp(save_order, verifier=verifier, seen=LRUSeenStore())

# A Route (not a Mount) so the exact path answers without a trailing-slash redirect.
app = Starlette(routes=[Route("/miva/webhook", webhook)])
