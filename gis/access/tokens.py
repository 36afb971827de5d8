"""Signed bearer tokens (JWT, HS256) and the key that signs them.

A token names its account by id (``sub``) and name, carries the account's token generation
(``gen``) and expires (``exp``). Every request re-reads the account, so a disabled account's
token, or one issued before the generation moved on, stops working at once.

The key comes from ``GRIDPATROL_SECRET_KEY`` or, unset, from ``<home>/secret_key``, generated
on first use (0600, created atomically so server processes starting together agree on it).
It is never printed or logged; ``.gridpatrol/`` is ignored by git.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from gis.access.accounts import Account
from gis.core.errors import InvalidInput, Unauthorized
from gis.core.private_files import PRIVATE_DIR_MODE, read_nofollow, write_private
from gis.core.settings import Settings

ALGORITHM = "HS256"
ISSUER = "gridpatrol"
KEY_FILE_NAME = "secret_key"
# HS256 needs at least 256 bits of key (RFC 7518 §3.2).
MIN_KEY_CHARS = 32
MAX_TOKEN_DAYS = 3650


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and when it expires."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: the account id, its generation, the name it was issued to."""

    user_id: int
    token_generation: int
    name: str


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless it exists (the first process to link it wins)."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    write_private(temporary, secrets.token_urlsafe(48) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def signing_key(settings: Settings) -> str:
    """The key that signs tokens: from the environment, else the home's key file (made once)."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < MIN_KEY_CHARS:
            raise InvalidInput(
                f"GRIDPATROL_SECRET_KEY: must be at least {MIN_KEY_CHARS} characters "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return key
    path = settings.home.absolute() / KEY_FILE_NAME
    if not path.exists():
        _create_key_file(path)
    key = read_nofollow(path).strip()
    if len(key) < MIN_KEY_CHARS:
        raise InvalidInput(f"{path}: the signing key is shorter than {MIN_KEY_CHARS} characters")
    return key


def issue_token(account: Account, *, key: str, lifetime: timedelta) -> IssuedToken:
    """A signed token for ``account`` that expires after ``lifetime``."""
    if not timedelta(0) < lifetime <= timedelta(days=MAX_TOKEN_DAYS):
        raise InvalidInput(f"days: a token lives more than 0 and at most {MAX_TOKEN_DAYS} days")
    now = datetime.now(UTC)
    expires_at = (now + lifetime).replace(microsecond=0)
    claims = {
        "iss": ISSUER,
        "sub": str(account.id),
        "name": account.name,
        "gen": account.token_generation,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        # A random id: two tokens issued in the same second differ.
        "jti": secrets.token_urlsafe(8),
    }
    return IssuedToken(jwt.encode(claims, key, algorithm=ALGORITHM), expires_at)


def verify_token(token: str, *, key: str) -> TokenClaims:
    """The claims of a token signed with ``key`` and not expired; ``Unauthorized`` otherwise."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        return TokenClaims(
            user_id=int(claims["sub"]),
            token_generation=int(claims["gen"]),
            name=str(claims["name"]),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired: sign in again (POST /auth/token)") from None
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        raise Unauthorized("the token is invalid: sign in again (POST /auth/token)") from None
