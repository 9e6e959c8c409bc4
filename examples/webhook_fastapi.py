"""Receive Miva order webhooks in a FastAPI route, using the building blocks directly.

Miva webhook URL: https://shop-sync.example.com/miva/webhook?token=<MIVA_WEBHOOK_TOKEN>
Run: uvicorn webhook_fastapi:app
(Mounting ``WebhookASGIApp`` as in webhook_starlette.py works too: ``app.router.routes.append(Route(...))``.)
"""

from __future__ import annotations

import os

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from mivaorders.models import Order
from mivaorders.webhooks import (
    LRUSeenStore,
    OrderIdNotification,
    WebhookError,
    WebhookRequest,
    WebhookVerifier,
    dedupe_key,
    is_complete,
)

verifier = WebhookVerifier(token=os.environ["MIVA_WEBHOOK_TOKEN"], allowed_networks=["192.0.2.0/24"])
seen = LRUSeenStore()
app = FastAPI()


def save_order(order: Order) -> None:
    print("order", order.id, order.total)  # upsert by order.id
    seen.mark(dedupe_key(order))


def fetch_order(order_id: int) -> None:
    print("fetch order", order_id)  # mivaorders.Client(...).orders.get(order_id)


@app.api_route("/miva/webhook", methods=["POST", "GET"])
async def miva_webhook(request: Request, tasks: BackgroundTasks) -> JSONResponse:
    vetted = WebhookRequest(
        method=request.method,
        query=request.url.query,
        headers=request.headers.items(),
        remote_addr=request.client.host if request.client else None,
    )
    try:
        verifier.vet(vetted)  # token, IP, method: before the body is read
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > verifier.max_bytes:
                return JSONResponse({"error": "too_large"}, status_code=413)
        event = verifier.verify(vetted, bytes(body))
    except WebhookError as exc:
        return JSONResponse({"error": exc.reason}, status_code=exc.status)
    if isinstance(event, OrderIdNotification):
        tasks.add_task(fetch_order, event.order_id)
    elif is_complete(event) and not seen.seen(dedupe_key(event)):
        # Runs after the 200 is sent: a failure here is not visible to Miva, so reconcile by dt_updated.
        tasks.add_task(save_order, event)
    return JSONResponse({"ok": True})
