"""json.mvc's request handling as pure code: request bytes and headers in, status, headers and bytes out.

What it reproduces (miva-json-api.md): the API-offline switch, the method and content-type checks, the five
authorization schemes and the token settings, checked in Miva's order with Miva's exact messages (§3.4,
§3.2), ``Store_Code``, the single / ``Iterations`` / ``Operations`` envelopes with Miva's parameter lookup
(§5, §6), and the multicall time budget with 206 + ``Content-Range`` and ``Range`` continuation (§7).
The functions themselves run in the engine; this module never touches order data.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hashlib
import hmac
import ipaddress
import re
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs

from mivaorders._json import dumps, loads

from ._clock import StoreClock
from ._params import Params

__all__ = [
    "JSON_CONTENT_TYPE",
    "AccessPolicy",
    "Engine",
    "ProtocolRequest",
    "ProtocolResponse",
    "StoreProtocol",
    "StoreStats",
    "request_functions",
]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_DEFAULT_BUDGET = 60
_LOG_SIZE = 100_000  # requests kept in StoreStats.request_log
_SSH_WINDOW = 30  # fixed for SSH authentication (§3.2), whatever the token says
_TOKEN_SCHEMES = {"MIVA": None, "MIVA-HMAC-SHA1": "sha1", "MIVA-HMAC-SHA256": "sha256"}
_SSH_SCHEMES = {"SSH-RSA-SHA2-256": "sha256", "SSH-RSA-SHA2-512": "sha512"}
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")
_SESSION_TIMEOUT = "Your administrative session has timed out.  Please re-login to continue."


class Engine(Protocol):
    """What the protocol needs from the store's domain half (``StoreEngine`` satisfies it)."""

    store_code: str
    clock: StoreClock

    def execute(self, params: Params) -> dict[str, Any]: ...


@attrs.frozen
class ProtocolRequest:
    """One HTTP request as json.mvc sees it. Header names are lower-cased."""

    method: str
    headers: Mapping[str, str]
    body: bytes
    client_ip: str = "127.0.0.1"

    @classmethod
    def build(
        cls, method: str, headers: Iterable[tuple[str, str]], body: bytes, client_ip: str = "127.0.0.1"
    ) -> ProtocolRequest:
        lowered: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
        return cls(method.upper(), lowered, body, client_ip)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@attrs.frozen
class ProtocolResponse:
    """One HTTP answer. ``headers`` lacks Content-Length: each adapter writes it for the bytes it sends."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        key = name.lower()
        for header, value in self.headers:
            if header.lower() == key:
                return value
        return None

    @classmethod
    def json(cls, status: int, document: Any, *extra: tuple[str, str]) -> ProtocolResponse:
        return cls(status, (("Content-Type", JSON_CONTENT_TYPE), *extra), dumps(document))


@attrs.frozen
class AccessPolicy:
    """The API token's settings (admin: API Tokens) plus the optional SSH user, as §3.2/§3.3 describe them."""

    token: str = attrs.field(repr=False)
    signing_key: str = attrs.field(repr=False)
    require_signature: bool = True
    require_timestamp: bool = True
    timestamp_window: int = 60
    allowed_ips: tuple[str, ...] | None = None
    enabled: bool = True
    api_offline: bool = False
    ssh_username: str | None = None
    ssh_public_key: bytes | None = attrs.field(default=None, repr=False)
    #: Functions the token was not granted (``OrderList_Load_Query``,
    #: ``Module:orderworkflow:OrderList_Acknowledge``): each answers ``access_denied`` from inside.
    denied_functions: frozenset[str] = frozenset()


class StoreStats:
    """Request statistics of one simulated store; thread-safe; read the attributes or :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_function: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.faults_before = 0
            self.faults_after = 0
            #: strikes per ``"<function>:<when>"`` (a multicall counts once per function it calls)
            self.faults_by_function: Counter[str] = Counter()
            self.dropped = 0
            self.bytes_in = 0
            self.bytes_out = 0
            self.orders_returned = 0
            #: The functions of every request that reached the store, faulted or not, oldest first.
            self.request_log: deque[tuple[str, ...]] = deque(maxlen=_LOG_SIZE)

    def record_call(self, function: str, result: Mapping[str, Any]) -> None:
        with self._lock:
            self.by_function[function] += 1
            if function.endswith("OrderList_Load_Query") and result.get("success") in (1, True):
                data = result.get("data")
                if isinstance(data, Mapping) and isinstance(data.get("data"), list):
                    self.orders_returned += len(data["data"])

    def record_request(
        self, *, status: int | None, bytes_in: int, bytes_out: int, functions: tuple[str, ...] = ()
    ) -> None:
        with self._lock:
            self.requests += 1
            self.request_log.append(functions)
            self.bytes_in += bytes_in
            self.bytes_out += bytes_out
            if status is None:
                self.dropped += 1
            else:
                self.by_status[status] += 1

    def record_fault(self, kind: str, when: str, functions: Iterable[str] = ()) -> None:
        with self._lock:
            self.faults[f"{kind}:{when}"] += 1
            for function in set(functions):
                self.faults_by_function[f"{function}:{when}"] += 1
            if when == "before":
                self.faults_before += 1
            else:
                self.faults_after += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_function": dict(self.by_function),
                "by_status": dict(self.by_status),
                "faults": dict(self.faults),
                "faults_before": self.faults_before,
                "faults_after": self.faults_after,
                "faults_by_function": dict(self.faults_by_function),
                "dropped": self.dropped,
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "orders_returned": self.orders_returned,
            }

    def __repr__(self) -> str:
        return f"StoreStats({self.snapshot()!r})"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"success": 0, "error_code": code, "error_message": message}


def _denied(message: str) -> ProtocolResponse:
    return ProtocolResponse.json(200, _error("access_denied", message))


def _b64decode(text: str) -> bytes | None:
    text = text.strip()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _miva_int(value: object) -> int:
    """MivaScript's int(): leading digits count, anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, Decimal, float)):
        return int(value)
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group(1)) if match else 0
    return 0


def _function_name(params: Params) -> str:
    function = params.get("Function")
    if not isinstance(function, str):
        return ""
    if function == "Module":
        module_function = params.get("Module_Function")
        if isinstance(module_function, str) and module_function:
            return module_function
    return function


def _permission_name(params: Params) -> str:
    """The name a token's function permission is granted under: ``Module:<code>:<function>`` for modules."""
    function = params.get("Function")
    if function == "Module":
        return f"Module:{params.get('Module_Code')}:{params.get('Module_Function')}"
    return function if isinstance(function, str) else ""


def request_functions(body: bytes) -> tuple[str, ...]:
    """The function names one request body calls (Module calls by ``Module_Function``); lenient."""
    try:
        document = loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ()
    if not isinstance(document, dict):
        return ()
    operations = document.get("Operations")
    if isinstance(operations, list):
        names = (_function_name(Params(op if isinstance(op, dict) else {}, document)) for op in operations)
        return tuple(name for name in names if name)
    name = _function_name(Params(document))
    return (name,) if name else ()


def is_multicall(body: bytes) -> bool:
    try:
        document = loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(document, dict) and isinstance(document.get("Operations"), list)


class _RangeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


def _parse_range(header: str, total: int) -> tuple[int, int]:
    """``Operations=<first>-<last>`` as json.mvc reads it (§7), 1-based and inclusive."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "operations":
        raise _RangeError(200, "MER-JSN-00028", "Unknown Unit Type")
    if "," in spec:
        raise _RangeError(416, "MER-JSN-00031", "Multiple ranges are not supported")
    if spec.count("-") > 1:
        raise _RangeError(416, "MER-JSN-00032", "Range Not Satisfiable")
    first_text, _, last_text = (part.strip() for part in spec.partition("-"))
    if not first_text:
        first = 1
    elif first_text.isdigit() and 1 <= int(first_text) <= total:
        first = int(first_text)
    else:
        raise _RangeError(416, "MER-JSN-00033", "Range Not Satisfiable")
    if not last_text:
        last = total
    elif last_text.isdigit() and first <= int(last_text) <= total:
        last = int(last_text)
    else:
        raise _RangeError(416, "MER-JSN-00034", "Range Not Satisfiable")
    return first, last


class StoreProtocol:
    """json.mvc in front of an engine. ``access`` may be replaced at any time (e.g. to disable the token)."""

    def __init__(
        self,
        engine: Engine,
        access: AccessPolicy,
        *,
        stats: StoreStats | None = None,
        op_cost_seconds: float = 0.0,
    ) -> None:
        self.engine = engine
        self.access = access
        self.stats = stats if stats is not None else StoreStats()
        self.op_cost_seconds = op_cost_seconds

    def __repr__(self) -> str:
        return f"StoreProtocol(store_code={self.engine.store_code!r})"

    # -- the request ---------------------------------------------------------------------------------------

    def handle(self, request: ProtocolRequest, *, stop_after: int | None = None) -> ProtocolResponse:
        """Answer one request. ``stop_after`` forces a multicall to stop (206) after that many operations."""
        response = self._answer(request, stop_after=stop_after)
        # Like the web server in front of a real store: the store's own time, to the second.
        date = email.utils.formatdate(self.engine.clock.time(), usegmt=True)
        return attrs.evolve(response, headers=(*response.headers, ("Date", date)))

    def _answer(self, request: ProtocolRequest, *, stop_after: int | None) -> ProtocolResponse:
        access = self.access
        authorization = (request.header("X-Miva-API-Authorization") or "").strip()
        if not authorization:
            # Without the header json.mvc treats the call as an admin session call (§1).
            return ProtocolResponse.json(200, _error("session_timeout", _SESSION_TIMEOUT))
        if access.api_offline:
            return ProtocolResponse.json(503, _error("api_offline", "The API is currently offline"))
        if request.method != "POST":
            return _denied("Invalid request method")
        if (request.header("Content-Type") or "")[:16] != "application/json":
            return _denied("Invalid request content type")
        document = self._parse(request.body)
        denial = self._authenticate(authorization, request, document, access)
        if denial is not None:
            return denial
        if document is None:
            # ⚠️ an unreadable body leaves no parameters, so the first thing missing is Function.
            return ProtocolResponse.json(200, _error("MER-JSN-00024", "Missing required parameter Function"))
        operations = document.get("Operations")
        if isinstance(operations, list):
            return self._multicall(request, document, operations, stop_after)
        return ProtocolResponse.json(200, self._envelope(document, {}))

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any] | None:
        try:
            document = loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        return document if isinstance(document, dict) else None

    # -- authentication (§3.4, §3.2) -------------------------------------------------------------------------

    def _authenticate(
        self,
        authorization: str,
        request: ProtocolRequest,
        document: dict[str, Any] | None,
        access: AccessPolicy,
    ) -> ProtocolResponse | None:
        words = authorization.split(" ")
        scheme = words[0].upper()
        second = words[1] if len(words) > 1 else ""
        credential, _, signature = second.partition(":")
        if scheme in _SSH_SCHEMES:
            return self._authenticate_ssh(_SSH_SCHEMES[scheme], credential, signature, request, document)
        if scheme not in _TOKEN_SCHEMES:
            return _denied("Unrecognized authorization type")
        if not credential or not hmac.compare_digest(credential.encode(), access.token.encode()):
            return _denied("Access denied")
        if not self._ip_allowed(request.client_ip, access.allowed_ips):
            return _denied("Access denied")
        if not access.enabled:
            return _denied("Token is disabled")
        if access.require_timestamp:
            denial = self._check_timestamp(document, access.timestamp_window)
            if denial is not None:
                return denial
        if access.require_signature:
            digest = _TOKEN_SCHEMES[scheme]
            if digest is None:
                return _denied("Timestamp requires request signature")  # sic: Miva's wording
            key = _b64decode(access.signing_key) or b""
            expected = hmac.new(key, request.body, digest).digest()
            received = _b64decode(signature)
            if received is None or not hmac.compare_digest(expected, received):
                return _denied("Invalid request signature")
        return None

    def _authenticate_ssh(
        self,
        digest: str,
        credential: str,
        signature: str,
        request: ProtocolRequest,
        document: dict[str, Any] | None,
    ) -> ProtocolResponse | None:
        access = self.access
        username_bytes = _b64decode(credential)
        if (
            access.ssh_public_key is None
            or access.ssh_username is None
            or username_bytes is None
            or username_bytes != access.ssh_username.encode("utf-8")
        ):
            return _denied("Access denied")
        denial = self._check_timestamp(document, _SSH_WINDOW)
        if denial is not None:
            return denial
        raw_signature = _b64decode(signature)
        if raw_signature is None or not _verify_rsa(
            access.ssh_public_key, raw_signature, request.body, digest
        ):
            return _denied("Invalid request signature")
        return None

    def _check_timestamp(self, document: dict[str, Any] | None, window: int) -> ProtocolResponse | None:
        value = None if document is None else Params(document).get("Miva_Request_Timestamp")
        if value is None or (isinstance(value, str) and not value.strip()):
            return _denied("Missing required timestamp")
        if abs(_miva_int(value) - self.engine.clock.now()) > window:
            return _denied("Timestamp outside configured window")
        return None

    @staticmethod
    def _ip_allowed(client_ip: str, allowed: tuple[str, ...] | None) -> bool:
        if allowed is None:
            return True
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in _networks(allowed))

    # -- envelopes (§5, §6) ----------------------------------------------------------------------------

    def _envelope(self, top: dict[str, Any], operation: Mapping[str, Any]) -> Any:
        """One function call, or an array of results when it carries an ``Iterations`` array."""
        iterations = Params(operation, top).get("Iterations")
        if isinstance(iterations, list):
            return [
                self._call(Params(item if isinstance(item, dict) else {}, operation, top))
                for item in iterations
            ]
        return self._call(Params(operation, top))

    def _call(self, params: Params) -> dict[str, Any]:
        function = params.get("Function")
        if function is None or (isinstance(function, str) and not function.strip()):
            return _error("MER-JSN-00024", "Missing required parameter Function")
        store_code = params.get("Store_Code")
        store_code = store_code.strip() if isinstance(store_code, str) else store_code
        if store_code is None or store_code == "":
            return _error("MER-JSN-00017", "Missing required parameter Store_Code")
        if not isinstance(store_code, str) or store_code.upper() != self.engine.store_code.upper():
            # ❓ the database layer's answer; whether Admin_Open_Store rewrites it is not visible (§5).
            return _error("EOF", "Record not found: MER-DBP-STR-00013")
        denied = self.access.denied_functions
        if denied and _permission_name(params) in denied:
            # Checked inside the function, after authentication (miva-json-api.md §3).
            result = _error("access_denied", "Access denied")
        else:
            result = self.engine.execute(params)
        self.stats.record_call(_function_name(params), result)
        return result

    # -- multicall with time budget and continuation (§7) ----------------------------------------------

    def _multicall(
        self,
        request: ProtocolRequest,
        top: dict[str, Any],
        operations: Sequence[Any],
        stop_after: int | None,
    ) -> ProtocolResponse:
        total = len(operations)
        first, last = 1, total
        range_header = request.header("Range")
        if range_header is not None:
            try:
                first, last = _parse_range(range_header, total)
            except _RangeError as error:
                extra = (("Content-Range", f"*/{total}"),) if error.status == 416 else ()
                return ProtocolResponse.json(error.status, _error(error.code, error.message), *extra)
        budget = _miva_int(request.header("X-Miva-API-Timeout") or str(_DEFAULT_BUDGET))
        clock = self.engine.clock
        started = clock.time()
        results: list[Any] = []
        for index, operation in enumerate(operations[first - 1 : last]):
            if index > 0:
                if stop_after is not None and index >= stop_after:
                    break
                elapsed = int(clock.time() - started + self.op_cost_seconds * index)
                if budget <= 0 or elapsed >= budget:
                    break
            results.append(self._envelope(top, operation if isinstance(operation, dict) else {}))
        if len(results) < last - first + 1:
            return ProtocolResponse.json(206, results, ("Content-Range", f"{len(results)}/{total}"))
        return ProtocolResponse.json(200, results)


def _networks(entries: Iterable[str]) -> Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    for entry in entries:
        with contextlib.suppress(ValueError):
            yield ipaddress.ip_network(entry.strip(), strict=False)


def _verify_rsa(public_key: bytes, signature: bytes, body: bytes, digest: str) -> bool:
    # cryptography is the optional ``ssh`` extra: imported only when an SSH user is configured.
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key: object
    try:
        if public_key.lstrip().startswith(b"ssh-rsa"):
            key = serialization.load_ssh_public_key(public_key)
        else:
            key = serialization.load_pem_public_key(public_key)
    except (ValueError, UnsupportedAlgorithm):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    algorithm: hashes.HashAlgorithm = hashes.SHA256() if digest == "sha256" else hashes.SHA512()
    try:
        key.verify(signature, body, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def hmac_signature(signing_key: str, body: bytes, digest: str = "sha256") -> str:
    """The base64 HMAC Miva expects for ``body`` (used by the simulator's own tools and docs)."""
    key = _b64decode(signing_key) or b""
    return base64.b64encode(hmac.new(key, body, getattr(hashlib, digest)).digest()).decode("ascii")
