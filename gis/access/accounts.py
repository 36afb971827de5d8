"""Accounts: create, list, disable, authenticate; the principal behind a token.

Passwords are hashed with Argon2id (pwdlib's recommended parameters). Names are 1-64
letters, digits or ``._@-``; a scope is a unit code that exists (or empty for the whole city).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import Connection, text

from gis.access.policy import ACCOUNT_ROLES, UNSCOPED_ROLES, Principal, Role
from gis.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from gis.core.vocabulary import CODE_DIGITS, LEVEL_TABLE

MIN_PASSWORD_CHARS = 10
# Argon2 hashes whatever it is given; a bound keeps one login from costing megabytes.
MAX_PASSWORD_CHARS = 256
_NAME = re.compile(r"^[\w.@-]{1,64}$")
_HASHER = PasswordHash.recommended()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of any account")


@dataclass(frozen=True)
class Account:
    """A stored account (without its password hash)."""

    id: int
    name: str
    role: str
    scope_code: str
    disabled: bool
    token_generation: int
    worker_code: str | None
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    def describe(self) -> dict[str, Any]:
        """JSON-ready fields (``users list --json``)."""
        return {
            "name": self.name,
            "role": self.role,
            "scope_code": self.scope_code,
            "worker_code": self.worker_code,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


_SELECT = """
SELECT u.id, u.name, u.role, u.scope_code, u.disabled, u.token_generation,
    w.code AS worker_code, u.created_at, u.updated_at, u.last_login_at
FROM users u LEFT JOIN workers w ON w.id = u.worker_id
"""


def _account(row: Any) -> Account:
    return Account(**row._mapping)


def check_name(name: str) -> str:
    """The account name, or ``InvalidInput`` saying what is allowed."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"name: {name!r} must be 1-64 letters, digits or ._@- (no spaces or control characters)"
        )
    return name


def check_password(password: str) -> str:
    """The password, or ``InvalidInput`` when too short or too long."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidInput(
            f"password: must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters"
        )
    if "\x00" in password:
        raise InvalidInput("password: must not contain a NUL character")
    return password


def _check_scope(conn: Connection, role: Role, scope_code: str, worker_id: int | None) -> None:
    if role in UNSCOPED_ROLES and scope_code:
        raise InvalidInput(f"scope: the {role} role reads the whole city; give no scope")
    if role in (Role.DISPATCHER, Role.WORKER) and not scope_code and worker_id is None:
        raise InvalidInput(
            f"scope: a {role} needs a unit code (district, sub-district, community or grid)"
            + (" or --worker" if role is Role.WORKER else "")
        )
    if not scope_code:
        return
    level = next((lv for lv, digits in CODE_DIGITS.items() if digits == len(scope_code)), None)
    if level is None or not scope_code.isdigit():
        raise InvalidInput(
            f"scope: {scope_code!r} is not a unit code (6, 9, 12 or 15 digits: district, "
            "sub-district, community or grid)"
        )
    table = LEVEL_TABLE[level]
    found = conn.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE code = :code)"), {"code": scope_code}
    ).scalar_one()
    if not found:
        raise InvalidInput(f"scope: no {level} with code {scope_code!r}")


def create_user(
    conn: Connection,
    *,
    name: str,
    role: str,
    password: str,
    scope_code: str = "",
    worker_code: str | None = None,
) -> Account:
    """Store a new account; the password is hashed (Argon2id), never stored."""
    check_name(name)
    check_password(password)
    if role not in ACCOUNT_ROLES:
        raise InvalidInput(
            f"role: unknown role {role!r}; expected one of: {', '.join(ACCOUNT_ROLES)}"
        )
    account_role = Role(role)
    worker_id: int | None = None
    if worker_code is not None:
        if account_role is not Role.WORKER:
            raise InvalidInput("worker: only worker accounts link to a worker")
        worker_id = conn.execute(
            text("SELECT id FROM workers WHERE code = :code"), {"code": worker_code}
        ).scalar_one_or_none()
        if worker_id is None:
            raise InvalidInput(
                f"worker: no worker with code {worker_code!r} "
                "(load them with gridpatrol load workers.csv --layer workers)"
            )
    _check_scope(conn, account_role, scope_code, worker_id)
    taken = conn.execute(
        text("SELECT name FROM users WHERE name = :name OR worker_id = :worker_id"),
        {"name": name, "worker_id": worker_id},
    ).scalar_one_or_none()
    if taken is not None:
        raise Conflict(
            f"name: an account named {name!r} exists"
            if taken == name
            else f"worker: worker {worker_code!r} already has the account {taken!r}"
        )
    conn.execute(
        text(
            "INSERT INTO users (name, role, scope_code, password_hash, worker_id) "
            "VALUES (:name, :role, :scope_code, :hash, :worker_id)"
        ),
        {
            "name": name,
            "role": role,
            "scope_code": scope_code,
            "hash": _HASHER.hash(password),
            "worker_id": worker_id,
        },
    )
    return get_user(conn, name)


def get_user(conn: Connection, name: str) -> Account:
    """The account called ``name`` (``NotFound`` otherwise)."""
    row = conn.execute(text(_SELECT + " WHERE u.name = :name"), {"name": name}).one_or_none()
    if row is None:
        raise NotFound(f"no account named {name!r}")
    return _account(row)


def list_users(conn: Connection) -> list[Account]:
    """Every account, by name."""
    return [_account(row) for row in conn.execute(text(_SELECT + " ORDER BY u.name")).all()]


def disable_user(conn: Connection, name: str) -> Account:
    """Disable an account; its tokens stop working at once (the generation moves on)."""
    updated = conn.execute(
        text(
            "UPDATE users SET disabled = true, token_generation = token_generation + 1, "
            "updated_at = now() WHERE name = :name RETURNING id"
        ),
        {"name": name},
    ).scalar_one_or_none()
    if updated is None:
        raise NotFound(f"no account named {name!r}")
    return get_user(conn, name)


def authenticate(conn: Connection, *, name: str, password: str) -> Account:
    """The enabled account with this name and password; ``Unauthorized`` otherwise.

    The message never says whether the name exists.
    """
    row = conn.execute(
        text("SELECT password_hash, disabled FROM users WHERE name = :name"), {"name": name}
    ).one_or_none()
    valid, new_hash = _HASHER.verify_and_update(
        password[:MAX_PASSWORD_CHARS], row.password_hash if row else _DUMMY_HASH
    )
    if row is None or not valid or row.disabled:
        raise Unauthorized("incorrect account name or password (or the account is disabled)")
    conn.execute(
        text(
            "UPDATE users SET last_login_at = now(), "
            "password_hash = COALESCE(:new_hash, password_hash) WHERE name = :name"
        ),
        {"name": name, "new_hash": new_hash},
    )
    return get_user(conn, name)


def load_principal(conn: Connection, *, user_id: int, token_generation: int) -> Principal:
    """The principal of a token's account: refused when disabled or the token is void."""
    row = conn.execute(
        text(
            """
            SELECT u.id, u.name, u.role, u.scope_code, u.disabled, u.token_generation,
                w.code AS worker_code,
                COALESCE((SELECT array_agg(wg.grid_code ORDER BY wg.grid_code)
                          FROM worker_grids wg WHERE wg.worker_id = u.worker_id),
                         '{}') AS worker_grids
            FROM users u LEFT JOIN workers w ON w.id = u.worker_id
            WHERE u.id = :id
            """
        ),
        {"id": user_id},
    ).one_or_none()
    if row is None or row.disabled or row.token_generation != token_generation:
        raise Unauthorized("the token's account is disabled or the token was revoked")
    role = Role(row.role)
    scopes: tuple[str, ...]
    if role in UNSCOPED_ROLES:
        scopes = ("",)
    elif role is Role.WORKER:
        # The grids the linked worker serves, and the account's own scope code if any.
        scopes = tuple(row.worker_grids) + ((row.scope_code,) if row.scope_code else ())
    else:
        scopes = (row.scope_code,)
    return Principal(
        role=role,
        name=row.name,
        scopes=scopes,
        scope_code=row.scope_code,
        worker_code=row.worker_code,
    )
