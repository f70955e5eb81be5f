"""One table maps domain errors to gRPC codes and back."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
import redis.exceptions

from mandi.core import errors
from mandi.platform import status


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailers=()) -> None:
        self._code, self._details, self._trailers = code, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self):
        return self._trailers


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidInput("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND),
        (errors.PreconditionFailed("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.AlreadyExists("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.PermissionDenied("x"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.AuthError("x"), grpc.StatusCode.UNAUTHENTICATED),
        # the broker session, not the caller's credential: a precondition someone must fix
        (errors.BrokerLoginNeeded("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.RateLimited("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.TemporaryError("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.ConfigError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.MandiError("x"), grpc.StatusCode.INTERNAL),
        (KeyError("x"), grpc.StatusCode.INTERNAL),
        # a store gone away is an outage to retry, not a bug (reliability suite, issue 17)
        (ConnectionRefusedError(111, "refused"), grpc.StatusCode.UNAVAILABLE),
        (redis.exceptions.ConnectionError("closed"), grpc.StatusCode.UNAVAILABLE),
        (asyncpg.CannotConnectNowError("starting"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_status_of_maps_each_error_class(exc: BaseException, code: grpc.StatusCode) -> None:
    assert status.status_of(exc) is code


def test_details_of_store_outage_when_redis_lost_names_no_internals() -> None:
    details = status.details_of(redis.exceptions.ConnectionError("Error 111 connecting to x"))
    assert details == status.STORE_UNAVAILABLE_MESSAGE and "111" not in details


def test_status_of_subclass_uses_nearest_mapped_ancestor() -> None:
    class OrderRejected(errors.PreconditionFailed):
        pass

    assert status.status_of(OrderRejected("x")) is grpc.StatusCode.FAILED_PRECONDITION
    assert status.trailers_of(OrderRejected("x")) == (
        (status.ERROR_TYPE_KEY, "PreconditionFailed"),
    )


def test_details_include_field_and_hide_unexpected_errors() -> None:
    assert (
        status.details_of(errors.InvalidInput("unknown interval 'x'", field="interval"))
        == "interval: unknown interval 'x'"
    )
    assert status.details_of(errors.NotFound("no such order")) == "no such order"
    assert status.details_of(ValueError("password=hunter2")) == "internal error"


@pytest.mark.parametrize("cls", list(status.STATUS_OF))
def test_grpc_error_to_domain_round_trips_class_field_and_message(
    cls: type[errors.MandiError],
) -> None:
    exc = cls("bad thing", field="qty")
    rpc = _FakeRpcError(status.status_of(exc), status.details_of(exc), status.trailers_of(exc))
    back = status.grpc_error_to_domain(rpc)
    assert type(back) is cls
    assert (back.message, back.field) == ("bad thing", "qty")


def test_grpc_error_to_domain_round_trips_reason_and_params() -> None:
    exc = errors.PreconditionFailed("bot b1 did not run on 2026-03-04", field="date",
                                    reason="parity_not_run", params={"day": "2026-03-04"})
    rpc = _FakeRpcError(status.status_of(exc), status.details_of(exc), status.trailers_of(exc))
    back = status.grpc_error_to_domain(rpc)
    assert (back.reason, back.params, back.field) == (
        "parity_not_run", {"day": "2026-03-04"}, "date")
    no_reason = status.trailers_of(errors.PreconditionFailed("x"))
    plain = status.grpc_error_to_domain(
        _FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "x", no_reason))
    assert (plain.reason, plain.params) == (None, {})
    broken = status.grpc_error_to_domain(_FakeRpcError(
        grpc.StatusCode.FAILED_PRECONDITION, "x",
        ((status.ERROR_REASON_KEY, "r"), (status.ERROR_PARAMS_KEY, "[not an object"))))
    assert (broken.reason, broken.params) == ("r", {})  # a bad params trailer is dropped


def test_grpc_error_to_domain_without_trailers_uses_code() -> None:
    back = status.grpc_error_to_domain(_FakeRpcError(grpc.StatusCode.NOT_FOUND, "gone"))
    assert type(back) is errors.NotFound and back.message == "gone" and back.field is None
    deadline = status.grpc_error_to_domain(
        _FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    )
    assert isinstance(deadline, errors.TemporaryError)
    internal = status.grpc_error_to_domain(_FakeRpcError(grpc.StatusCode.INTERNAL, "boom"))
    assert type(internal) is errors.MandiError
