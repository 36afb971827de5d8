"""Models of ``/auth``: the token answer and who the signed-in account is."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from gis.access.policy import Role


class Token(BaseModel):
    """A bearer token (OAuth2 password flow answer)."""

    access_token: str = Field(description="send as `Authorization: Bearer <token>`")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until it expires")
    expires_at: datetime


class Me(BaseModel):
    """The signed-in account and what it reaches."""

    name: str
    role: Role
    scope_code: str = Field(description="the unit code the account is scoped to; empty: city")
    worker_code: str | None = Field(description="worker accounts: the linked worker")
    scopes: list[str] = Field(
        description="code prefixes the account reaches ('' is the whole city)"
    )
    permissions: dict[str, str] = Field(
        description="permission → reach (everywhere or in_scope) granted to the role"
    )
