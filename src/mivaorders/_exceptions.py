"""The error tree of mivaorders.

Every error the library raises on purpose derives from :class:`MivaError`::

    MivaError
    ├── ConfigurationError (ValueError)      bad client configuration, raised at construction
    ├── ArgumentError (ValueError)           a call's argument that cannot work, raised before sending
    │   └── FilterError                      a filter, sort or column that Miva would silently ignore
    ├── WebhookError (ValueError)            a webhook request or body that cannot be trusted or parsed
    ├── APIError                             Miva answered ``success: 0``
    │   ├── AuthenticationError              ``access_denied`` (Miva sends it with HTTP 200, never 401)
    │   ├── InvalidParameterError            validation failures (``MER-JSN-00018/19/23`` ...)
    │   ├── NotFoundError                    order or queue not found
    │   └── PartialWriteError                a write the store stopped half way (what was written)
    ├── HTTPStatusError                      a non-2xx answer (the body is not assumed to be JSON)
    │   └── APIOfflineError                  HTTP 503 ``api_offline``
    ├── ShipmentConflictError                an order's shipments contradict a fulfilment request
    ├── TransportError                       the request or response did not make it across
    │   ├── RequestTimeoutError              connect, read, write or pool timeout
    │   ├── UncertainWriteError              a non-repeatable write may have happened; not retried
    │   └── LostPageError                    a no-acknowledgement queue load's answer was lost
    ├── RecoveryUnavailableError             lost pages could not be found again: refused to start
    ├── ResponseDecodeError                  the body is not the JSON promised (truncated, HTML page ...)
    └── ResponseValidationError              JSON that does not fit the typed models

httpx exceptions are translated into this tree at exactly one place: :func:`translate_httpx_error`.

No message built here contains a secret: errors carry the function name, Miva's error code and
message, and field names -- never request bodies, headers, tokens or passphrases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import httpx

__all__ = [
    "APIError",
    "APIOfflineError",
    "ArgumentError",
    "AuthenticationError",
    "ConfigurationError",
    "FieldError",
    "FieldProblem",
    "FilterError",
    "HTTPStatusError",
    "InvalidParameterError",
    "ItemError",
    "ItemProblem",
    "LostPageError",
    "MivaError",
    "NotFoundError",
    "PartialWriteError",
    "RecoveryUnavailableError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseValidationError",
    "ShipmentConflictError",
    "TransportError",
    "UncertainWriteError",
    "WebhookError",
    "api_error_from_envelope",
    "translate_httpx_error",
]


class MivaError(Exception):
    """The root of every error raised by mivaorders.

    ``function`` is the Miva function the failure belongs to, when there is one; the message then starts
    with it (``Order_Load_Query: ...``).
    """

    function: str | None = None

    def __init__(self, *args: object, function: str | None = None) -> None:
        self.function = function
        if function:
            args = (f"{function}: {args[0] if args else ''}", *args[1:])
        super().__init__(*args)


class ConfigurationError(MivaError, ValueError):
    """A client was configured with a value that cannot work (raised before any request)."""


class ArgumentError(MivaError, ValueError):
    """A call was given an argument that cannot work (raised before any request is sent)."""


class FilterError(ArgumentError):
    """A filter, sort column or on-demand column that Miva would silently ignore, or a bad value."""


class WebhookError(MivaError, ValueError):
    """A webhook request that fails vetting, or a body that is not an order.

    ``reason`` is a stable code (``"bad_token"``, ``"too_large"``, ``"not_json"`` ...), ``status`` the HTTP
    status a receiver answers with, ``details`` readable ``$.path: problem`` lines for a body that does not
    fit the model (structure only, never values).
    """

    def __init__(
        self, message: str, *, reason: str = "invalid", status: int = 400, details: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.details = tuple(details)

    def __repr__(self) -> str:
        return f"WebhookError(reason={self.reason!r}, status={self.status})"


@attrs.frozen
class FieldProblem:
    """One entry of Miva's ``error_fields``: the offending parameter and the server's message.

    A value, not an exception: :class:`APIError` carries them in ``field_errors``.
    """

    field: str
    message: str


@attrs.frozen
class ItemProblem:
    """One entry of Miva's ``errors`` (list functions) or ``warnings``: a per-item problem.

    A value, not an exception: :class:`APIError` carries them in ``item_errors`` and ``warnings``.
    """

    identifier: str
    code: str
    message: str


#: The earlier names of :class:`FieldProblem` and :class:`ItemProblem`, kept as aliases.
FieldError = FieldProblem
ItemError = ItemProblem


class APIError(MivaError):
    """Miva answered ``success: 0``.

    ``function`` is the function that failed (``Module:<code>:<function>`` for module functions),
    ``error_code``/``error_message`` are Miva's own, ``field_errors`` lists the offending parameters
    of a validation failure, ``item_errors`` and ``warnings`` the per-item problems of a list function.
    """

    def __init__(
        self,
        error_message: str,
        *,
        function: str | None = None,
        error_code: str = "",
        error_field: str | None = None,
        field_errors: Sequence[FieldProblem] = (),
        item_errors: Sequence[ItemProblem] = (),
        warnings: Sequence[ItemProblem] = (),
        processed: int | None = None,
    ) -> None:
        self.error_code = error_code
        self.error_message = error_message
        self.error_field = error_field
        self.field_errors = tuple(field_errors)
        self.item_errors = tuple(item_errors)
        self.warnings = tuple(warnings)
        self.processed = processed
        super().__init__(self._describe(), function=function)

    def _describe(self) -> str:
        """The message after the function name."""
        code = f"[{self.error_code}] " if self.error_code else ""
        text = f"{code}{self.error_message}"
        if self.field_errors:
            fields = "; ".join(f"{e.field}: {e.message}" for e in self.field_errors)
            text += f" ({fields})"
        elif self.error_field:
            text += f" (field {self.error_field})"
        return text


class AuthenticationError(APIError):
    """``access_denied``: bad credentials, signature, timestamp, IP, or a missing function permission."""

    @property
    def is_clock_skew(self) -> bool:
        """True when the store rejected the request timestamp (retry once, then check the clock)."""
        return self.error_message == "Timestamp outside configured window"


class InvalidParameterError(APIError):
    """A request parameter was missing or rejected by the store's validation."""


class NotFoundError(APIError):
    """The order, queue or other record addressed by the request does not exist."""


class PartialWriteError(APIError):
    """A write that the store applies piece by piece stopped half way (``OrderCustomFields_Update``).

    ``written`` were stored before the failure and stay stored; ``failed`` is the piece the store refused;
    ``not_written`` were never reached. Miva's own error is kept (``error_code``, ``field_errors`` ...).
    """

    def __init__(
        self,
        error: APIError,
        *,
        written: Sequence[str],
        failed: str,
        not_written: Sequence[str],
    ) -> None:
        self.written = tuple(written)
        self.failed = failed
        self.not_written = tuple(not_written)
        super().__init__(
            error.error_message,
            function=error.function,
            error_code=error.error_code,
            error_field=error.error_field,
            field_errors=error.field_errors,
            item_errors=error.item_errors,
            warnings=error.warnings,
            processed=error.processed,
        )

    def _describe(self) -> str:
        written = ", ".join(self.written) or "none"
        rest = ", ".join(self.not_written) or "none"
        return (
            f"{super()._describe()}; the store stopped at {self.failed!r}: written before it: {written}; "
            f"not written: {rest}"
        )


class ShipmentConflictError(MivaError):
    """The order's shipments contradict a fulfilment request (raised before anything is written).

    For example the lines already ship in a shipment with another tracking number, or they are split over
    several shipments. ``order_id`` is the order, ``shipment_ids`` the shipments involved.
    """

    def __init__(self, message: str, *, order_id: int, shipment_ids: Sequence[int] = ()) -> None:
        self.order_id = order_id
        self.shipment_ids = tuple(shipment_ids)
        super().__init__(message)


class HTTPStatusError(MivaError):
    """A non-2xx HTTP answer. The body is kept as text (shortened) and is not assumed to be JSON."""

    def __init__(
        self,
        status_code: int,
        *,
        function: str | None = None,
        reason: str = "",
        body_excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.body_excerpt = body_excerpt
        self.retry_after = retry_after
        text = f"HTTP {status_code}"
        if reason:
            text += f" {reason}"
        super().__init__(text, function=function)


class APIOfflineError(HTTPStatusError):
    """HTTP 503 ``api_offline``: the store's API has been switched off in its admin."""


class TransportError(MivaError):
    """The request or its response did not make it across the network.

    ``maybe_sent`` tells whether the store may have received (and acted on) the request: it is
    ``False`` only when the failure proves the request never left (for example a refused connection).
    """

    def __init__(self, message: str, *, function: str | None = None, maybe_sent: bool = True) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(message, function=function)


class RequestTimeoutError(TransportError):
    """The request timed out (connect, read, write or waiting for a pooled connection)."""


class UncertainWriteError(TransportError):
    """A write that is not safe to repeat failed after the request may have reached the store.

    The store may have acted (created a shipment) or not; the library did not send it again, because a
    repeat could do it twice. ``maybe_sent`` is always true; the original failure is ``__cause__``.
    Find out by reading (``client.shipments.list(order_id=...)``), or use ``client.orders.fulfil()``,
    which does exactly that.
    """

    def __init__(self, message: str, *, function: str | None = None) -> None:
        super().__init__(message, function=function, maybe_sent=True)


class LostPageError(TransportError):
    """A queue load without acknowledgement failed after the store may have moved its orders out.

    The orders of that page are no longer in ``queue``. They can be found again in the queue the store's
    workflow moved them to, among the orders updated since ``since`` (the store's clock just before the
    load, with a margin): ``client.queues.recover_lost_page(error, moved_to=...)``. ``moved_to`` is the
    destination queue when the caller named one; ``delivered`` counts the orders a drain handed out before
    it stopped. The original failure is ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        queue: str,
        since: datetime,
        moved_to: str | None = None,
        function: str | None = None,
        delivered: int = 0,
    ) -> None:
        self.queue = queue
        self.since = since
        self.moved_to = moved_to
        self.delivered = delivered
        super().__init__(message, function=function, maybe_sent=True)


class RecoveryUnavailableError(MivaError):
    """A drain without acknowledgement refused to start (or to go on): a lost answer could not be recovered.

    ``queue`` is the queue being drained, ``moved_to`` the destination queue that was checked, ``reason``
    what is missing. Fix the store (or the token), or pass ``moved_to=None`` to accept that a lost answer
    loses orders.
    """

    def __init__(self, message: str, *, queue: str, moved_to: str | None, reason: str) -> None:
        self.queue = queue
        self.moved_to = moved_to
        self.reason = reason
        super().__init__(message)


class ResponseDecodeError(MivaError):
    """The response body is not the JSON promised (truncated, an HTML error page, not UTF-8 ...)."""

    def __init__(self, message: str, *, function: str | None = None, body_excerpt: str = "") -> None:
        self.body_excerpt = body_excerpt
        super().__init__(message, function=function)


class ResponseValidationError(MivaError):
    """JSON from Miva that does not fit the typed models.

    ``errors`` holds readable lines such as ``$.items[2].price: invalid decimal 'abc'``.
    """

    def __init__(self, errors: Sequence[str], *, function: str | None = None) -> None:
        self.errors = tuple(errors)
        shown = "; ".join(self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"response does not fit the model: {shown}{more}", function=function)


# Miva error codes that mean "the record is not there".
_NOT_FOUND_CODES = frozenset(
    {
        "MER-JSN-ORD-00025",
        "MER-UTIL-ORWF-00029",
        "MER-UTIL-ORWF-00030",
        "MER-UTIL-ORWF-00106",
    }
)


def _as_str(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _item_errors(raw: object, code_key: str, message_key: str) -> list[ItemProblem]:
    if not isinstance(raw, list):
        return []
    return [
        ItemProblem(
            _as_str(entry.get("identifier")),
            _as_str(entry.get(code_key)),
            _as_str(entry.get(message_key)),
        )
        for entry in raw
        if isinstance(entry, Mapping)
    ]


def api_error_from_envelope(envelope: Mapping[str, Any], *, function: str | None) -> APIError:
    """Build the typed error for a ``success: 0`` envelope (the one place codes map to classes)."""
    code = _as_str(envelope.get("error_code"))
    message = _as_str(envelope.get("error_message")) or "unknown error"
    raw_fields = envelope.get("error_fields")
    field_errors = [
        FieldProblem(_as_str(entry.get("error_field")), _as_str(entry.get("error_message")))
        for entry in (raw_fields if isinstance(raw_fields, list) else [])
        if isinstance(entry, Mapping)
    ]
    error_field = envelope.get("error_field")
    processed = envelope.get("processed")
    kwargs: dict[str, Any] = {
        "function": function,
        "error_code": code,
        "error_field": error_field if isinstance(error_field, str) else None,
        "field_errors": field_errors,
        "item_errors": _item_errors(envelope.get("errors"), "error_code", "error_message"),
        "warnings": _item_errors(envelope.get("warnings"), "code", "message"),
        "processed": processed if isinstance(processed, int) else None,
    }
    cls: type[APIError]
    if code == "access_denied":
        cls = AuthenticationError
    elif code in _NOT_FOUND_CODES:
        cls = NotFoundError
    elif envelope.get("validation_error") in (True, 1) or field_errors:
        cls = InvalidParameterError
    else:
        cls = APIError
    return cls(message, **kwargs)


def _scrub_request(exc: httpx.HTTPError) -> None:
    """Swap the request an httpx error keeps for a copy without the signed header and the body.

    The error stays reachable as ``__cause__`` of ours, and the body may hold a passphrase.
    """
    try:
        request = exc.request
    except RuntimeError:  # no request attached
        return
    headers = {
        name: "<redacted>" if "authorization" in name.lower() else value
        for name, value in request.headers.items()
        if name.lower() != "content-length"
    }
    exc.request = httpx.Request(request.method, request.url, headers=headers)


def translate_httpx_error(exc: httpx.HTTPError, *, function: str | None) -> MivaError:
    """Map an httpx exception into the tree. The message names the failure, never the request;
    the request the httpx error keeps loses its secrets."""
    _scrub_request(exc)
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        # A connect or pool timeout proves the request never left; read/write timeouts do not.
        never_sent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return RequestTimeoutError(
            f"request timed out ({kind})", function=function, maybe_sent=not never_sent
        )
    if isinstance(exc, httpx.ConnectError):
        return TransportError(f"could not connect ({kind})", function=function, maybe_sent=False)
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransportError(
            "connection closed before the whole response arrived (RemoteProtocolError)",
            function=function,
        )
    if isinstance(exc, (httpx.TransportError, httpx.StreamError)):
        return TransportError(f"transport failure ({kind})", function=function)
    return TransportError(f"HTTP failure ({kind})", function=function)
