"""Pure request and response handling for json.mvc: no I/O, shared by the sync and async clients.

A request is described once (:class:`Call` or :class:`Multicall`); for every HTTP attempt the client asks
it for a body with a fresh ``Miva_Request_Timestamp``, serialises it once and signs those bytes. Responses
are read here into envelopes or typed errors.
"""

from __future__ import annotations

import email.utils
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from . import _json
from ._exceptions import (
    APIError,
    APIOfflineError,
    ArgumentError,
    HTTPStatusError,
    ResponseDecodeError,
    api_error_from_envelope,
)

__all__ = [
    "Call",
    "Multicall",
    "MulticallProgress",
    "OperationResult",
    "Safety",
    "check_envelope",
    "check_params",
    "classify",
    "decode_body",
    "http_date",
    "parse_content_range",
    "raise_for_status",
]

WORKFLOW_MODULE = "orderworkflow"


class Safety(enum.Enum):
    """Whether repeating a request after its response was lost can change the outcome."""

    #: Reads, and acknowledgements (the queue ends the same; Miva only adds another note).
    IDEMPOTENT = "idempotent"
    #: Writes, and queue loads that a no-acknowledgement workflow turns into a move.
    UNSAFE = "unsafe"
    #: Sent at most once, whatever the failure: the caller finds out what happened by reading (fulfil's
    #: shipment create, which trusts a re-read more than any status code).
    ONCE = "once"


# Functions that only read. Everything else is treated as a write unless the caller says otherwise.
_READ_SUFFIXES = ("_Load_Query", "_Load", "_Load_ID", "_Load_Code")


def classify(function: str, module: str | None = None, module_function: str | None = None) -> Safety:
    """The default retry safety of a function.

    ``QueueOrderList_Load_Query`` is unsafe: in a workflow without acknowledgement the load itself moves
    the orders out of the queue, so only a caller that declares an acknowledgement workflow may retry it.
    """
    if function == "Module":
        if module == WORKFLOW_MODULE and module_function == "OrderList_Acknowledge":
            return Safety.IDEMPOTENT
        if module == WORKFLOW_MODULE and module_function == "QueueOrderList_Load_Query":
            return Safety.UNSAFE
        name = module_function or ""
    else:
        name = function
    return Safety.IDEMPOTENT if name.endswith(_READ_SUFFIXES) else Safety.UNSAFE


def _label(function: str, module: str | None, module_function: str | None) -> str:
    if function == "Module":
        return f"Module:{module or '?'}:{module_function or '?'}"
    return function


def _has_key(params: Mapping[str, Any], name: str) -> bool:
    # json.mvc matches parameter names case-insensitively.
    lowered = name.lower()
    return any(isinstance(key, str) and key.lower() == lowered for key in params)


#: Parameters whose values are secrets: shown as ``<redacted>`` in every repr.
_SECRET_PARAMS = frozenset({"passphrase"})


def _redacted(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: "<redacted>" if isinstance(key, str) and key.lower() in _SECRET_PARAMS else value
        for key, value in params.items()
    }


def check_params(params: object) -> dict[str, Any]:
    """A function's parameters: a mapping with string keys, none of them set by the client itself."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ArgumentError(
            f"params must be a mapping of parameter names to values, not {type(params).__name__}"
        )
    for key in params:
        if not isinstance(key, str) or not key:
            raise ArgumentError(
                f"parameter names must be non-empty strings, not {type(key).__name__} {key!r}"[:200]
            )
        if key.lower() in _ENVELOPE_KEYS:
            raise ArgumentError(f"parameter {key!r} is set by the client; do not pass it")
    return dict(params)


@attrs.frozen
class Call:
    """One function call: ``Store_Code``, ``Function`` (and module envelope) and its parameters."""

    function: str
    params: Mapping[str, Any]
    module: str | None = None
    module_function: str | None = None
    safety: Safety = Safety.UNSAFE
    #: Reads a success body in one typed pass (``mivaorders._decode``) and returns its ``data``; ``None``
    #: from it means "take the generic path" (parse, check the envelope, decode later).
    fast_decode: Callable[[bytes], Any] | None = attrs.field(default=None, eq=False, repr=False)

    def __repr__(self) -> str:
        return (
            f"Call(function={self.function!r}, params={_redacted(self.params)!r}, module={self.module!r}, "
            f"module_function={self.module_function!r}, safety={self.safety})"
        )

    @property
    def label(self) -> str:
        return _label(self.function, self.module, self.module_function)

    def body(self, store_code: str, timestamp: int) -> dict[str, Any]:
        body: dict[str, Any] = {"Store_Code": store_code, "Function": self.function}
        if self.function == "Module":
            body["Module_Code"] = self.module
            body["Module_Function"] = self.module_function
        for key, value in self.params.items():
            if key.lower() in _ENVELOPE_KEYS:
                raise ArgumentError(f"parameter {key!r} is set by the client; do not pass it")
            body[key] = value
        body["Miva_Request_Timestamp"] = timestamp
        return body


_ENVELOPE_KEYS = frozenset(
    {"store_code", "function", "module_code", "module_function", "miva_request_timestamp", "operations"}
)


@attrs.frozen
class Multicall:
    """An ``Operations`` multicall. Operations are in Miva's own shape (``{"Function": ...}``)."""

    operations: tuple[Mapping[str, Any], ...]
    safety: Safety
    #: Reads the whole answer (a list of envelopes) in one typed pass; ``None`` means the generic path.
    fast_decode: Callable[[bytes], list[Any] | None] | None = attrs.field(default=None, eq=False, repr=False)

    def __repr__(self) -> str:
        operations = [_redacted(op) for op in self.operations]
        return f"Multicall(operations={operations!r}, safety={self.safety})"

    @classmethod
    def of(cls, operations: Sequence[Mapping[str, Any]], *, idempotent: bool | None = None) -> Multicall:
        if isinstance(operations, (str, bytes, Mapping)) or not isinstance(operations, Sequence):
            raise ArgumentError(f"operations must be a list of operations, not {type(operations).__name__}")
        if idempotent is not None and not isinstance(idempotent, bool):
            raise ArgumentError(f"idempotent must be True, False or None, not {idempotent!r}")
        ops = tuple(operations)
        if not ops:
            raise ArgumentError("multicall needs at least one operation")
        for index, op in enumerate(ops):
            if not isinstance(op, Mapping) or not isinstance(op.get("Function"), str):
                raise ArgumentError(f"operation {index} needs a 'Function' string")
            if not all(isinstance(key, str) for key in op):
                raise ArgumentError(f"operation {index}: parameter names must be strings")
            try:
                _json.dumps(op)
            except (TypeError, ValueError) as exc:
                raise ArgumentError(f"operation {index} cannot be sent as JSON: {exc}") from None
            iterations = op.get("Iterations")
            if iterations is not None and not (
                isinstance(iterations, list) and all(isinstance(it, Mapping) for it in iterations)
            ):
                raise ArgumentError(f"operation {index}: 'Iterations' must be a list of parameter objects")
        if idempotent is None:
            unsafe = any(
                classify(op["Function"], op.get("Module_Code"), op.get("Module_Function")) is Safety.UNSAFE
                for op in ops
            )
            safety = Safety.UNSAFE if unsafe else Safety.IDEMPOTENT
        else:
            safety = Safety.IDEMPOTENT if idempotent else Safety.UNSAFE
        return cls(ops, safety)

    @property
    def label(self) -> str:
        return f"multicall[{len(self.operations)}]"

    def is_iterations(self, index: int) -> bool:
        return isinstance(self.operations[index].get("Iterations"), list)

    def body(self, store_code: str, timestamp: int) -> dict[str, Any]:
        operations: list[dict[str, Any]] = []
        for op in self.operations:
            copy = dict(op)
            iterations = op.get("Iterations")
            if isinstance(iterations, list):
                # Store_Code goes into each iteration, unless the operation or iteration already has one.
                if not _has_key(op, "Store_Code"):
                    copy["Iterations"] = [
                        it if _has_key(it, "Store_Code") else {"Store_Code": store_code, **it}
                        for it in iterations
                    ]
            elif not _has_key(op, "Store_Code"):
                copy = {"Function": op["Function"], "Store_Code": store_code}
                copy.update((k, v) for k, v in op.items() if k != "Function")
            operations.append(copy)
        return {"Miva_Request_Timestamp": timestamp, "Operations": operations}


@attrs.frozen
class OperationResult:
    """The answer to one operation (or one iteration) of a multicall."""

    envelope: Mapping[str, Any]
    error: APIError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Mapping[str, Any]:
        """The success envelope, or the operation's :class:`APIError` raised."""
        if self.error is not None:
            raise self.error
        return self.envelope


def _excerpt(content: bytes, limit: int = 200) -> str:
    text = content[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(content) > limit else "")


def http_date(value: str | None) -> float | None:
    """An HTTP date (``Date``, ``Retry-After``) as epoch seconds; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    if (
        when is None or when.tzinfo is None
    ):  # older Pythons returned None; a date without a zone is no instant
        return None
    return when.timestamp()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    when = http_date(value)
    if when is None:
        return None
    return max(0.0, when - (time.time() if now is None else now))


def raise_for_status(
    status: int, headers: Mapping[str, str], content: bytes, *, function: str, allow_partial: bool
) -> None:
    """Raise :class:`HTTPStatusError` for anything but 200 (and 206 where a multicall allows it)."""
    if status == 200 or (status == 206 and allow_partial):
        return
    reason = ""
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status in (503, 416):
        # json.mvc sends a JSON error with these two; use it when it is there.
        try:
            data = _json.loads(content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, Mapping):
            reason = f"{data.get('error_code', '')}: {data.get('error_message', '')}".strip(": ")
            if status == 503 and data.get("error_code") == "api_offline":
                raise APIOfflineError(
                    status, function=function, reason=reason, body_excerpt=_excerpt(content)
                )
    raise HTTPStatusError(
        status,
        function=function,
        reason=reason,
        body_excerpt=_excerpt(content),
        retry_after=retry_after,
    )


def decode_body(content: bytes, *, function: str) -> Any:
    """Parse a response body, or raise :class:`ResponseDecodeError` saying why it is not JSON."""
    if not content:
        raise ResponseDecodeError("empty response body", function=function)
    try:
        return _json.loads(content)
    except UnicodeDecodeError:
        raise ResponseDecodeError(
            "response body is not UTF-8", function=function, body_excerpt=_excerpt(content)
        ) from None
    except ValueError as exc:
        head = content.lstrip()[:1]
        why = "an HTML page, not JSON" if head == b"<" else f"not valid JSON ({exc})"
        raise ResponseDecodeError(
            f"response body is {why}", function=function, body_excerpt=_excerpt(content)
        ) from None


def _is_success(value: object) -> bool | None:
    if value in (1, True):
        return True
    if value in (0, False):
        return False
    return None


def check_envelope(data: Any, *, function: str) -> dict[str, Any]:
    """A single call's answer: the success envelope, or the typed error for ``success: 0``."""
    if not isinstance(data, dict):
        raise ResponseDecodeError(f"expected a JSON object, got {type(data).__name__}", function=function)
    success = _is_success(data.get("success"))
    if success is None:
        raise ResponseDecodeError("response has no 'success' flag", function=function)
    if not success:
        raise api_error_from_envelope(data, function=function)
    return data


def operation_result(data: Any, *, function: str) -> OperationResult:
    """One multicall element: failures are kept with the result, not raised."""
    if isinstance(data, dict) and _is_success(data.get("success")) is False:
        return OperationResult(data, api_error_from_envelope(data, function=function))
    return OperationResult(check_envelope(data, function=function))


def parse_content_range(value: str | None) -> tuple[int, int] | None:
    """``Content-Range: n/total`` of a 206 multicall: ``n`` counts the operations in that response."""
    if not value:
        return None
    done, sep, total = value.strip().partition("/")
    if not sep:
        return None
    try:
        return int(done), int(total)
    except ValueError:
        return None


class MulticallProgress:
    """The 206 continuation of one multicall, as a small state machine with no I/O.

    ``Content-Range: n/total`` counts the operations in *that* response, so the next request starts at
    ``first + len(results received)``. Every request runs at least its first operation, so each step must
    make progress; a step that does not is an error rather than a loop.
    """

    def __init__(self, spec: Multicall, *, max_requests: int) -> None:
        self.spec = spec
        self.total = len(spec.operations)
        self.first = 1
        self.requests = 0
        self.max_requests = max_requests
        self._raw: list[Any] = []

    @property
    def done(self) -> bool:
        return self.first > self.total

    def range_header(self) -> str | None:
        """The ``Range`` value for the next request (``None`` for the first one)."""
        return None if self.first == 1 else f"Operations={self.first}-{self.total}"

    def accept(self, status: int, headers: Mapping[str, str], data: Any) -> None:
        label = self.spec.label
        self.requests += 1
        if not isinstance(data, list):
            if isinstance(data, dict) and _is_success(data.get("success")) is False:
                # The whole request failed (authentication, a bad Range ...): nothing ran.
                raise api_error_from_envelope(data, function=label)
            raise ResponseDecodeError(
                f"expected a JSON array of results, got {type(data).__name__}", function=label
            )
        remaining = self.total - self.first + 1
        if not data or len(data) > remaining:
            raise ResponseDecodeError(
                f"multicall answer holds {len(data)} results where 1..{remaining} were expected",
                function=label,
            )
        if status == 206:
            content_range = parse_content_range(headers.get("content-range"))
            if content_range is not None and content_range[1] != self.total:
                raise ResponseDecodeError(
                    f"Content-Range total {content_range[1]} does not match {self.total} operations",
                    function=label,
                )
        elif len(data) != remaining:
            raise ResponseDecodeError(
                f"multicall answer is complete (HTTP {status}) but holds {len(data)} of {remaining} results",
                function=label,
            )
        self._raw.extend(data)
        self.first += len(data)
        if not self.done and self.requests >= self.max_requests:
            raise ResponseDecodeError(
                f"multicall still incomplete after {self.requests} continuation requests", function=label
            )

    def results(self) -> list[OperationResult | list[OperationResult]]:
        """One result per operation; a list of results for an ``Iterations`` operation."""
        out: list[OperationResult | list[OperationResult]] = []
        for index, raw in enumerate(self._raw):
            op = self.spec.operations[index]
            label = _label(op["Function"], op.get("Module_Code"), op.get("Module_Function"))
            if self.spec.is_iterations(index):
                if isinstance(raw, list):
                    out.append([operation_result(item, function=label) for item in raw])
                else:
                    # A failure of the whole operation (e.g. an unknown function) comes as one object.
                    out.append([operation_result(raw, function=label)])
            else:
                out.append(operation_result(raw, function=label))
        return out
