"""The webhook core: parse the body Miva posts, vet the request, remember what was handled.

Public through :mod:`mivaorders.webhooks` (the façade, with the receivers of :mod:`mivaorders._receiver`);
see that module and ``docs/webhooks.md``. Every failure raises :class:`WebhookError` with a
machine-readable ``reason`` and the HTTP ``status`` a receiver should answer; no message, repr or log line
holds the token, the body or payment data.
"""

from __future__ import annotations

import array
import base64
import binascii
import hmac
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from itertools import accumulate
from typing import Any, Protocol
from urllib.parse import parse_qsl

from attrs import field, frozen

from . import _json
from ._bounds import MAX_BODY_COMMAS, MAX_BODY_CONTAINERS
from ._converter import structure_order
from ._exceptions import ConfigurationError, ResponseValidationError, WebhookError
from ._unix_time import unix_seconds
from ._validate import whole_number
from .models import Order

__all__ = [
    "ADMIN_SOURCES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DedupeKey",
    "LRUSeenStore",
    "OrderIdNotification",
    "SeenStore",
    "WebhookError",
    "WebhookRequest",
    "WebhookVerifier",
    "dedupe_key",
    "is_complete",
    "parse_order",
    "parse_order_id",
]

DEFAULT_MAX_BYTES = 10_000_000
#: Deepest JSON nesting accepted. A real order nests about 6 levels (order > items > options > discounts).
DEFAULT_MAX_DEPTH = 64

#: ``source`` values of orders created by a person in the admin (``order-model.md`` §2, ``source``):
#: ``user`` (admin/API order functions), ``shopascustomer`` (an admin using "shop as customer") and
#: ``reviewbaskets`` (an admin converting an abandoned basket). Such orders can exist before anyone
#: has paid. ``shopper``, ``subscription``, ``quote``, ``""`` (old orders) and module-defined values
#: count as storefront/automatic orders.
ADMIN_SOURCES: frozenset[str] = frozenset({"user", "shopascustomer", "reviewbaskets"})

DedupeKey = tuple[int, int]


def _reject(message: str, reason: str, status: int = 400, details: Iterable[str] = ()) -> WebhookError:
    return WebhookError(message, reason=reason, status=status, details=details)


# ------------------------------------------------------------------------------------------ parsing
# A JSON string, so that brackets inside strings are not counted as nesting.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Keep only brackets: +1 (0x01) per opening, -1 (0xff as a signed byte) per closing one.
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[{]}"))


def _nests_deeper(data: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than ``limit``, found without recursion (C-speed passes only).

    Python's JSON parser recurses per level and dies with ``RecursionError`` on hostile input such as
    100,000 ``[``; measuring first lets us refuse it cleanly.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot be too deep: skip the scan for small documents
    steps = array.array("b", _STRING.sub(b"", data).translate(_DEPTH_STEPS, _NOT_BRACKETS))
    # The running sum is the depth; stop at the first point past the limit.
    return next(filter(limit.__lt__, accumulate(steps)), None) is not None


def _order_from_json(body: str | bytes, max_depth: int) -> Any:
    if isinstance(body, bytes):
        raw = body
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _reject("webhook body is not valid UTF-8", "not_utf8") from None
    else:
        text = body
        raw = body.encode("utf-8", "surrogatepass")
    if not text.strip():
        raise _reject("webhook body is empty", "empty_body")
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_BODY_CONTAINERS or raw.count(b",") > MAX_BODY_COMMAS:
        # Bound the work, not just the bytes: a million "{}" fit in 3 MB but would build a million dicts.
        raise _reject(
            f"webhook body holds more objects or values than an order can have (at most "
            f"{MAX_BODY_CONTAINERS} objects and arrays, {MAX_BODY_COMMAS} values)",
            "too_many_values",
        )
    if _nests_deeper(raw, max_depth):
        raise _reject(f"webhook body nests deeper than {max_depth} levels", "too_deep")
    try:
        return _json.loads(text)
    except _json.JSONDecodeError as exc:
        # An error at the very end (or an unterminated string) means the body was cut off.
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        if cut:
            raise _reject("webhook body is truncated JSON", "truncated") from None
        raise _reject(f"webhook body is not JSON ({exc.msg} at position {exc.pos})", "not_json") from None
    except RecursionError:  # only with a max_depth far above the default
        raise _reject("webhook body nests too deeply", "too_deep") from None
    except ValueError as exc:
        if "non-standard JSON number" in str(exc):
            raise _reject("webhook body holds NaN or Infinity", "non_finite_number") from None
        # e.g. an integer beyond Python's digit limit: say what, never the digits.
        raise _reject("webhook body is not JSON (invalid number)", "not_json") from None


_VALUE_AFTER = re.compile(r"^(expected .*?, got [a-z]+|invalid decimal|invalid timestamp)\b.*$")


def _redact(line: str) -> str:
    """Keep a converter error line's path and problem, drop the offending value it may quote."""
    path, sep, problem = line.partition(": ")
    if not sep:
        return line[:120]
    match = _VALUE_AFTER.match(problem)
    # Anything else: keep the text up to the first quoted value (a repr) if there is one.
    kept = match.group(1) if match else re.split(r"""['"]""", problem, maxsplit=1)[0].rstrip()
    return f"{path}: {kept}"[:200]


def parse_order(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Order:
    """Decode a ``webhook_post_order`` body into the :class:`~mivaorders.models.Order` the pull API returns.

    ``body`` is the raw request body (bytes or text) or an already-parsed JSON object. Raw bodies longer
    than ``max_bytes`` (characters for ``str``) are refused before any parsing; JSON nested deeper than
    ``max_depth`` is refused without recursing. Money stays exact (``Decimal``). Duplicate keys follow
    JSON-parser convention (the last one wins), as the pull API does: Miva's renderer never repeats a key.

    Raises :class:`WebhookError` (reasons ``too_large``, ``not_utf8``, ``empty_body``, ``not_json``,
    ``truncated``, ``non_finite_number``, ``too_deep``, ``too_many_values``, ``not_object``, ``envelope``,
    ``missing_id``, ``invalid_order``).
    """
    data: Any
    if isinstance(body, Mapping):
        data = dict(body)
    elif isinstance(body, (bytes, bytearray, memoryview, str)):
        if len(body) > max_bytes:
            raise _reject(f"webhook body is larger than {max_bytes} bytes", "too_large", 413)
        data = _order_from_json(body if isinstance(body, str) else bytes(body), max_depth)
    else:
        raise TypeError(f"parse_order() takes bytes, str or a mapping, not {type(body).__name__}")

    if type(data) is not dict:
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(
            type(data), "a number"
        )
        raise _reject(f"webhook body is {kind}, not an order object", "not_object")
    if "id" not in data:
        if "success" in data:
            raise _reject(
                'webhook body is a JSON API response envelope ({"success": ...}), not a bare order '
                "object; decode envelopes with the client, or pass the order object itself",
                "envelope",
            )
        raise _reject("webhook body has no order id (key 'id')", "missing_id")
    try:
        # The whole order is decoded here, so a bad child fails now (HTTP 400), not in the user's handler.
        return structure_order(data)
    except ResponseValidationError as exc:
        lines = [_redact(line) for line in exc.errors]
        shown = "; ".join(lines[:5]) + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "")
        raise _reject(
            f"webhook body does not fit the order model: {shown}", "invalid_order", 400, lines
        ) from None
    except RecursionError:
        # Only reachable with a Mapping built by the caller (raw bodies are depth-checked above).
        raise _reject("webhook body nests too deeply", "too_deep") from None


# ---------------------------------------------------------------------------------- order rules
def is_complete(order: Order, *, admin_sources: Collection[str] = ADMIN_SOURCES) -> bool:
    """Whether to take the order now (the rule for admin-created orders).

    An order whose ``source`` is in ``admin_sources`` (default :data:`ADMIN_SOURCES`: ``user``,
    ``shopascustomer``, ``reviewbaskets``) is complete once it has at least one payment record (any
    transaction type). When ``payments`` was not rendered (``None``), the fallback is
    ``pay_id != 0 or total_auth > 0 or total_capt > 0``. Every other order (storefront checkout,
    subscriptions, quotes, unknown sources) is complete.
    """
    if order.source not in admin_sources:
        return True
    if order.payments is not None:
        return len(order.payments) > 0
    return order.pay_id != 0 or order.total_auth > 0 or order.total_capt > 0


def dedupe_key(order: Order) -> DedupeKey:
    """``(id, dt_updated as unix seconds)``: equal for repeated deliveries of the same order state."""
    return (order.id, unix_seconds(order.dt_updated))


# ---------------------------------------------------------------------------------- seen store
class SeenStore(Protocol):
    """Remembers which ``(id, dt_updated)`` deliveries were handled, so repeats are not handled twice."""

    def seen(self, key: DedupeKey) -> bool: ...

    def mark(self, key: DedupeKey) -> None: ...


class LRUSeenStore:
    """An in-memory, thread-safe :class:`SeenStore` holding the last ``maxsize`` keys.

    Per process only: with several workers or after a restart a repeat can still reach the handler,
    so the handler must upsert by order id anyway.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        whole_number(maxsize, "LRUSeenStore maxsize", error=ConfigurationError)
        self.maxsize = maxsize
        self._keys: OrderedDict[DedupeKey, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: DedupeKey) -> bool:
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            return False

    def mark(self, key: DedupeKey) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self.maxsize:
                self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"LRUSeenStore(maxsize={self.maxsize}, size={len(self)})"


# ---------------------------------------------------------------------------------------- vetting
@frozen
class OrderIdNotification:
    """A ``webhook_get`` call: Miva sent only the order id. Fetch the order with ``client.orders.get``."""

    order_id: int


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _networks(value: Iterable[str | Network] | str | None) -> tuple[Network, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in value)
    except ValueError as exc:
        raise ConfigurationError(f"not an IP address or network: {exc}") from None


def _secret_repr(value: str | None) -> str:
    return "None" if value is None else "'***'"


_MIN_TOKEN_LENGTH = 16


def _text(value: str | bytes) -> str:
    # Query strings are percent-encoded ASCII; latin-1 maps any stray byte one-to-one (as WSGI does).
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _normalize_headers(
    raw: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
) -> Mapping[str, str]:
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = _text(name).lower()
        text = _text(value)
        headers[key] = f"{headers[key]}, {text}" if key in headers else text  # RFC 9110 list join
    return headers


@frozen(kw_only=True)
class WebhookRequest:
    """The parts of an HTTP request that vetting looks at (the body is passed separately).

    ``query`` is the raw query string (no ``?``); ``headers`` a mapping or (name, value) pairs in any
    case; ``remote_addr`` the peer address (``REMOTE_ADDR``, ASGI ``client[0]``).
    """

    method: str
    query: str = field(default="", converter=_text, repr=False)  # may hold the token
    headers: Mapping[str, str] = field(factory=dict, converter=_normalize_headers, repr=False)
    remote_addr: str | None = None


@frozen(kw_only=True)
class WebhookVerifier:
    """How to trust a webhook call, since Miva cannot sign it.

    - ``token``: a secret expected in the URL query parameter ``token_param`` (compared in constant
      time). Generate it with ``secrets.token_urlsafe(32)`` and put it in the webhook URL.
    - ``allowed_networks``: IP addresses/networks the call may come from (empty: any).
      ``trusted_proxies``: peers whose ``X-Forwarded-For`` is believed (empty: the header is ignored).
    - ``basic_username``/``basic_password``: the HTTP Basic credentials stored on the webhook action.
    - ``allow_get``: accept the ``webhook_get`` variant (``GET ?Order_ID=<id>``).
    - ``max_bytes``/``max_depth``: body limits.

    At least one of token, Basic credentials or allow-list is required unless ``allow_unauthenticated``.
    Secrets never appear in ``repr``.
    """

    token: str | None = field(default=None, repr=_secret_repr)
    token_param: str = "token"  # noqa: S105 - a parameter name, not a secret
    allowed_networks: tuple[Network, ...] = field(default=(), converter=_networks)
    trusted_proxies: tuple[Network, ...] = field(default=(), converter=_networks)
    basic_username: str | None = None
    basic_password: str | None = field(default=None, repr=_secret_repr)
    allow_get: bool = True
    order_id_param: str = "Order_ID"
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    allow_unauthenticated: bool = False

    def __attrs_post_init__(self) -> None:
        if self.token is not None and len(self.token) < _MIN_TOKEN_LENGTH:
            raise ConfigurationError(f"webhook token must be at least {_MIN_TOKEN_LENGTH} characters")
        if (self.basic_username is None) != (self.basic_password is None):
            raise ConfigurationError("set both basic_username and basic_password, or neither")
        vetted = self.token is not None or self.basic_username is not None or bool(self.allowed_networks)
        if not (vetted or self.allow_unauthenticated):
            raise ConfigurationError(
                "a webhook verifier needs a token, Basic credentials or an IP allow-list "
                "(or allow_unauthenticated=True)"
            )
        whole_number(self.max_bytes, "max_bytes", error=ConfigurationError)
        whole_number(self.max_depth, "max_depth", error=ConfigurationError)

    # -- the checks, in the order a receiver runs them (all before the body is read)
    def vet(self, request: WebhookRequest) -> None:
        """Check method, client address, token, Basic credentials and media type; raise if refused."""
        method = request.method.upper()
        if method != "POST" and not (method == "GET" and self.allow_get):
            raise _reject(f"method {method[:10]} not allowed", "method_not_allowed", 405)
        self._check_address(request)
        query = _query_pairs(request.query)
        if self.token is not None:
            self._check_token(query)
        if self.basic_username is not None:
            self._check_basic(request.headers.get("authorization"))
        if method == "POST":
            _check_content_type(request.headers.get("content-type"))
            length = request.headers.get("content-length")
            if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
                raise _reject(f"webhook body is larger than {self.max_bytes} bytes", "too_large", 413)

    def client_address(self, request: WebhookRequest) -> IPAddress | None:
        """The calling address: the peer, or (only behind a trusted proxy) from ``X-Forwarded-For``."""
        peer = _parse_ip(request.remote_addr)
        if peer is None or not self.trusted_proxies or not _within(peer, self.trusted_proxies):
            return peer
        hops = request.headers.get("x-forwarded-for", "")
        # Walk from the nearest hop back; the first address that is not a trusted proxy is the client.
        for hop in reversed([part.strip() for part in hops.split(",") if part.strip()]):
            address = _parse_ip(hop)
            if address is None:
                return None
            if not _within(address, self.trusted_proxies):
                return address
        return peer

    def _check_address(self, request: WebhookRequest) -> None:
        if not self.allowed_networks:
            return
        address = self.client_address(request)
        if address is None or not _within(address, self.allowed_networks):
            raise _reject("webhook caller is not in the IP allow-list", "ip_not_allowed", 403)

    def _check_token(self, query: list[tuple[str, str]]) -> None:
        assert self.token is not None
        given = [value for name, value in query if name == self.token_param]
        if not given:
            raise _reject("webhook token missing", "missing_token", 401)
        # compare_digest takes time independent of where the strings differ.
        ok = len(given) == 1 and hmac.compare_digest(given[0].encode(), self.token.encode())
        if not ok:
            raise _reject("webhook token does not match", "bad_token", 401)

    def _check_basic(self, header: str | None) -> None:
        assert self.basic_username is not None
        assert self.basic_password is not None
        scheme, _, encoded = (header or "").strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise _reject("webhook Basic credentials missing", "missing_credentials", 401)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise _reject("webhook Basic credentials malformed", "bad_credentials", 401) from None
        user, sep, password = decoded.partition(":")
        # Both comparisons always run, so timing does not tell which half was wrong.
        user_ok = hmac.compare_digest(user.encode(), self.basic_username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.basic_password.encode())
        if not (sep and user_ok & password_ok):
            raise _reject("webhook Basic credentials do not match", "bad_credentials", 401)

    def verify(
        self, request: WebhookRequest, body: bytes | bytearray | str = b""
    ) -> Order | OrderIdNotification:
        """Vet the request, then decode it: the order of a POST, the order id of a GET.

        For frameworks that hand over the whole body; where the body can be streamed, call
        :meth:`vet` first, read at most ``max_bytes``, then :meth:`decode` (the receivers here do that).
        """
        self.vet(request)
        return self.decode(request, body)

    def decode(
        self, request: WebhookRequest, body: bytes | bytearray | str = b""
    ) -> Order | OrderIdNotification:
        """Decode a request :meth:`vet` let through: the order of a POST, the order id of a GET."""
        if request.method.upper() == "GET":
            return parse_order_id(request.query, param=self.order_id_param)
        return parse_order(body, max_bytes=self.max_bytes, max_depth=self.max_depth)


def parse_order_id(query: str, *, param: str = "Order_ID") -> OrderIdNotification:
    """The order id of a ``webhook_get`` call (``?Order_ID=<id>``, parameter name case-insensitive)."""
    wanted = param.lower()
    values = [value for name, value in _query_pairs(query) if name.lower() == wanted]
    if not values:
        raise _reject(f"webhook GET without {param}", "missing_order_id")
    value = values[0].strip()
    if len(values) != 1 or not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) == 0:
        raise _reject(f"webhook GET with an invalid {param}", "bad_order_id")
    return OrderIdNotification(int(value))


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Miva appends "?Order_ID=<id>" to the configured URL; if that URL already holds "?token=..." the
    # result may read "token=...?Order_ID=1" (unconfirmed), so a "?" also separates parameters.
    query = query.lstrip("?").replace("?", "&")
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise _reject("webhook URL has too many query parameters", "bad_query") from None


_FORM_TYPES = ("multipart/", "application/x-www-form-urlencoded")


def _check_content_type(value: str | None) -> None:
    # Lenient: Miva sends application/json, but a missing or odd type is still parsed as JSON.
    # Only form posts (what a browser can send cross-site) are refused.
    media = (value or "").split(";", 1)[0].strip().lower()
    if media.startswith(_FORM_TYPES):
        raise _reject("webhook body must be JSON, not a form", "unsupported_media_type", 415)


def _parse_ip(value: str | None) -> IPAddress | None:
    if not value:
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:8080" from some proxies
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
