"""mivaorders: a typed Python SDK that gets orders out of Miva Merchant stores."""

from __future__ import annotations

from ._exceptions import (
    APIError,
    APIOfflineError,
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
from ._version import __version__

__all__ = [
    "APIError",
    "APIOfflineError",
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
    "__version__",
]
