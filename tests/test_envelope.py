from __future__ import annotations

from typing import Any

import pytest

from mivaorders import (
    APIError,
    APIOfflineError,
    AuthenticationError,
    FieldError,
    HTTPStatusError,
    InvalidParameterError,
    NotFoundError,
    ResponseDecodeError,
)
from mivaorders._envelope import (
    Call,
    Multicall,
    MulticallProgress,
    Safety,
    check_envelope,
    classify,
    decode_body,
    parse_content_range,
    parse_retry_after,
    raise_for_status,
)

from .conftest import load_fixture


@pytest.mark.parametrize(
    ("function", "module", "module_function", "expected"),
    [
        ("OrderList_Load_Query", None, None, Safety.IDEMPOTENT),
        ("OrderCustomFieldList_Load", None, None, Safety.IDEMPOTENT),
        ("OrderItemList_CreateShipment", None, None, Safety.UNSAFE),
        ("OrderList_Archive", None, None, Safety.UNSAFE),
        ("Module", "orderworkflow", "QueueOrderList_Load_Query", Safety.UNSAFE),
        ("Module", "orderworkflow", "OrderList_Acknowledge", Safety.IDEMPOTENT),
        ("Module", "other", "Thing_Load_Query", Safety.IDEMPOTENT),
    ],
)
def test_classify(function: str, module: str | None, module_function: str | None, expected: Safety) -> None:
    assert classify(function, module, module_function) is expected


def test_call_body_matches_the_queue_fixture() -> None:
    fixture = load_fixture("queue_order_list_request.json")
    params = {
        k: v
        for k, v in fixture.items()
        if k not in {"Store_Code", "Function", "Module_Code", "Module_Function", "Miva_Request_Timestamp"}
    }
    call = Call("Module", params, "orderworkflow", "QueueOrderList_Load_Query")
    body = call.body("EXSTORE", fixture["Miva_Request_Timestamp"])
    assert body == fixture
    assert list(body)[:4] == ["Store_Code", "Function", "Module_Code", "Module_Function"]
    assert list(body)[-1] == "Miva_Request_Timestamp"


def test_call_refuses_envelope_keys_in_params() -> None:
    with pytest.raises(ValueError, match="Store_Code"):
        Call("OrderList_Load_Query", {"Store_Code": "X"}).body("S", 1)


def test_multicall_body_puts_store_code_like_the_fixture() -> None:
    fixture = load_fixture("multicall_request.json")
    stripped: list[dict[str, Any]] = []
    for op in fixture["Operations"]:
        copy = {k: v for k, v in op.items() if k != "Store_Code"}
        if "Iterations" in copy:
            copy["Iterations"] = [
                {k: v for k, v in it.items() if k != "Store_Code"} for it in copy["Iterations"]
            ]
        stripped.append(copy)
    spec = Multicall.of(stripped)
    assert spec.body("EXSTORE", fixture["Miva_Request_Timestamp"]) == fixture
    assert spec.safety is Safety.UNSAFE  # it holds a write
    assert Multicall.of(stripped[:2]).safety is Safety.IDEMPOTENT


def test_multicall_rejects_malformed_operations() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Multicall.of([])
    with pytest.raises(ValueError, match="Function"):
        Multicall.of([{"Count": 1}])
    with pytest.raises(ValueError, match="Iterations"):
        Multicall.of([{"Function": "X", "Iterations": {"a": 1}}])


def test_continuation_exchange_fixture() -> None:
    exchange = load_fixture("multicall_continuation_exchange.json")["exchange"]
    request = load_fixture("multicall_request.json")
    merged = load_fixture("multicall_response.json")
    progress = MulticallProgress(Multicall.of(request["Operations"]), max_requests=10)
    assert progress.range_header() is None
    first = exchange[0]
    progress.accept(
        first["status"], {k.lower(): v for k, v in first["response_headers"].items()}, first["body"]
    )
    assert not progress.done
    second = exchange[1]
    assert progress.range_header() == second["request_headers"]["Range"]
    progress.accept(
        second["status"],
        {k.lower(): v for k, v in second.get("response_headers", {}).items()},
        second["body"],
    )
    assert progress.done
    results = progress.results()
    assert [r.envelope if not isinstance(r, list) else [x.envelope for x in r] for r in results] == merged
    iterations = results[3]
    assert isinstance(iterations, list)
    assert iterations[0].ok
    assert isinstance(iterations[1].error, NotFoundError)
    with pytest.raises(NotFoundError):
        iterations[1].unwrap()


def test_continuation_counts_relative_to_each_response() -> None:
    ops = [{"Function": "OrderList_Load_Query"} for _ in range(5)]
    progress = MulticallProgress(Multicall.of(ops), max_requests=10)
    ok = {"success": 1}
    progress.accept(206, {"content-range": "2/5"}, [ok, ok])
    assert progress.range_header() == "Operations=3-5"
    progress.accept(206, {"content-range": "1/5"}, [ok])
    assert progress.range_header() == "Operations=4-5"
    progress.accept(200, {}, [ok, ok])
    assert progress.done
    assert len(progress.results()) == 5


@pytest.mark.parametrize(
    ("status", "headers", "data", "needle"),
    [
        (206, {"content-range": "1/9"}, [{"success": 1}], "does not match"),
        (200, {}, [{"success": 1}], "holds 1 of 3"),
        (206, {}, [], "1..3"),
        (200, {}, {"rows": []}, "JSON array"),
    ],
)
def test_continuation_rejects_inconsistent_answers(
    status: int, headers: dict[str, str], data: Any, needle: str
) -> None:
    progress = MulticallProgress(Multicall.of([{"Function": "A_Load"}] * 3), max_requests=10)
    with pytest.raises(ResponseDecodeError, match=needle):
        progress.accept(status, headers, data)


def test_continuation_is_bounded() -> None:
    progress = MulticallProgress(Multicall.of([{"Function": "A_Load"}] * 3), max_requests=2)
    progress.accept(206, {"content-range": "1/3"}, [{"success": 1}])
    with pytest.raises(ResponseDecodeError, match="incomplete"):
        progress.accept(206, {"content-range": "1/3"}, [{"success": 1}])


def test_whole_multicall_failure_is_raised() -> None:
    progress = MulticallProgress(Multicall.of([{"Function": "A_Load"}]), max_requests=2)
    with pytest.raises(AuthenticationError):
        progress.accept(
            200, {}, {"success": 0, "error_code": "access_denied", "error_message": "Access denied"}
        )


def test_parse_content_range() -> None:
    assert parse_content_range("2/4") == (2, 4)
    assert parse_content_range(" 1/5 ") == (1, 5)
    assert parse_content_range("*/4") is None
    assert parse_content_range(None) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_status_errors() -> None:
    raise_for_status(200, {}, b"", function="F", allow_partial=False)
    raise_for_status(206, {}, b"", function="F", allow_partial=True)
    with pytest.raises(HTTPStatusError) as info:
        raise_for_status(206, {}, b"[]", function="F", allow_partial=False)
    assert info.value.status_code == 206
    with pytest.raises(HTTPStatusError) as info:
        raise_for_status(429, {"retry-after": "3"}, b"slow down", function="F", allow_partial=False)
    assert info.value.retry_after == 3.0
    offline = b'{"success":0,"error_code":"api_offline","error_message":"The API is currently offline"}'
    with pytest.raises(APIOfflineError, match="offline"):
        raise_for_status(503, {}, offline, function="F", allow_partial=False)
    with pytest.raises(HTTPStatusError) as info:
        raise_for_status(401, {}, b"<html>nope</html>", function="F", allow_partial=False)
    assert not isinstance(info.value, APIOfflineError)
    assert info.value.status_code == 401


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"<html><body>Gateway Timeout</body></html>", "HTML"),
        (b'{"success":1,"data":{"total_count":3,"start_of', "not valid JSON"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b'{"x": NaN}', "not valid JSON"),
    ],
)
def test_decode_errors(content: bytes, needle: str) -> None:
    with pytest.raises(ResponseDecodeError, match=needle):
        decode_body(content, function="F")


def test_check_envelope_maps_error_fixtures() -> None:
    with pytest.raises(NotFoundError) as not_found:
        check_envelope(load_fixture("error_response.json"), function="OrderList_Load_Query")
    assert not_found.value.error_code == "MER-JSN-ORD-00025"
    assert "OrderList_Load_Query" in str(not_found.value)

    with pytest.raises(APIError) as invalid:
        check_envelope(load_fixture("error_invalid_function_response.json"), function="Nope")
    assert invalid.value.error_code == "invalid_function"
    assert type(invalid.value) is APIError

    validation = load_fixture("validation_error_response.json")
    with pytest.raises(InvalidParameterError) as bad:
        check_envelope(validation, function="OrderItemList_CreateShipment")
    assert bad.value.error_code == validation["error_code"]
    assert bad.value.field_errors == tuple(
        FieldError(e["error_field"], e["error_message"]) for e in validation["error_fields"]
    )
    assert bad.value.error_field == validation["error_field"]


def test_check_envelope_accepts_boolean_success_and_refuses_junk() -> None:
    assert check_envelope({"success": True}, function="F") == {"success": True}
    with pytest.raises(ResponseDecodeError, match="success"):
        check_envelope({"data": []}, function="F")
    with pytest.raises(ResponseDecodeError, match="object"):
        check_envelope([1, 2], function="F")


def test_access_denied_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError) as info:
        check_envelope(
            {
                "success": 0,
                "error_code": "access_denied",
                "error_message": "Timestamp outside configured window",
            },
            function="F",
        )
    assert info.value.is_clock_skew
