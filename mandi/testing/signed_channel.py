"""Channels for tests and benches that call a service's gRPC port directly.

Services refuse unsigned calls (mandi/platform/service_auth.py), so these channels sign every
call with the host's shared key: as the service principal `svc:tests` (every account, never
admin) by default, or as a user when the call carries `as_user(...)` metadata (the plain keys the
gateway's signer turns into a signed principal). Health checks need no signature; the
`grpc.health.v1` probes in mandi/testing/services.py and scripts/smoke.py stay unsigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import grpc

from mandi.platform.config import Settings, load_settings
from mandi.platform.service_auth import (
    ACCOUNTS_KEY,
    ROLE_KEY,
    USER_KEY,
    CallPrincipal,
    service_key,
    service_principal,
    sign_metadata,
    signing_interceptors,
)

TEST_SERVICE = "tests"
Options = Sequence[tuple[str, Any]] | None


def shared_key(settings: Settings | None = None) -> bytes:
    """The key the services under test verify with (MANDI_SERVICE_TOKEN_KEY or the key file)."""
    return service_key(settings if settings is not None else load_settings())


def as_user(user: str, role: str = "trader", accounts: Iterable[str] = ()) -> tuple[
        tuple[str, str], ...]:
    """Call metadata that a signed channel signs as this user instead of as `svc:tests`."""
    return ((USER_KEY, user), (ROLE_KEY, role), (ACCOUNTS_KEY, ",".join(accounts)))


def signed_aio_channel(addr: str, *, options: Options = None, service: str = TEST_SERVICE,
                       key: bytes | None = None) -> grpc.aio.Channel:
    """`grpc.aio.insecure_channel(addr)` whose calls are signed as `svc:<service>`."""
    return grpc.aio.insecure_channel(
        addr, options=options,
        interceptors=signing_interceptors(key or shared_key(), service=service))


def signed_channel(addr: str, *, options: Options = None, service: str = TEST_SERVICE,
                   key: bytes | None = None) -> grpc.Channel:
    """The blocking `grpc.insecure_channel(addr)`, its calls signed as `svc:<service>`."""
    signer = _SyncSigner(key or shared_key(), service_principal(service))
    return grpc.intercept_channel(grpc.insecure_channel(addr, options=options), signer)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _SyncSigner(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                  grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, key: bytes, fallback: CallPrincipal) -> None:
        self.key, self.fallback = key, fallback

    def _details(self, details: Any) -> _Details:
        metadata = sign_metadata(self.key, list(details.metadata or ()), details.method,
                                 self.fallback)
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        getattr(details, "wait_for_ready", None),
                        getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)
