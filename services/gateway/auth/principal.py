"""Who is calling: the verified user, role and the accounts the user may act on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ROLES = ("admin", "trader", "viewer")


class Access(IntEnum):
    """What a route needs; a role reaches every level at or below its own."""

    PUBLIC = 0  # no credential (health, login, token, refresh, the Kite callback)
    READ = 1  # any signed-in user: viewer, trader, admin
    TRADE = 2  # trader or admin
    ADMIN = 3


ROLE_LEVEL = {"viewer": Access.READ, "trader": Access.TRADE, "admin": Access.ADMIN}


@dataclass(frozen=True)
class Principal:
    username: str
    role: str
    accounts: frozenset[str]  # granted accounts; ignored for admins, who hold every account
    via: str  # "bearer", "api_key" or "cookie"
    family: str = ""  # the refresh/session family of a bearer or cookie credential

    @property
    def id(self) -> str:  # the attribute name routers/strategy.py reads
        return self.username

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, level: Access) -> bool:
        return ROLE_LEVEL.get(self.role, Access.PUBLIC) >= level

    def holds(self, account_id: str) -> bool:
        return self.is_admin or account_id in self.accounts

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata naming the verified caller. The gateway's channels replace it with a
        signed `mandi-principal` per call (mandi/platform/service_auth.py); services refuse it
        unsigned."""
        return (("mandi-user", self.username), ("mandi-role", self.role),
                ("mandi-accounts", ",".join(sorted(self.accounts))))
