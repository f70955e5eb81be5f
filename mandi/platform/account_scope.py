"""Which broker accounts a gRPC call may name: a signed *user* principal only its granted ones
(admins, services and the system every one — service_auth.py `CallPrincipal.may_use`).

An account outside the caller's grants answers exactly as an account that does not exist
(NOT_FOUND, "no account 'X'"), as the gateway's REST answers 404: existence does not leak.
Execution checks every request's top-level `account_id` with `check_request_account` (its
ServiceSpec `request_check`, run by the platform interceptor before the handler), so an RPC
added later is scoped without remembering to; strategy checks a bot's account itself.
"""

from __future__ import annotations

from typing import Any

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
