"""mivaorders.webhooks: parsing hostile bodies, the order rules, and request vetting."""

from __future__ import annotations

import base64
import copy
import hmac
import json
import threading
from decimal import Decimal
from typing import Any

import attrs
import pytest

from mivaorders import ConfigurationError, MivaError, WebhookError
from mivaorders._converter import structure_order
from mivaorders._json import dumps
from mivaorders.models import Order
from mivaorders.webhooks import (
    ADMIN_SOURCES,
    LRUSeenStore,
    OrderIdNotification,
    WebhookRequest,
    WebhookVerifier,
    dedupe_key,
    is_complete,
    parse_order,
    parse_order_id,
)

from .conftest import FIXTURES, load_fixture

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def payload() -> dict[str, Any]:
    data: dict[str, Any] = load_fixture("webhook_order_payload.json")
    return data


@pytest.fixture
def body() -> bytes:
    return (FIXTURES / "webhook_order_payload.json").read_bytes()


class _Reason:
    """``with _Reason("x"):`` asserts a WebhookError with that reason; keeps the error."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.error: WebhookError | None = None

    def __enter__(self) -> _Reason:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        assert isinstance(exc, WebhookError), f"expected a rejection, got {exc!r}"
        assert exc.reason == self.reason, (exc.reason, str(exc))
        self.error = exc
        return True


# ------------------------------------------------------------------------------------------ parsing
def test_fixture_parses_to_the_same_order_as_the_pull_api(body: bytes, payload: dict[str, Any]) -> None:
    order = parse_order(body)
    assert isinstance(order, Order)
    assert order == structure_order(payload)
    assert order.id == 100231
    assert order.total == Decimal("96.46")
    assert order.payments is not None
    assert order.payments[0].decrypt_status == "not_encrypted"
    assert order.custom_field("orderworkflow", "new_and_updated") == "1"
    assert order.items is not None
    assert len(order.items) == 3


def test_fixture_equals_the_list_response_row_of_the_same_order(body: bytes) -> None:
    # The list response renders 100231 with ODC ``parts`` and customfields only; the webhook renders every
    # module's custom fields and no parts. With those two differences aligned the decodes are equal.
    row = copy.deepcopy(load_fixture("orderlist_load_query_response.json")["data"]["data"][0])
    webhook = load_fixture("webhook_order_payload.json")
    assert row["id"] == webhook["id"]
    for item in row["items"]:
        item.pop("parts", None)
    row["CustomField_Values"] = webhook["CustomField_Values"]
    assert parse_order(body) == structure_order(row)


def test_all_input_kinds_agree(body: bytes, payload: dict[str, Any]) -> None:
    expected = parse_order(body)
    assert parse_order(bytearray(body)) == expected
    assert parse_order(memoryview(body)) == expected
    assert parse_order(body.decode()) == expected
    assert parse_order(payload) == expected


def test_collections_are_decoded_eagerly_so_bad_children_fail_at_parse(payload: dict[str, Any]) -> None:
    payload["payments"][0]["amount"] = "lots"
    with _Reason("invalid_order") as caught:
        parse_order(dumps(payload))
    assert caught.error is not None
    assert "$.payments[0].amount: invalid decimal" in str(caught.error)
    assert "lots" not in str(caught.error)


def test_wrong_types_name_the_path_but_not_the_value(payload: dict[str, Any]) -> None:
    payload["id"] = "100231"
    payload["ship_email"] = 12345
    payload["customer"]["order_avg"] = "secret-ish"
    with _Reason("invalid_order") as caught:
        parse_order(dumps(payload))
    error = caught.error
    assert error is not None
    assert error.status == 400
    text = str(error)
    assert "$.id: expected integer, got string" in text
    assert "$.ship_email: expected string, got integer" in text
    assert "$.customer.order_avg: invalid decimal" in text
    for value in ("100231", "12345", "secret-ish"):
        assert value not in text
    assert len(error.details) == 3


def test_payment_data_never_reaches_the_message(payload: dict[str, Any]) -> None:
    payload["payments"][0]["data"] = {"cc_number": 4111111111111111, "cc_name": "Jane"}
    payload["payments"][0]["description"] = 77
    with _Reason("invalid_order") as caught:
        parse_order(dumps(payload))
    text = str(caught.error) + repr(caught.error) + " ".join(caught.error.details if caught.error else ())
    assert "$.payments[0].data" in text
    assert "4111" not in text
    assert "Jane" not in text
    assert "77" not in text


def test_the_body_is_not_chained_into_the_traceback(payload: dict[str, Any]) -> None:
    payload["total"] = "not-money"
    with _Reason("invalid_order") as caught:
        parse_order(dumps(payload))
    assert caught.error is not None
    assert caught.error.__cause__ is None
    assert caught.error.__suppress_context__


def test_envelope_instead_of_bare_order_is_named(payload: dict[str, Any]) -> None:
    envelope = {"success": 1, "data": payload}
    with _Reason("envelope") as caught:
        parse_order(json.dumps(envelope, default=str))
    assert "envelope" in str(caught.error)
    assert "bare order" in str(caught.error)
    with _Reason("envelope"):
        parse_order(load_fixture("orderlist_load_query_response.json"))


def test_missing_id(payload: dict[str, Any]) -> None:
    del payload["id"]
    with _Reason("missing_id"):
        parse_order(dumps(payload))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_body"),
        (b"  \n", "empty_body"),
        (b"<html>Bad gateway</html>", "not_json"),
        (b"order=1&x=2", "not_json"),
        (b'{"id": 1} trailing', "not_json"),
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"id": 1, "name": "caf\xe9"}', "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b'"an order"', "not_object"),
        (b"null", "not_object"),
        (b"42", "not_object"),
        (b'{"id": NaN}', "non_finite_number"),
        (b'{"id": 1, "total": Infinity}', "non_finite_number"),
        (b'{"id": 1, "total": -Infinity}', "non_finite_number"),
        (b'{"id": 1, "n": ' + b"9" * 5000 + b"}", "not_json"),
    ],
)
def test_malformed_bodies(raw: bytes, reason: str) -> None:
    with _Reason(reason) as caught:
        parse_order(raw)
    assert caught.error is not None
    assert caught.error.status == 400
    assert isinstance(caught.error, WebhookError)
    assert isinstance(caught.error, MivaError)
    assert isinstance(caught.error, ValueError)


@pytest.mark.parametrize("cut", [1, 100, 5000, -2, -1])
def test_truncated_body(body: bytes, cut: int) -> None:
    with _Reason("truncated"):
        parse_order(body.rstrip()[:cut])


def test_oversized_is_refused_by_length_before_parsing() -> None:
    junk = b"{" * 2_000  # would be "too_deep"/"not_json" if it were parsed at all
    with _Reason("too_large") as caught:
        parse_order(junk, max_bytes=1_000)
    assert caught.error is not None
    assert caught.error.status == 413
    with _Reason("too_large"):
        parse_order("x" * 1_001, max_bytes=1_000)


def test_default_limit_is_ten_megabytes(body: bytes) -> None:
    padded = body[:-2] + b"," + b'"pad":"' + b"x" * (10_000_000 - len(body)) + b'"}'
    with _Reason("too_large"):
        parse_order(padded)


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_refused_without_recursion_error(opener: bytes) -> None:
    hostile = opener * 100_000
    with _Reason("too_deep"):
        parse_order(hostile)


def test_nesting_limit_is_exact_and_ignores_brackets_in_strings(payload: dict[str, Any]) -> None:
    nested: Any = "leaf"
    for _ in range(60):
        nested = [nested]
    payload["extra_key"] = nested  # unknown keys are kept, so depth 61 + order = 62 levels is fine
    payload["ship_addr2"] = "[[[[" * 50 + '\\"{{{{' * 50
    order = parse_order(dumps(payload))
    assert order.extra["extra_key"] == nested
    payload["extra_key"] = [[[[nested]]]]
    with _Reason("too_deep"):
        parse_order(dumps(payload))
    assert parse_order(dumps(payload), max_depth=200).id == 100231


def test_deep_mapping_input_does_not_escape_as_recursion_error(payload: dict[str, Any]) -> None:
    nested: Any = "leaf"
    for _ in range(50_000):
        nested = [nested]
    payload["CustomField_Values"] = {"customfields": {"deep": nested}}
    with _Reason("too_deep"):
        parse_order(payload)


def test_duplicate_keys_last_one_wins(body: bytes) -> None:
    doubled = body.replace(b'"id": 100231,', b'"id": 1, "id": 100231,', 1)
    assert doubled != body
    assert parse_order(doubled).id == 100231


def test_parse_order_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        parse_order(12)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- order rules
def _order(payload: dict[str, Any], **changes: Any) -> Order:
    data = copy.deepcopy(payload)
    data.update(changes)
    return structure_order(data)


def test_storefront_order_is_complete(payload: dict[str, Any]) -> None:
    assert payload["source"] == "shopper"
    assert is_complete(_order(payload))
    assert is_complete(_order(payload, payments=[], pay_id=0))  # storefront: no payment rule


@pytest.mark.parametrize("source", sorted(ADMIN_SOURCES))
def test_admin_order_needs_a_payment(payload: dict[str, Any], source: str) -> None:
    assert not is_complete(_order(payload, source=source, payments=[]))
    assert is_complete(_order(payload, source=source))  # one payment row


def test_admin_sources_are_explicit() -> None:
    assert frozenset({"user", "shopascustomer", "reviewbaskets"}) == ADMIN_SOURCES


@pytest.mark.parametrize("source", ["subscription", "quote", "", "somemodule"])
def test_other_sources_count_as_complete(payload: dict[str, Any], source: str) -> None:
    assert is_complete(_order(payload, source=source, payments=[], pay_id=0))


def test_admin_sources_can_be_overridden(payload: dict[str, Any]) -> None:
    order = _order(payload, source="quote", payments=[])
    assert not is_complete(order, admin_sources={"quote"})
    assert is_complete(_order(payload, source="user", payments=[]), admin_sources=())


def test_fallback_when_payments_were_not_rendered(payload: dict[str, Any]) -> None:
    data = copy.deepcopy(payload)
    del data["payments"]
    zero = {"pay_id": 0, "total_auth": 0, "total_capt": 0}
    assert not is_complete(_order(data, source="user", **zero))
    assert is_complete(_order(data, source="user", **{**zero, "pay_id": 14}))
    assert is_complete(_order(data, source="user", **{**zero, "total_auth": Decimal("1.00")}))
    assert is_complete(_order(data, source="user", **{**zero, "total_capt": Decimal("0.01")}))


def test_dedupe_key(payload: dict[str, Any]) -> None:
    assert dedupe_key(_order(payload)) == (100231, 1717332000)
    assert dedupe_key(_order(payload, dt_updated=1717332001)) == (100231, 1717332001)
    assert dedupe_key(_order(payload, dt_updated=0)) == (100231, 0)
    assert dedupe_key(_order(payload, dt_updated={"time_t": 1717332000})) == (100231, 1717332000)


def test_lru_seen_store_is_bounded_and_refreshes_on_hit() -> None:
    store = LRUSeenStore(maxsize=2)
    store.mark((1, 10))
    store.mark((2, 10))
    assert store.seen((1, 10))  # refresh 1: 2 is now the oldest
    store.mark((3, 10))
    assert len(store) == 2
    assert store.seen((1, 10))
    assert store.seen((3, 10))
    assert not store.seen((2, 10))
    assert not store.seen((1, 11))
    with pytest.raises(ConfigurationError):
        LRUSeenStore(maxsize=0)


def test_lru_seen_store_is_thread_safe() -> None:
    store = LRUSeenStore(maxsize=500)

    def work(offset: int) -> None:
        for i in range(2_000):
            store.mark((offset, i))
            store.seen((offset, i // 2))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 500


# ---------------------------------------------------------------------------------------- vetting
def _request(
    method: str = "POST",
    query: str = f"token={TOKEN}",
    headers: dict[str, str] | None = None,
    remote_addr: str | None = "192.0.2.10",
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        query=query,
        headers={"Content-Type": "application/json", **(headers or {})},
        remote_addr=remote_addr,
    )


def test_token_accepted_and_rejected() -> None:
    verifier = WebhookVerifier(token=TOKEN)
    verifier.vet(_request())
    with _Reason("missing_token") as caught:
        verifier.vet(_request(query=""))
    assert caught.error is not None
    assert caught.error.status == 401
    with _Reason("bad_token") as caught:
        verifier.vet(_request(query=f"token={TOKEN[:-1]}X"))
    assert caught.error is not None
    assert TOKEN not in str(caught.error)
    assert TOKEN[:-1] not in str(caught.error)
    with _Reason("bad_token"):
        verifier.vet(_request(query=f"token={TOKEN}&token={TOKEN}"))  # ambiguous
    with _Reason("bad_token"):
        verifier.vet(_request(query="token="))
    with _Reason("missing_token"):
        verifier.vet(_request(query=f"TOKEN={TOKEN}"))  # parameter names are exact


def test_token_parameter_name_is_configurable() -> None:
    verifier = WebhookVerifier(token=TOKEN, token_param="k")
    verifier.vet(_request(query=f"k={TOKEN}"))
    with _Reason("missing_token"):
        verifier.vet(_request())


def test_token_is_compared_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verifier = WebhookVerifier(token=TOKEN)
    with _Reason("bad_token"):
        verifier.vet(_request(query="token=" + "A" * len(TOKEN)))
    verifier.vet(_request())
    assert calls == [(b"A" * len(TOKEN), TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_percent_encoded_token() -> None:
    verifier = WebhookVerifier(token="abc/def+ghi=jklmnop")
    verifier.vet(_request(query="token=abc%2Fdef%2Bghi%3Djklmnop"))


def test_secrets_never_in_repr() -> None:
    verifier = WebhookVerifier(token=TOKEN, basic_username="miva", basic_password="hunter2-password")
    text = repr(verifier) + str(verifier)
    assert TOKEN not in text
    assert "hunter2" not in text
    assert "token='***'" in text
    assert "basic_password='***'" in text
    assert "miva" in text  # the user name is not a secret
    request = _request()
    assert TOKEN not in repr(request)
    assert TOKEN not in repr(attrs.evolve(verifier, token_param="t"))


def test_verifier_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        WebhookVerifier()
    with pytest.raises(ConfigurationError):
        WebhookVerifier(token="short")
    with pytest.raises(ConfigurationError):
        WebhookVerifier(basic_username="u")
    with pytest.raises(ConfigurationError):
        WebhookVerifier(allowed_networks=["not-an-ip"])
    with pytest.raises(ConfigurationError):
        WebhookVerifier(token=TOKEN, max_bytes=0)
    unvetted = WebhookVerifier(allow_unauthenticated=True)
    unvetted.vet(_request(query=""))


def test_ip_allow_list() -> None:
    verifier = WebhookVerifier(allowed_networks=["192.0.2.0/28", "2001:db8::/32"])
    verifier.vet(_request(remote_addr="192.0.2.10"))
    verifier.vet(_request(remote_addr="2001:db8::7"))
    verifier.vet(_request(remote_addr="::ffff:192.0.2.3"))  # IPv4-mapped
    for peer in ("192.0.2.99", "198.51.100.1", "2001:db9::1", None, "", "garbage"):
        with _Reason("ip_not_allowed") as caught:
            verifier.vet(_request(remote_addr=peer))
        assert caught.error is not None
        assert caught.error.status == 403


def test_x_forwarded_for_ignored_unless_from_a_trusted_proxy() -> None:
    spoofed = {"X-Forwarded-For": "192.0.2.10"}
    plain = WebhookVerifier(allowed_networks=["192.0.2.0/28"])
    with _Reason("ip_not_allowed"):
        plain.vet(_request(remote_addr="203.0.113.5", headers=spoofed))

    proxied = WebhookVerifier(allowed_networks=["192.0.2.0/28"], trusted_proxies=["10.0.0.0/8"])
    proxied.vet(_request(remote_addr="10.1.2.3", headers={"X-Forwarded-For": "192.0.2.10"}))
    # The client prepended a fake hop; the nearest untrusted hop is the real caller.
    with _Reason("ip_not_allowed"):
        proxied.vet(_request(remote_addr="10.1.2.3", headers={"X-Forwarded-For": "192.0.2.10, 198.51.100.7"}))
    proxied.vet(
        _request(remote_addr="10.1.2.3", headers={"X-Forwarded-For": "198.51.100.7, 192.0.2.10, 10.9.9.9"})
    )
    with _Reason("ip_not_allowed"):
        proxied.vet(_request(remote_addr="10.1.2.3", headers={"X-Forwarded-For": "junk"}))
    # Not from the proxy: its header is ignored.
    with _Reason("ip_not_allowed"):
        proxied.vet(_request(remote_addr="203.0.113.5", headers={"X-Forwarded-For": "192.0.2.10"}))


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_credentials() -> None:
    verifier = WebhookVerifier(basic_username="miva", basic_password="pa:ss-wörd")
    verifier.vet(_request(query="", headers=_basic("miva", "pa:ss-wörd")))
    with _Reason("missing_credentials") as caught:
        verifier.vet(_request(query=""))
    assert caught.error is not None
    assert caught.error.status == 401
    for headers in (
        _basic("miva", "wrong"),
        _basic("other", "pa:ss-wörd"),
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    ):
        with _Reason("bad_credentials") as caught:
            verifier.vet(_request(query="", headers=headers))
        assert "pa:ss" not in str(caught.error)
    with _Reason("missing_credentials"):
        verifier.vet(_request(query="", headers={"Authorization": "Bearer abc"}))


def test_all_configured_checks_apply_together() -> None:
    verifier = WebhookVerifier(
        token=TOKEN, allowed_networks=["192.0.2.0/24"], basic_username="u", basic_password="p"
    )
    verifier.vet(_request(headers=_basic("u", "p")))
    with _Reason("ip_not_allowed"):
        verifier.vet(_request(headers=_basic("u", "p"), remote_addr="198.51.100.1"))
    with _Reason("missing_credentials"):
        verifier.vet(_request())


def test_methods() -> None:
    verifier = WebhookVerifier(token=TOKEN)
    verifier.vet(_request(method="post"))
    verifier.vet(_request(method="GET"))
    for method in ("PUT", "DELETE", "HEAD", "OPTIONS"):
        with _Reason("method_not_allowed") as caught:
            verifier.vet(_request(method=method))
        assert caught.error is not None
        assert caught.error.status == 405
    with _Reason("method_not_allowed"):
        WebhookVerifier(token=TOKEN, allow_get=False).vet(_request(method="GET"))


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=UTF-8", "text/plain", "", "application/vnd.x+json"],
)
def test_content_type_is_lenient(content_type: str) -> None:
    WebhookVerifier(token=TOKEN).vet(_request(headers={"Content-Type": content_type}))


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_form_posts_are_refused(content_type: str) -> None:
    with _Reason("unsupported_media_type") as caught:
        WebhookVerifier(token=TOKEN).vet(_request(headers={"Content-Type": content_type}))
    assert caught.error is not None
    assert caught.error.status == 415


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    verifier = WebhookVerifier(token=TOKEN, max_bytes=100)
    verifier.vet(_request(headers={"Content-Length": "100"}))
    with _Reason("too_large") as caught:
        verifier.vet(_request(headers={"Content-Length": "101"}))
    assert caught.error is not None
    assert caught.error.status == 413


def test_order_id_variant() -> None:
    assert parse_order_id("Order_ID=100231") == OrderIdNotification(100231)
    assert parse_order_id("token=abc&order_id=7") == OrderIdNotification(7)
    # Miva may append "?Order_ID=" to a URL that already has a query.
    assert parse_order_id("token=abc?Order_ID=8") == OrderIdNotification(8)
    for query, reason in [
        ("", "missing_order_id"),
        ("Order_ID=", "bad_order_id"),
        ("Order_ID=abc", "bad_order_id"),
        ("Order_ID=-1", "bad_order_id"),
        ("Order_ID=0", "bad_order_id"),
        ("Order_ID=1&Order_ID=2", "bad_order_id"),
        ("Order_ID=" + "9" * 40, "bad_order_id"),
        ("Order_ID=%D9%A3", "bad_order_id"),  # an Arabic-Indic digit is not an order id
    ]:
        with _Reason(reason):
            parse_order_id(query)


def test_token_survives_the_appended_order_id() -> None:
    verifier = WebhookVerifier(token=TOKEN)
    request = _request(method="GET", query=f"token={TOKEN}?Order_ID=55")
    assert verifier.verify(request) == OrderIdNotification(55)


def test_verify_decodes_posts_and_gets(body: bytes) -> None:
    verifier = WebhookVerifier(token=TOKEN)
    order = verifier.verify(_request(), body)
    assert isinstance(order, Order)
    assert order.id == 100231
    assert verifier.verify(_request(method="GET", query=f"token={TOKEN}&Order_ID=9")) == OrderIdNotification(
        9
    )
    with _Reason("bad_token"):
        verifier.verify(_request(query="token=wrong-wrong-wrong"), body)
    with _Reason("too_large"):
        attrs.evolve(verifier, max_bytes=100).verify(_request(), body)


def test_decode_is_verify_without_the_vetting(body: bytes) -> None:
    verifier = WebhookVerifier(token=TOKEN)
    assert verifier.decode(_request(), body) == verifier.verify(_request(), body)
    get = _request(method="GET", query=f"token={TOKEN}&Order_ID=9")
    assert verifier.decode(get) == OrderIdNotification(9)
    # decode() trusts that vet() ran: a request vet() refuses is still decoded...
    assert isinstance(verifier.decode(_request(query="token=wrong-wrong-wrong"), body), Order)
    # ...but the body limits are decode()'s own.
    with _Reason("too_large"):
        attrs.evolve(verifier, max_bytes=100).decode(_request(), body)
