"""mivaorders: a typed Python SDK that gets orders out of Miva Merchant stores."""

from __future__ import annotations

from ._auth import Auth, HmacAuth, SshAuth, TokenAuth
from ._client import DEFAULT_TIMEOUT, AsyncClient, Client, MulticallResult
from ._envelope import OperationResult
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
from .retry import RetryPolicy

__all__ = [
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
