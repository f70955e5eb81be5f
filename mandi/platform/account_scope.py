"""Which broker accounts a gRPC call may name: a signed *user* principal only its granted ones
(admins, services and the system every one — service_auth.py `CallPrincipal.may_use`).

An account outside the caller's grants answers exactly as an account that does not exist
(NOT_FOUND, "no account 'X'"), as the gateway's REST answers 404: existence does not leak.
Execution's servicer class is decorated with `scoped_by_account`: every RPC of its service
whose request has a top-level `account_id` checks it before the handler runs — wherever the
servicer is registered, and for an RPC added later without remembering to. Strategy checks a
bot's account itself (services/strategy/bot_api.py).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from google.protobuf.descriptor import ServiceDescriptor

from mandi.core.errors import NotFound
from mandi.platform.service_auth import current_principal


def check_account(account_id: str, field: str = "account_id") -> None:
    """NotFound unless the running call's principal may use `account_id`."""
    if not current_principal().may_use(account_id):
        raise NotFound(f"no account {account_id!r}", field=field)


def check_request_account(request: Any) -> None:
    """`check_account` on a request's top-level `account_id`, when it names one."""
    account_id = getattr(request, "account_id", None)
    if isinstance(account_id, str) and account_id:
        check_account(account_id)


T = TypeVar("T")


def scoped_by_account(service: ServiceDescriptor) -> Any:
    """Class decorator for a servicer of `service`: each RPC whose request type has a
    top-level `account_id` field runs `check_request_account` first."""
    def decorate(cls: type[T]) -> type[T]:
        for method in service.methods:
            if method.client_streaming or "account_id" not in method.input_type.fields_by_name:
                continue
            handler = cls.__dict__.get(method.name)
            if handler is not None:
                setattr(cls, method.name, _checked(handler))
        return cls
    return decorate


def _checked(handler: Any) -> Any:
    if inspect.isasyncgenfunction(handler):
        @functools.wraps(handler)
        async def streaming(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            check_request_account(request)
            async for item in handler(self, request, context):
                yield item
        return streaming

    @functools.wraps(handler)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        check_request_account(request)
        return await handler(self, request, context)
    return unary
