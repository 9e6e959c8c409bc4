"""mivaorders: a typed Python SDK that gets orders out of Miva Merchant stores.

Everything public is importable from here; the modules starting with ``_`` are internal.
"""

from __future__ import annotations

from . import filters
from ._auth import Auth, HmacAuth, SshAuth, TokenAuth
from ._client import DEFAULT_TIMEOUT, AsyncClient, Client, MulticallResult
from ._envelope import OperationResult
from ._exceptions import (
    APIError,
    APIOfflineError,
    ArgumentError,
    AuthenticationError,
    ConfigurationError,
    FieldError,
    FilterError,
    HTTPStatusError,
    InvalidParameterError,
    ItemError,
    MivaError,
    NotFoundError,
    RequestTimeoutError,
    ResponseDecodeError,
    ResponseValidationError,
    TransportError,
    WebhookError,
)
from ._page import Page
from ._version import __version__
from .filters import (
    ALL_COLUMNS,
    BUSINESS_TITLE,
    CHARGES,
    COUPONS,
    CUST_LOGIN,
    CUST_PW_EMAIL,
    CUSTOM_FIELDS,
    CUSTOMER,
    DISCOUNTS,
    ITEMS,
    NOTES,
    PARTS,
    PAYMENT_DATA,
    PAYMENT_MODULE,
    PAYMENTS,
    RETURNS,
    SHIP_METHOD,
    SHIPMENTS,
    Expr,
    F,
    SortKey,
    business_account_id,
    custom_fields,
    customer_id,
    raw,
)
from .orders import AsyncOrderIterator, AsyncOrders, OrderIterator, Orders
from .pagination import FastPaging, KeysetPaging, OffsetPaging, PageRequest, Paging
from .retry import RetryPolicy

__all__ = [
    # clients and credentials
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Auth",
    "Client",
    "HmacAuth",
    "MulticallResult",
    "OperationResult",
    "RetryPolicy",
    "SshAuth",
    "TokenAuth",
    # errors
    "APIError",
    "APIOfflineError",
    "ArgumentError",
    "AuthenticationError",
    "ConfigurationError",
    "FieldError",
    "FilterError",
    "HTTPStatusError",
    "InvalidParameterError",
    "ItemError",
    "MivaError",
    "NotFoundError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseValidationError",
    "TransportError",
    "WebhookError",
    # queries
    "ALL_COLUMNS",
    "BUSINESS_TITLE",
    "CHARGES",
    "COUPONS",
    "CUSTOMER",
    "CUSTOM_FIELDS",
    "CUST_LOGIN",
    "CUST_PW_EMAIL",
    "DISCOUNTS",
    "ITEMS",
    "NOTES",
    "PARTS",
    "PAYMENTS",
    "PAYMENT_DATA",
    "PAYMENT_MODULE",
    "RETURNS",
    "SHIPMENTS",
    "SHIP_METHOD",
    "AsyncOrderIterator",
    "AsyncOrders",
    "Expr",
    "F",
    "FastPaging",
    "KeysetPaging",
    "OffsetPaging",
    "OrderIterator",
    "Orders",
    "Page",
    "PageRequest",
    "Paging",
    "SortKey",
    "business_account_id",
    "custom_fields",
    "customer_id",
    "filters",
    "raw",
    # meta
    "__version__",
]
