"""``Client`` and ``AsyncClient``: configuration, the signed send loop, call, call_module, multicall.

Everything that builds a request or reads a response lives in :mod:`mivaorders._envelope` and
:class:`_BaseClient`, which also writes sending a call once, as a generator of primitive steps (attempts,
the retry loop, HTTP 206 continuations, telemetry). The two drivers at the end carry those steps out, one
awaiting and the other not; the two client classes differ only in their HTTP client, their driver and
how they close.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import ipaddress
import itertools
import logging
import os
import platform
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from urllib.parse import urlsplit

import attrs
import httpx

from . import _json
from ._auth import AUTH_HEADER, Auth, HmacAuth, TokenAuth
from ._conversation import (
    AsyncDriver,
    Awaited,
    Close,
    Driver,
    Emit,
    Fetch,
    Handle,
    Handler,
    Landed,
    Launch,
    Log,
    Notify,
    Now,
    Pause,
    Primitive,
    Primitives,
    Seen,
    Send,
    SendMulticall,
    Steps,
    Stream,
    Take,
    Transmit,
    Turns,
)
from ._envelope import (
    Call,
    Multicall,
    MulticallProgress,
    OperationResult,
    Safety,
    check_envelope,
    check_params,
    classify,
    decode_body,
    raise_for_status,
)
from ._exceptions import ArgumentError, ConfigurationError, MivaError, translate_httpx_error
from ._telemetry import AsyncEventHooks, CallScope, EventHooks, Telemetry
from ._validate import boolean, callable_, instance_of, seconds, shown, whole_number
from ._version import __version__
from .orders import AsyncOrders, Orders
from .queues import AsyncQueues, Queues
from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy
from .shipments import AsyncShipments, Shipments

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from typing_extensions import Unpack  # typing.Unpack for **kwargs is 3.12+; an annotation only

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client", "ClientChanges", "MulticallResult"]

logger = logging.getLogger("mivaorders")

#: Miva's own SDK sets no timeout, so a hung store hangs it forever. Reads get 90 s: a page of orders
#: with every column can take a while, and failed logins are answered only after a ~5 s delay.
DEFAULT_TIMEOUT = httpx.Timeout(90.0, connect=10.0, pool=30.0)

USER_AGENT = f"mivaorders/{__version__} python/{platform.python_version()}"

MulticallResult = OperationResult | list[OperationResult]

_HttpT = TypeVar("_HttpT", httpx.Client, httpx.AsyncClient)
_HooksT = TypeVar("_HooksT", EventHooks, AsyncEventHooks)
_SelfT = TypeVar("_SelfT", bound="_BaseClient[Any, Any, Any, Any, Any, Any, Any]")
_ResultT = TypeVar("_ResultT")
_EnvelopeR = TypeVar("_EnvelopeR")  # dict[str, Any], or an awaitable of one
_ResultsR = TypeVar("_ResultsR")  # list[MulticallResult], or an awaitable of one
_OrdersT = TypeVar("_OrdersT")  # Orders or AsyncOrders
_QueuesT = TypeVar("_QueuesT")  # Queues or AsyncQueues
_ShipmentsT = TypeVar("_ShipmentsT")  # Shipments or AsyncShipments


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` cut out, for messages (a password must never be echoed)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "<credentials>@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def _check_endpoint(endpoint: object, allow_insecure_http: bool) -> str:
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigurationError("endpoint must be the full URL of the store's json.mvc")
    endpoint = endpoint.strip()
    try:
        parts = urlsplit(endpoint)
        hostname = parts.hostname
    except ValueError:  # e.g. a malformed IPv6 literal or port
        hostname = None
        parts = urlsplit("")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigurationError("endpoint must not embed credentials; pass auth= instead")
    if parts.scheme not in ("https", "http") or not hostname:
        raise ConfigurationError(
            f"endpoint {_without_credentials(endpoint)!r} is not an http(s) URL; "
            "expected e.g. https://example.com/mm5/json.mvc"
        )
    if parts.query or parts.fragment:
        # json.mvc clears the query string for API calls, and it is not covered by the signature.
        raise ConfigurationError("endpoint must not carry a query string or fragment")
    if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(hostname)):
        raise ConfigurationError(
            "endpoint uses plain http:// to a non-loopback host: the token would travel unencrypted. "
            "Use https://, or pass allow_insecure_http=True if you really mean it"
        )
    return endpoint


def _check_store_code(store_code: object) -> str:
    if not isinstance(store_code, str) or not store_code.strip():
        raise ConfigurationError("store_code is missing; it is the Store Code shown in the Miva admin")
    if store_code != store_code.strip():
        raise ConfigurationError("store_code has leading or trailing whitespace")
    return store_code


#: Longer timeouts are refused: sockets cannot wait longer (``inf`` overflows them), and no store answers.
MAX_TIMEOUT = 24 * 3600.0


def _check_timeout(timeout: object) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        for phase, value in timeout.as_dict().items():
            if value is not None:
                seconds(value, f"timeout.{phase}", maximum=MAX_TIMEOUT, error=ConfigurationError)
        return timeout
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        value = seconds(timeout, "timeout", maximum=MAX_TIMEOUT, error=ConfigurationError)
        return httpx.Timeout(value, connect=min(value, 10.0))
    raise ConfigurationError(
        f"timeout must be a positive number of seconds or an httpx.Timeout, not {shown(timeout)}"
    )


def _check_api_timeout(api_timeout: object) -> int | None:
    if api_timeout is None:
        return None
    # 0 or a negative value would make the store answer one operation per request.
    return whole_number(api_timeout, "api_timeout", minimum=1, error=ConfigurationError)


def _check_json(value: object, name: str) -> None:
    """Refuse what cannot be sent as JSON (an object, a float nan, a non-finite Decimal) before sending."""
    try:
        _json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"{name} cannot be sent as JSON: {exc}") from None


def _check_headers(headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"headers must be a mapping of header names to values, not {shown(headers)}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(f"headers must map str names to str values, not {shown(name)}: <value>")
        if name.lower() in (AUTH_HEADER.lower(), "content-type", "range"):
            raise ConfigurationError(f"header {name!r} is set by the client")
    return dict(headers)


def _check_auth(auth: object) -> Auth:
    if not isinstance(auth, Auth):
        raise ConfigurationError(
            "auth must be TokenAuth(token), HmacAuth(token, signing_key) or SshAuth(username, key), "
            f"not {type(auth).__name__}"
        )
    return auth


def _check_retry(retry: object) -> RetryPolicy:
    if retry is None:
        return NO_RETRY
    return instance_of(retry, RetryPolicy, "retry", "a RetryPolicy or None", error=ConfigurationError)


def _check_insecure(value: object) -> bool:
    return boolean(value, "allow_insecure_http", error=ConfigurationError)


def _check_clock(clock: object) -> Callable[[], float]:
    return callable_(clock, "clock", error=ConfigurationError)  # type: ignore[return-value]


def _check_continuations(value: object) -> int:
    return whole_number(value, "max_continuations", minimum=1, error=ConfigurationError)


def _endpoint_text(endpoint: object) -> str:
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigurationError("endpoint must be the full URL of the store's json.mvc")
    return endpoint.strip()


@attrs.frozen(kw_only=True)
class ClientConfig:
    """A client's validated, immutable settings: each field checks what it is given (so
    ``attrs.evolve(config, ...)``, which ``with_options()`` uses, checks the changes too)."""

    endpoint: str = attrs.field(converter=_endpoint_text)
    store_code: str = attrs.field(converter=_check_store_code)
    auth: Auth = attrs.field(repr=False, converter=_check_auth)
    timeout: httpx.Timeout = attrs.field(default=DEFAULT_TIMEOUT, converter=_check_timeout)
    retry: RetryPolicy = attrs.field(default=DEFAULT_RETRY, converter=_check_retry)
    api_timeout: int | None = attrs.field(default=None, converter=_check_api_timeout)
    # A proxy's credentials may be among the headers.
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False, converter=_check_headers)
    allow_insecure_http: bool = attrs.field(default=False, converter=_check_insecure)
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False, converter=_check_clock)
    max_continuations: int = attrs.field(default=100, converter=_check_continuations)

    def __attrs_post_init__(self) -> None:
        # Whether plain http:// is allowed depends on another field, so it is checked once both are in.
        _check_endpoint(self.endpoint, self.allow_insecure_http)


class ClientChanges(TypedDict, total=False):
    """What :meth:`Client.with_options` may change: the client's options of the same names."""

    endpoint: str
    store_code: str
    auth: Auth
    timeout: float | httpx.Timeout
    retry: RetryPolicy | None
    api_timeout: int | None
    headers: Mapping[str, str] | None
    allow_insecure_http: bool
    max_continuations: int


class _BaseClient(Generic[_HttpT, _HooksT, _EnvelopeR, _ResultsR, _OrdersT, _QueuesT, _ShipmentsT]):
    """What the sync and async clients share: configuration, the pure request/response steps, and the
    public methods, which hand their conversation to the client's driver (``_run_*``, set by
    :meth:`_bind_driver`)."""

    _config: ClientConfig
    _http: _HttpT
    _owns_http: bool
    _telemetry: Telemetry
    _async_hooks = False
    _http_type: type[_HttpT]  # the httpx client class this client sends through
    _http_expected: str  # what ``http_client=`` must be, for the error
    _run_envelope: Callable[[Steps[dict[str, Any]]], _EnvelopeR]
    _run_results: Callable[[Steps[list[MulticallResult]]], _ResultsR]
    # The resource classes of this kind of client, each made with the client and a driver of its own.
    _orders_type: Callable[[Any, Any], _OrdersT]
    _queues_type: Callable[[Any, Any], _QueuesT]
    _shipments_type: Callable[[Any, Any], _ShipmentsT]

    def __init__(
        self,
        endpoint: str,
        *,
        store_code: str,
        auth: Auth,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        http_client: _HttpT | None = None,
        api_timeout: int | None = None,
        headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.time,
        max_continuations: int = 100,
        event_hooks: _HooksT | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._telemetry = Telemetry(
            event_hooks=event_hooks,
            allow_async_hooks=self._async_hooks,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        config = ClientConfig(
            endpoint=endpoint,
            store_code=store_code,
            auth=auth,
            timeout=timeout,
            retry=retry,
            api_timeout=api_timeout,
            headers=headers,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            max_continuations=max_continuations,
        )
        if http_client is None:
            self._adopt(
                config, self._http_type(timeout=config.timeout, follow_redirects=False), owns_http=True
            )
        else:
            expected = self._http_expected
            http = instance_of(
                http_client, self._http_type, "http_client", expected, error=ConfigurationError
            )
            self._adopt(config, http, owns_http=False)

    def _adopt(self, config: ClientConfig, http: _HttpT, *, owns_http: bool) -> None:
        """Take these settings and this connection pool; make the driver."""
        self._config = config
        self._http = http
        self._owns_http = owns_http
        self._bind_driver()

    def _bind_driver(self) -> None:
        """Point the ``_run_*`` attributes at a driver made for this very client."""
        raise NotImplementedError

    def _new_driver(self) -> Driver | AsyncDriver:
        raise NotImplementedError

    @functools.cached_property
    def orders(self) -> _OrdersT:
        """Order queries and the pull methods (``list``, ``get``, ``iter``, ``placed_between``,
        ``updated_since``, ``after_number``) and write-back (``set_custom_fields``, ``fulfil``):
        :class:`~mivaorders.Orders`, or :class:`~mivaorders.AsyncOrders` on an :class:`AsyncClient`."""
        return self._orders_type(self, self._new_driver())

    @functools.cached_property
    def queues(self) -> _QueuesT:
        """Order workflow queues (``list_queues``, ``load``, ``acknowledge``, ``drain``,
        ``recover_lost_page``): :class:`~mivaorders.Queues`, or :class:`~mivaorders.AsyncQueues`."""
        return self._queues_type(self, self._new_driver())

    @functools.cached_property
    def shipments(self) -> _ShipmentsT:
        """Shipments (``create``, never repeated blindly; ``update``, all tracking fields; ``list``;
        ``get``): :class:`~mivaorders.Shipments`, or :class:`~mivaorders.AsyncShipments`."""
        return self._shipments_type(self, self._new_driver())

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def from_env(cls: type[_SelfT], environ: Mapping[str, str] | None = None, **options: Any) -> _SelfT:
        """A client from ``MIVA_ENDPOINT``, ``MIVA_STORE_CODE``, ``MIVA_API_TOKEN`` and, when set,
        ``MIVA_SIGNING_KEY`` (HMAC-SHA256; ``MIVA_SIGNING_DIGEST=sha1`` for SHA1). Keyword arguments
        override or add options."""
        env = os.environ if environ is None else environ

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        if "auth" not in options:
            token = need("MIVA_API_TOKEN")
            signing_key = env.get("MIVA_SIGNING_KEY", "").strip()
            if signing_key:
                digest = env.get("MIVA_SIGNING_DIGEST", "sha256").strip().lower() or "sha256"
                if digest not in ("sha256", "sha1"):
                    raise ConfigurationError("MIVA_SIGNING_DIGEST must be sha256 or sha1")
                options["auth"] = HmacAuth(
                    token, signing_key, digest="sha1" if digest == "sha1" else "sha256"
                )
            else:
                options["auth"] = TokenAuth(token)
        endpoint = options.pop("endpoint", None) or need("MIVA_ENDPOINT")
        if "store_code" not in options:
            options["store_code"] = need("MIVA_STORE_CODE")
        return cls(endpoint, **options)

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    @property
    def store_code(self) -> str:
        return self._config.store_code

    @property
    def retry(self) -> RetryPolicy:
        return self._config.retry

    @property
    def timeout(self) -> httpx.Timeout:
        return self._config.timeout

    def with_options(self: _SelfT, **changes: Unpack[ClientChanges]) -> _SelfT:
        """A copy with some options changed (any of the client's own: ``endpoint``, ``store_code``,
        ``auth``, ``timeout``, ``retry``, ``api_timeout``, ``headers``, ``allow_insecure_http``,
        ``max_continuations``), sharing this client's connection pool and telemetry.

        The copy does not own the pool: closing it leaves the original usable, and closing the original
        closes the pool for both.
        """
        unknown = sorted(set(changes) - ClientChanges.__optional_keys__)
        if unknown:
            allowed = ", ".join(sorted(ClientChanges.__optional_keys__))
            raise ConfigurationError(
                f"with_options() cannot change {', '.join(unknown)}; it changes {allowed}"
            )
        copy = type(self).__new__(type(self))
        copy._telemetry = self._telemetry
        copy._adopt(attrs.evolve(self._config, **changes), self._http, owns_http=False)
        return copy

    def __repr__(self) -> str:
        # Safe on a half-built client too (error reporters print the locals of failing frames).
        config = self.__dict__.get("_config")
        if not isinstance(config, ClientConfig):
            return f"{type(self).__name__}(<not configured>)"
        return f"{type(self).__name__}(endpoint={config.endpoint!r}, store_code={config.store_code!r})"

    # -- pure request/response steps -------------------------------------------------------------

    def _build_request(self, body: Mapping[str, Any], *, range_header: str | None = None) -> httpx.Request:
        content = _json.dumps(body)  # serialised once: exactly these bytes are signed and sent
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **self._config.headers,
            AUTH_HEADER: self._config.auth.authorization(content),
        }
        if self._config.api_timeout is not None:
            headers["X-Miva-API-Timeout"] = str(self._config.api_timeout)
        if range_header is not None:
            headers["Range"] = range_header
        return httpx.Request(
            "POST",
            self._config.endpoint,
            content=content,
            headers=headers,
            extensions={"timeout": self._config.timeout.as_dict()},
        )

    def _timestamp(self) -> int:
        return int(self._config.clock())

    def _call_request(self, spec: Call) -> httpx.Request:
        return self._build_request(spec.body(self._config.store_code, self._timestamp()))

    def _multicall_request(self, progress: MulticallProgress) -> httpx.Request:
        body = progress.spec.body(self._config.store_code, self._timestamp())
        return self._build_request(body, range_header=progress.range_header())

    def _observe(self, label: str) -> CallScope:
        """The telemetry of one call (logging, event hooks, OpenTelemetry); see ``_telemetry``."""
        return self._telemetry.call(label, self._config.store_code, self._config.endpoint)

    @staticmethod
    def _read_call(spec: Call, response: httpx.Response) -> dict[str, Any]:
        raise_for_status(
            response.status_code, response.headers, response.content, function=spec.label, allow_partial=False
        )
        if spec.fast_decode is not None:
            data = spec.fast_decode(response.content)
            if data is not None:
                return {"success": 1, "data": data}
        return check_envelope(decode_body(response.content, function=spec.label), function=spec.label)

    @staticmethod
    def _read_multicall(progress: MulticallProgress, response: httpx.Response) -> None:
        label = progress.spec.label
        raise_for_status(
            response.status_code, response.headers, response.content, function=label, allow_partial=True
        )
        decode = progress.spec.fast_decode
        data = decode(response.content) if decode is not None else None
        if data is None:
            data = decode_body(response.content, function=label)
        progress.accept(response.status_code, response.headers, data)

    @staticmethod
    def _call_spec(
        function: str,
        params: Mapping[str, Any] | None,
        *,
        module: str | None = None,
        module_function: str | None = None,
        idempotent: bool | None = None,
    ) -> Call:
        if not isinstance(function, str) or not function:
            raise ArgumentError(
                f"function must be a non-empty string such as 'OrderList_Load_Query', not {shown(function)}"
            )
        if idempotent is not None:
            boolean(idempotent, "idempotent")
        checked = check_params(params)
        _check_json(checked, "params")
        if idempotent is None:
            safety = classify(function, module, module_function)
        else:
            safety = Safety.IDEMPOTENT if idempotent else Safety.UNSAFE
        return Call(function, checked, module, module_function, safety)

    @staticmethod
    def _module_spec(
        module_code: str,
        module_function: str,
        params: Mapping[str, Any] | None,
        idempotent: bool | None,
    ) -> Call:
        for name, value in (("module_code", module_code), ("module_function", module_function)):
            if not isinstance(value, str) or not value:
                raise ArgumentError(f"{name} must be a non-empty string, not {shown(value)}")
        return _BaseClient._call_spec(
            "Module", params, module=module_code, module_function=module_function, idempotent=idempotent
        )

    # -- sending a call, as primitive steps for a driver to carry out -------------------------------

    def _call_steps(
        self, spec: Call, policy: RetryPolicy | None = None
    ) -> Primitives[tuple[dict[str, Any], httpx.Response]]:
        """One call under ``policy`` (the client's own by default): its attempts and the waits between."""
        with self._observe(spec.label) as call:
            attempt = functools.partial(self._call_attempt, call, spec)
            policy = self._config.retry if policy is None else policy
            return (yield from _retried(policy, spec.safety, spec.label, attempt))

    def _call_attempt(
        self, call: CallScope, spec: Call, number: int
    ) -> Primitives[tuple[dict[str, Any], httpx.Response]]:
        request = self._call_request(spec)
        read = functools.partial(self._read_call, spec)
        envelope, response = yield from self._attempt(call, number, request, read)
        call.result(envelope, params=spec.params)
        return envelope, response

    def _multicall_steps(self, spec: Multicall) -> Primitives[tuple[list[MulticallResult], httpx.Response]]:
        """A multicall: a request, then one per HTTP 206 continuation, each under the retry policy."""
        progress = MulticallProgress(spec, max_requests=self._config.max_continuations)
        first: httpx.Response | None = None
        with self._observe(spec.label) as call:
            attempt = functools.partial(self._multicall_attempt, call, progress)
            while not progress.done:
                _, response = yield from _retried(self._config.retry, spec.safety, spec.label, attempt)
                first = first or response
            assert first is not None
            results = progress.results()
            call.result(results, operations=spec.operations)
        return results, first

    def _multicall_attempt(
        self, call: CallScope, progress: MulticallProgress, number: int
    ) -> Primitives[tuple[None, httpx.Response]]:
        request = self._multicall_request(progress)
        read = functools.partial(self._read_multicall, progress)
        return (yield from self._attempt(call, number, request, read))

    def _attempt(
        self,
        call: CallScope,
        number: int,
        request: httpx.Request,
        read: Callable[[httpx.Response], _ResultT],
    ) -> Primitives[tuple[_ResultT, httpx.Response]]:
        """Send one attempt and read its answer: the one place where attempts are observed."""
        request_hooks, response_hooks = self._telemetry.request_hooks, self._telemetry.response_hooks
        event = call.request_event(number)
        if request_hooks:
            yield Notify(request_hooks, event)
        probe = call.start_attempt(number)
        response: httpx.Response | None = None
        try:
            try:
                response = yield Transmit(request)
            except httpx.HTTPError as exc:
                raise translate_httpx_error(exc, function=call.function) from exc
            assert response is not None
            result = read(response)
        except BaseException as exc:
            failed = probe.finished(response, exc)
            if isinstance(exc, Exception) and response_hooks:
                yield Notify(response_hooks, failed)
            raise
        done = probe.finished(response, None)
        if response_hooks:
            yield Notify(response_hooks, done)
        return result, response

    # -- the public methods: written once; on AsyncClient they return awaitables --------------------

    def call(
        self, function: str, params: Mapping[str, Any] | None = None, *, idempotent: bool | None = None
    ) -> _EnvelopeR:
        """Call one function and return its whole checked envelope (``success: 0`` raises); awaitable on
        :class:`AsyncClient`.

        Reads are retried by default; other functions only when the failure proves the store never
        acted. ``idempotent=True`` declares a call safe to repeat, ``False`` forbids blind retries.
        """
        return self._run_envelope(_envelope_of(self._call_spec(function, params, idempotent=idempotent)))

    def call_module(
        self,
        module_code: str,
        module_function: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> _EnvelopeR:
        """Call a module function (``Function: "Module"``), e.g. ``orderworkflow``'s queue functions;
        awaitable on :class:`AsyncClient`."""
        spec = self._module_spec(module_code, module_function, params, idempotent)
        return self._run_envelope(_envelope_of(spec))

    def multicall(
        self, operations: Sequence[Mapping[str, Any]], *, idempotent: bool | None = None
    ) -> _ResultsR:
        """Run ``Operations`` in one request, following HTTP 206 continuations until all have answered;
        awaitable on :class:`AsyncClient`.

        Returns one :class:`OperationResult` per operation, in order (a list of them for an operation with
        ``Iterations``). A failed operation is reported in its result, not raised.
        """
        return self._run_results(_results_of(Multicall.of(operations, idempotent=idempotent)))


def _envelope_of(spec: Call) -> Steps[dict[str, Any]]:
    answer: tuple[dict[str, Any], httpx.Response] = yield Send(spec)
    return answer[0]


def _results_of(spec: Multicall) -> Steps[list[MulticallResult]]:
    answer: tuple[list[MulticallResult], httpx.Response] = yield SendMulticall(spec)
    return answer[0]


def _retried(
    policy: RetryPolicy, safety: Safety, label: str, attempt: Callable[[int], Primitives[_ResultT]]
) -> Primitives[_ResultT]:
    """``attempt(number)`` until it succeeds or ``policy`` gives up. tenacity decides and logs, and its
    wait is handed to the driver as a :class:`Pause` (none when the policy never sleeps)."""
    waits: list[float] = []
    for tries in policy.retrying(safety, label, sleep=waits.append):
        if waits:
            seconds = waits.pop()
            if policy.wait:
                yield Pause(seconds)
        with tries:
            return (yield from attempt(tries.retry_state.attempt_number))
    raise AssertionError("unreachable: tenacity re-raises the last failure")  # pragma: no cover


class Client(
    _BaseClient[httpx.Client, EventHooks, dict[str, Any], list[MulticallResult], Orders, Queues, Shipments]
):
    """A synchronous client for one Miva store's JSON API.

    ``Client(endpoint, store_code=..., auth=HmacAuth(token, signing_key))``. Use it as a context manager
    or call :meth:`close`. Pass ``http_client=`` to bring your own ``httpx.Client`` (its transport, proxies,
    limits); the client then leaves closing it to you.
    """

    _http_type = httpx.Client
    _http_expected = "an httpx.Client (an httpx.AsyncClient goes with AsyncClient)"
    _orders_type, _queues_type, _shipments_type = Orders, Queues, Shipments

    def _new_driver(self) -> Driver:
        return _SyncDriver(self)

    def _bind_driver(self) -> None:
        self._run_envelope = self._run_results = _SyncDriver(self).run

    def close(self) -> None:
        """Close the connection pool, if this client owns it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(
    _BaseClient[
        httpx.AsyncClient,
        AsyncEventHooks,
        Awaited[dict[str, Any]],
        Awaited[list[MulticallResult]],
        AsyncOrders,
        AsyncQueues,
        AsyncShipments,
    ]
):
    """The asynchronous twin of :class:`Client`: the same options, names and behaviour, awaited.

    Its ``event_hooks`` may be async callables (awaited) or plain ones."""

    _async_hooks = True
    _http_type = httpx.AsyncClient
    _http_expected = "an httpx.AsyncClient (an httpx.Client goes with Client)"
    _orders_type, _queues_type, _shipments_type = AsyncOrders, AsyncQueues, AsyncShipments

    def _new_driver(self) -> AsyncDriver:
        return _AsyncDriver(self)

    def _bind_driver(self) -> None:
        self._run_envelope = self._run_results = _AsyncDriver(self).run

    async def close(self) -> None:
        """Close the connection pool, if this client owns it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _first(items: AsyncIterator[_ResultT], count: int) -> AsyncIterator[_ResultT]:
    """The first ``count`` items of ``items``, without asking it for one more."""
    if count <= 0:
        return
    taken = 0
    async for item in items:
        yield item
        taken += 1
        if taken >= count:
            return


async def _resolved(value: object) -> Any:
    """``value``, awaited first if it is awaitable (hooks and handlers may be async on AsyncClient)."""
    return (await value) if inspect.isawaitable(value) else value


# -- the drivers: where conversations (mivaorders._conversation) meet I/O, the clock and sleeping -------

#: At most this many fetches of one stream in flight from the synchronous driver's threads (a pull's
#: lanes bound it first: one page ahead per lane).
_PREFETCH_THREADS = 40  # threads start as needed: FastPaging's lanes (up to 32) and its tail lane


_ClientT = TypeVar("_ClientT", "Client", "AsyncClient")

#: Where the drivers write what conversations log.
_conversation_log = logging.getLogger("mivaorders")
_Fetched = tuple[Any, httpx.Response, float]  # a fetch's answer, its response, when it was sent


class _BaseDriver(Generic[_ClientT]):
    """What both drivers share: a conversation brought down to primitive steps, which is all that is
    left for each driver to carry out (and a stream's fetches to move)."""

    def __init__(self, client: _ClientT) -> None:
        self._client: _ClientT = client

    @property
    def config(self) -> ClientConfig:
        return self._client._config

    def _conduct(self, steps: Steps[_ResultT], seen: Seen | None) -> Primitives[_ResultT]:
        """The conversation's sends become the client's call steps and its clock readings are answered
        here; its pauses and handler runs go on to the driver."""
        turns = Turns(steps)
        while (step := turns.step()) is not None:
            yield from self._answer(turns, step, seen)
        return turns.result

    def _answer(self, turns: Turns[Any], step: Any, seen: Seen | None) -> Primitives[None]:
        answer: Any
        try:
            if isinstance(step, Send):
                answer = yield from self._client._call_steps(step.call)
            elif isinstance(step, SendMulticall):
                answer = yield from self._client._multicall_steps(step.multicall)
            elif isinstance(step, Now):
                answer = self.config.clock()
            elif isinstance(step, Log):
                _conversation_log.log(step.level, step.message, *step.args)
                answer = None
            else:
                answer = yield step
            if seen is not None and isinstance(step, (Send, SendMulticall)):
                seen(answer[1], self.config.clock())
        except GeneratorExit:  # the steps are being closed: nothing to tell the conversation
            raise
        except BaseException as exc:  # the conversation decides what a failure means, then re-raises
            turns.fail(exc)
        else:
            turns.answer(answer)

    def _fetch_steps(self, fetch: Fetch) -> Primitives[_Fetched]:
        if not fetch.replans:
            return (yield from self._fetch_attempt(fetch, None))  # the client's own retry policy applies
        # A fetch that re-plans a failed request before retrying it runs the retry policy itself, around
        # single attempts (each a call of its own, without retries).
        attempt = functools.partial(self._fetch_attempt, fetch, NO_RETRY)
        return (yield from _retried(self.config.retry, Safety.IDEMPOTENT, fetch.label, attempt))

    def _fetch_attempt(self, fetch: Fetch, policy: RetryPolicy | None, _: int = 1) -> Primitives[_Fetched]:
        clock = self.config.clock
        request = fetch.request()
        sent = clock()
        try:
            answer, response = yield from self._client._call_steps(request, policy)
        except MivaError as exc:
            fetch.failed(exc)
            raise
        fetch.answered(response, clock() - sent)
        return answer, response, sent


class _SyncDriver(_BaseDriver[Client]):
    """Runs conversations with a :class:`Client`. A stream's fetches go out from a thread pool, each as a
    request of its own, so the next page is on its way while the caller consumes this one and
    ``FastPaging(concurrency=n)`` has n requests in flight, as with :class:`AsyncClient`."""

    def run(
        self, steps: Steps[_ResultT], handler: Handler | None = None, seen: Seen | None = None
    ) -> _ResultT:
        return self._carry_out(self._conduct(steps, seen), handler)

    def _carry_out(self, steps: Primitives[_ResultT], handler: Handler | None = None) -> _ResultT:
        turns = Turns(steps)
        while (step := turns.step()) is not None:
            self._do(turns, step, handler)
        return turns.result

    def _do(self, turns: Turns[Any], step: Primitive, handler: Handler | None) -> None:
        """Carry out one primitive step and tell ``turns`` how it went."""
        try:
            if isinstance(step, Transmit):
                turns.answer(self._client._http.send(step.request))
            elif isinstance(step, Notify):
                for hook in step.hooks:
                    hook(step.event)
            elif isinstance(step, Handle):
                assert handler is not None
                turns.answer(handler(step.orders))
            elif isinstance(step, Take):
                turns.answer(list(itertools.islice(step.items, step.count)))
            elif isinstance(step, Close):
                pass  # a sync iterator holds nothing in flight that outlives it
            elif self._client.retry.wait:
                time.sleep(step.seconds)
        except BaseException as exc:  # thrown into the steps, where it happened
            turns.fail(exc)

    def _fetch(self, fetch: Fetch) -> _Fetched:
        return self._carry_out(self._fetch_steps(fetch))

    def stream(self, steps: Stream) -> Iterator[Any]:
        return _SyncStream(self).run(steps)


class _SyncStream:
    """One stream of a :class:`_SyncDriver`: its fetches in flight, and the answers in.

    Only sending and sleeping go to the pool's threads. A fetch of a fixed request is otherwise carried out
    here, in the caller's thread, as the asynchronous driver does in its one thread: decoding a page and
    the caller's use of the orders then take turns instead of contending for the GIL (with a consumer that
    works on each order, that contention cost the sync client 10-20 % against the async one). A fetch that
    re-plans (an adaptive page size) runs in a thread as a whole, so that the time it measures is the
    store's and the decoder's, never the caller's.
    """

    def __init__(self, driver: _SyncDriver) -> None:
        self._driver = driver
        self._client = driver._client
        self._pool: ThreadPoolExecutor | None = None
        self._waiting: dict[Future[Any], int] = {}  # what is in a thread, for the fetch of that key
        self._here: dict[int, tuple[Turns[_Fetched], contextvars.Context]] = {}  # fetches carried out here
        self._landed: deque[Landed | BaseException] = deque()

    def _submit(self, key: int, function: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(_PREFETCH_THREADS, thread_name_prefix="mivaorders-fetch")
        self._waiting[self._pool.submit(function, *args)] = key

    def _launch(self, launch: Launch) -> None:
        context = contextvars.copy_context()  # telemetry spans keep their parent
        if launch.fetch.replans:
            self._submit(launch.key, context.run, self._driver._fetch, launch.fetch)
            return
        self._here[launch.key] = (Turns(self._driver._fetch_steps(launch.fetch)), context)
        self._advance(launch.key)

    def _advance(self, key: int) -> None:
        """Carry the fetch on here until it waits on a thread, or is done."""
        turns, context = self._here[key]
        while True:
            try:
                step = context.run(turns.step)
            except BaseException as exc:  # the fetch failed: the conversation is told at its Next
                del self._here[key]
                self._landed.append(exc)
                return
            if step is None:
                del self._here[key]
                answer, response, sent = turns.result
                self._landed.append(Landed(key, answer, response, sent))
                return
            if isinstance(step, Transmit):
                # A copy: the thread sends inside the fetch's telemetry span, while this context stays free
                # to be entered here (to close the fetch, say) before the thread is done.
                self._submit(key, context.copy().run, self._client._http.send, step.request)
                return
            if isinstance(step, Pause) and self._client.retry.wait:
                self._submit(key, time.sleep, step.seconds)
                return
            context.run(self._driver._do, turns, step, None)  # the rest (hooks) as the driver does it

    def _wait(self) -> None:
        """Until an answer is in: whichever thread finished first (the oldest of those)."""
        while not self._landed:
            done, _ = futures.wait(self._waiting, return_when=futures.FIRST_COMPLETED)
            future = min(done, key=self._waiting.__getitem__)
            key = self._waiting.pop(future)
            if key not in self._here:  # a whole fetch, run in its thread
                try:
                    answer, response, sent = future.result()
                except BaseException as exc:
                    self._landed.append(exc)
                    continue
                self._landed.append(Landed(key, answer, response, sent))
                continue
            turns, _ = self._here[key]
            try:
                turns.answer(future.result())
            except BaseException as exc:
                turns.fail(exc)
            self._advance(key)

    def run(self, steps: Stream) -> Iterator[Any]:
        turns = Turns(steps)
        try:
            while (step := turns.step()) is not None:
                if isinstance(step, Launch):
                    self._launch(step)
                elif isinstance(step, Emit):
                    yield from step.items
                else:
                    self._wait()
                    landed = self._landed.popleft()
                    if isinstance(landed, BaseException):
                        turns.fail(landed)
                    else:
                        turns.answer(landed)
        finally:
            turns.close()
            for fetch, context in self._here.values():
                context.run(fetch.close)  # ends its telemetry span where it began
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)


class _AsyncDriver(_BaseDriver[AsyncClient]):
    """Runs conversations with an :class:`AsyncClient`; a stream's fetches run as concurrent tasks."""

    async def run(
        self, steps: Steps[_ResultT], handler: Handler | None = None, seen: Seen | None = None
    ) -> _ResultT:
        return await self._carry_out(self._conduct(steps, seen), handler)

    async def _carry_out(self, steps: Primitives[_ResultT], handler: Handler | None = None) -> _ResultT:
        turns = Turns(steps)
        while (step := turns.step()) is not None:
            await self._do(turns, step, handler)
        return turns.result

    async def _do(self, turns: Turns[Any], step: Primitive, handler: Handler | None) -> None:
        """Carry out one primitive step, awaiting what may be awaited, and tell ``turns`` how it went."""
        try:
            if isinstance(step, Transmit):
                turns.answer(await self._client._http.send(step.request))
            elif isinstance(step, Notify):
                for hook in step.hooks:
                    await _resolved(hook(step.event))
            elif isinstance(step, Handle):
                assert handler is not None
                turns.answer(await _resolved(handler(step.orders)))
            elif isinstance(step, Take):
                turns.answer([item async for item in _first(step.items, step.count)])
            elif isinstance(step, Close):
                await step.items.aclose()
            elif self._client.retry.wait:
                await asyncio.sleep(step.seconds)
        except BaseException as exc:  # thrown into the steps, where it happened
            turns.fail(exc)

    async def stream(self, steps: Stream) -> AsyncIterator[Any]:
        running: dict[asyncio.Task[_Fetched], int] = {}
        ready: deque[asyncio.Task[_Fetched]] = deque()
        turns = Turns(steps)
        try:
            while (step := turns.step()) is not None:
                if isinstance(step, Launch):
                    fetching = self._carry_out(self._fetch_steps(step.fetch))
                    running[asyncio.ensure_future(fetching)] = step.key
                    continue
                if isinstance(step, Emit):
                    for item in step.items:
                        yield item
                    continue
                if not ready:
                    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    ready.extend(done)
                task = ready.popleft()
                key = running.pop(task)
                try:
                    result, response, sent = task.result()
                except BaseException as exc:
                    turns.fail(exc)
                    continue
                turns.answer(Landed(key, result, response, sent))
        finally:
            turns.close()
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)


def sync_driver(client: Client) -> Driver:
    """The driver a synchronous resource runs its conversations with."""
    return _SyncDriver(client)


def async_driver(client: AsyncClient) -> AsyncDriver:
    """The driver an asynchronous resource runs its conversations with."""
    return _AsyncDriver(client)
