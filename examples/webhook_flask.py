"""Receive Miva order webhooks in a Flask app (mounted WSGI receiver).

Miva webhook URL: https://shop-sync.example.com/miva/webhook?token=<MIVA_WEBHOOK_TOKEN>
Token: python -c "import secrets; print(secrets.token_urlsafe(32))"
Run: MIVA_WEBHOOK_TOKEN=<token> flask --app webhook_flask run
"""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from mivaorders.models import Order
from mivaorders.webhooks import LRUSeenStore, OrderIdNotification, WebhookVerifier, WebhookWSGIApp

verifier = WebhookVerifier(token=os.environ["MIVA_WEBHOOK_TOKEN"])


def save_order(order: Order) -> None:
    # Runs outside Flask's request context. Upsert by order.id: deliveries repeat and Miva never retries.
    print("order", order.id, order.total, order.dt_updated)


def fetch_later(notification: OrderIdNotification) -> None:
    # webhook_get only sends the id: fetch the order with mivaorders.Client(...).orders.get(id).
    print("order id", notification.order_id)


app = Flask(__name__)
app.wsgi_app = DispatcherMiddleware(
    app.wsgi_app,
    {
        "/miva/webhook": WebhookWSGIApp(
            save_order, verifier=verifier, on_order_id=fetch_later, seen=LRUSeenStore(), skip_incomplete=True
        )
    },
)


@app.get("/")
def index() -> str:
    return "ok"
