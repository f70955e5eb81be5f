"""Signed principals between services: who a gRPC call acts for, as the gateway verified it.

The gateway checks the caller's credential (JWT, API key, cookie) and forwards the result to the
backends. A service port reached directly must not believe a role it is merely told, so the
principal travels as one `mandi-principal` metadata value,

    v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1." + claims))>

with claims `u` (user), `r` (role), `a` (granted accounts), `m` (the full RPC method it was signed
for, e.g. `/mandi.v1.ExecutionService/ResetEmergencyStop`) and `exp` (unix seconds, TTL_S ahead).
The key is `MANDI_SERVICE_TOKEN_KEY` (a secret setting, >= 32 chars; required when services run on
different hosts) or, when unset, a random key generated once into `MANDI_SERVICE_TOKEN_KEY_FILE`
(default `~/.mandi/service-token-key`, mode 0600), which every process on the host then shares.

Client side: `signing_interceptors` are channel interceptors that turn the plain `mandi-user`,
`mandi-role` and `mandi-accounts` metadata a caller adds (`Principal.metadata()` in the gateway)
into the signed value bound to the method being called; the plain keys never leave the process.
A call that names no user is signed as the calling service itself (`service_principal`: user
`svc:<service>`, role `service`, every account, never admin), so every channel `channel()` opens
(mandi/platform/grpc_client.py) signs every call.

Server side: `PlatformServerInterceptor` calls `verify_call` on every call. A call with a valid
token runs with `current_principal()` set to it. A call with no principal is refused with
UNAUTHENTICATED, except grpc.health.v1 and reflection (`UNSIGNED_OK_PREFIXES`) — unless
`MANDI_GRPC_ALLOW_UNSIGNED=true` (for local debugging only: grpcurl without a key), when it runs
as the system (`SYSTEM`: no user, no role, every account, nothing that needs admin). A call with
a bad token (bad signature, expired, signed for another method, malformed) or with plain
`mandi-user`/`mandi-role` metadata is refused with UNAUTHENTICATED. Services read who is calling
only from `current_principal()`; a *user* principal reaches only its granted accounts
(`may_use`): anything else answers NOT_FOUND, as the gateway's REST answers 404.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from mandi.core.errors import AuthError

PRINCIPAL_KEY = "mandi-principal"
USER_KEY = "mandi-user"
ROLE_KEY = "mandi-role"
ACCOUNTS_KEY = "mandi-accounts"
PLAIN_KEYS = (USER_KEY, ROLE_KEY, ACCOUNTS_KEY)
SERVICE_ROLE = "service"
SERVICE_USER_PREFIX = "svc:"
# Infrastructure every client may call unsigned: probes (load balancers, smoke) and reflection.
UNSIGNED_OK_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
VERSION = "v1"
TTL_S = 300  # a signed principal is good for one call made now, not for replay later
MAX_TOKEN_CHARS = 16_384


@dataclass(frozen=True)
class CallPrincipal:
    """The verified caller of one gRPC call; `SYSTEM` when the call carried none."""

    user: str
    role: str
    accounts: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_system(self) -> bool:
        """An unsigned call (only with MANDI_GRPC_ALLOW_UNSIGNED) or no call at all."""
        return not self.user and not self.role

    @property
    def is_service(self) -> bool:
        """Another Mandi service calling for itself (`service_principal`), not for a user."""
        return self.role == SERVICE_ROLE and self.user.startswith(SERVICE_USER_PREFIX)

    @property
    def is_user(self) -> bool:
        return not self.is_system and not self.is_service

    @property
    def all_accounts(self) -> bool:
        return self.is_admin or self.is_system or self.is_service

    def may_use(self, account_id: str) -> bool:
        """Whether this caller may read or act on `account_id`: admins, services and the
        system every account, a user only the accounts granted to it."""
        return self.all_accounts or account_id in self.accounts


def service_principal(service: str) -> CallPrincipal:
    """Who service `service` is when it calls another for itself: every account, not admin."""
    return CallPrincipal(user=f"{SERVICE_USER_PREFIX}{service}", role=SERVICE_ROLE,
                         accounts=frozenset())


SYSTEM = CallPrincipal(user="", role="", accounts=frozenset())

_current: contextvars.ContextVar[CallPrincipal] = contextvars.ContextVar(
    "mandi_call_principal", default=SYSTEM)


def current_principal() -> CallPrincipal:
    """Who the running gRPC call acts for (SYSTEM outside a call or for unsigned calls)."""
    return _current.get()


def set_principal(principal: CallPrincipal) -> contextvars.Token[CallPrincipal]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[CallPrincipal]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (a generator finished elsewhere): harmless
        pass


# --- the key ------------------------------------------------------------------------------
_key_cache: dict[str, bytes] = {}


def service_key(settings: Any) -> bytes:
    """The shared signing key: the configured secret, or the host's generated key file."""
    configured = getattr(settings, "service_token_key", "")
    if configured:
        return configured.encode()
    return key_from_file(getattr(settings, "service_token_key_file",
                                 "~/.mandi/service-token-key"))


def key_from_file(name: str, what: str = "service token key") -> bytes:
    """Read the key file `name`, creating it (0600, random) first when it does not exist
    (also the secrets-at-rest key file, mandi/platform/secret_box.py).

    Creation is atomic (write a temporary file, then hard-link it into place), so services
    starting together all end up with the one key that won."""
    path = Path(name).expanduser()
    cached = _key_cache.get(str(path))
    if cached is not None:
        return cached
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            tmp.unlink(missing_ok=True)
    text = path.read_text().strip()
    if len(text) < 32:
        raise AuthError(f"{what} file {path} holds fewer than 32 characters")
    _key_cache[str(path)] = text.encode()
    return _key_cache[str(path)]


# --- tokens -------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def sign(key: bytes, *, user: str, role: str, accounts: Sequence[str], method: str,
         now: float | None = None, ttl_s: float = TTL_S) -> str:
    """The `mandi-principal` value for one call of `method` by `user`."""
    issued = time.time() if now is None else now
    claims = {"u": user, "r": role, "a": sorted(accounts), "m": method,
              "exp": int(issued + ttl_s)}
    body = f"{VERSION}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str, method: str, *, now: float | None = None) -> CallPrincipal:
    """The principal `token` carries, if it is genuine, current and signed for `method`;
    AuthError (UNAUTHENTICATED) saying what is wrong otherwise (never echoing the token)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("mandi-principal is too long", field=PRINCIPAL_KEY)
    version, _, rest = token.partition(".")
    payload, _, mac = rest.rpartition(".")
    if version != VERSION or not payload or not mac:
        raise AuthError("mandi-principal is malformed", field=PRINCIPAL_KEY)
    if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"),
                               _mac(key, f"{version}.{payload}").encode()):
        raise AuthError("mandi-principal has a bad signature", field=PRINCIPAL_KEY)
    try:
        claims = json.loads(_unb64(payload))
        user, role, exp, signed_for = claims["u"], claims["r"], claims["exp"], claims["m"]
        accounts = frozenset(str(a) for a in claims.get("a", ()))
    except (ValueError, KeyError, TypeError):
        raise AuthError("mandi-principal is malformed", field=PRINCIPAL_KEY) from None
    if not isinstance(exp, int) or exp < (time.time() if now is None else now):
        raise AuthError("mandi-principal has expired", field=PRINCIPAL_KEY)
    if signed_for != method:
        raise AuthError("mandi-principal was signed for another method", field=PRINCIPAL_KEY)
    if not isinstance(user, str) or not isinstance(role, str) or not user:
        raise AuthError("mandi-principal is malformed", field=PRINCIPAL_KEY)
    return CallPrincipal(user=user, role=role, accounts=accounts)


def verify_call(key: bytes | None, metadata: Sequence[tuple[str, Any]],
                method: str, *, allow_unsigned: bool = False) -> CallPrincipal:
    """The principal of an incoming call (see the module docstring for the rules)."""
    token = None
    for name, value in metadata:
        if name in PLAIN_KEYS:
            raise AuthError(f"{name} metadata is not accepted; the caller must be a signed "
                            f"{PRINCIPAL_KEY}", field=name)
        if name == PRINCIPAL_KEY:
            if token is not None:
                raise AuthError("more than one mandi-principal", field=PRINCIPAL_KEY)
            token = value.decode() if isinstance(value, bytes) else str(value)
    if token is None:
        if allow_unsigned or method.startswith(UNSIGNED_OK_PREFIXES):
            return SYSTEM
        raise AuthError(f"the call carries no {PRINCIPAL_KEY}: this service answers signed "
                        "calls only", field=PRINCIPAL_KEY)
    if key is None:
        raise AuthError("this service has no service token key to verify mandi-principal",
                        field=PRINCIPAL_KEY)
    return verify(key, token, method)


# --- client side --------------------------------------------------------------------------
def sign_metadata(key: bytes, metadata: Sequence[tuple[str, Any]], method: str,
                  fallback: CallPrincipal | None = None) -> list[tuple[str, Any]]:
    """`metadata` with the plain principal keys replaced by a signed `mandi-principal`; a call
    naming no user is signed as `fallback` (unsigned without one). A call that already carries
    a `mandi-principal` (signed by an earlier interceptor, or by a test) is left as it is."""
    plain = {name: value for name, value in metadata if name in PLAIN_KEYS}
    rest = [(name, value) for name, value in metadata if name not in PLAIN_KEYS]
    if any(name == PRINCIPAL_KEY for name, _ in rest):
        return rest
    if not plain.get(USER_KEY):
        if fallback is None:
            return rest  # nothing to sign: the call goes unsigned
        rest.append((PRINCIPAL_KEY, sign(key, user=fallback.user, role=fallback.role,
                                         accounts=sorted(fallback.accounts), method=method)))
        return rest
    accounts = [a for a in str(plain.get(ACCOUNTS_KEY, "")).split(",") if a]
    rest.append((PRINCIPAL_KEY, sign(key, user=str(plain[USER_KEY]),
                                     role=str(plain.get(ROLE_KEY, "")),
                                     accounts=accounts, method=method)))
    return rest


class _Signing:
    def __init__(self, key: bytes, fallback: CallPrincipal | None = None) -> None:
        self.key = key
        self.fallback = fallback

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        metadata = sign_metadata(self.key, list(details.metadata or ()), method, self.fallback)
        return grpc.aio.ClientCallDetails(
            method=details.method, timeout=details.timeout,
            metadata=grpc.aio.Metadata(*metadata), credentials=details.credentials,
            wait_for_ready=details.wait_for_ready)


class _SignUU(_Signing, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _SignUS(_Signing, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _SignSU(_Signing, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation: Any, details: Any,
                                     request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


class _SignSS(_Signing, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation: Any, details: Any,
                                      request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


def signing_interceptors(key: bytes, service: str | None = None,
                         ) -> list[grpc.aio.ClientInterceptor]:
    """Channel interceptors that sign the plain principal metadata of every call, and a call
    without any as `service_principal(service)` when `service` is given."""
    fallback = service_principal(service) if service else None
    return [_SignUU(key, fallback), _SignUS(key, fallback), _SignSU(key, fallback),
            _SignSS(key, fallback)]
