"""Request bodies of the auth, user and grant API; unknown fields are rejected."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

USERNAME = r"^[a-z0-9][a-z0-9_.\-]{1,31}$"
LOGIN_NAME = r"^[A-Za-z0-9_.\-@]{1,64}$"  # any username, and nothing a database would refuse
NAME = r"^[^\x00-\x1f\x7f]*$"
Role = Literal["admin", "trader", "viewer"]


def _encodable(value: str) -> str:
    """Refuse text that is not valid Unicode (lone surrogates) or holds NUL."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("not valid text (lone surrogate)") from None
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    return value


Password = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_encodable)]


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=LOGIN_NAME)
    password: Password


class RefreshBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,256}$")


class LogoutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]{1,256}$")


class ApiKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=64, pattern=NAME)


class UserBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME, description="lower case, 2-32 characters")
    password: Password
    role: Role = "viewer"


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password | None = None
    role: Role | None = None
    disabled: bool | None = None


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME)
