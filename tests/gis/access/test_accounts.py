"""Accounts in PostGIS: validation, Argon2id hashes, disabling, worker scopes, schema drift."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from gis.access.accounts import authenticate, create_user, disable_user, list_users, load_principal
from gis.access.policy import Role
from gis.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from gis.core.models import Base

PASSWORD = "correct horse battery"


def test_create_stores_an_argon2id_hash_never_the_password(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        account = create_user(
            conn, name="li", role="dispatcher", password=PASSWORD, scope_code="990101"
        )
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert account.role == "dispatcher" and account.scope_code == "990101"
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with demo_engine.begin() as conn:
        assert authenticate(conn, name="li", password=PASSWORD).last_login_at is not None
        with pytest.raises(Unauthorized, match="incorrect account name or password"):
            authenticate(conn, name="li", password="wrong password!")
        with pytest.raises(Unauthorized, match="incorrect account name or password"):
            authenticate(conn, name="nobody", password=PASSWORD)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "two words"}, "name: 'two words' must be 1-64"),
        ({"name": "x" * 65}, "name:"),
        ({"name": "nul\x00"}, "name:"),
        ({"password": "short"}, "password: must be 10-256"),
        ({"role": "mayor"}, "role: unknown role 'mayor'"),
        ({"scope_code": "12345"}, "scope: '12345' is not a unit code"),
        ({"scope_code": "999999"}, "scope: no district with code '999999'"),
        ({"role": "analyst", "scope_code": "990101"}, "the analyst role reads the whole city"),
        ({"scope_code": ""}, "scope: a dispatcher needs a unit code"),
        ({"worker_code": "W-990101001001001"}, "worker: only worker accounts"),
        ({"role": "worker", "worker_code": "W-nobody"}, "worker: no worker with code"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(
    demo_engine: Engine, fields: dict[str, str], message: str
) -> None:
    values = {
        "name": "li",
        "role": "dispatcher",
        "password": PASSWORD,
        "scope_code": "990101",
        "worker_code": None,
    } | fields
    with demo_engine.begin() as conn, pytest.raises(InvalidInput, match=message):
        create_user(conn, **values)  # type: ignore[arg-type]
    with demo_engine.connect() as conn:
        assert list_users(conn) == []


def test_names_and_workers_are_unique(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        create_user(
            conn, name="wang", role="worker", password=PASSWORD, worker_code="W-990101001001001"
        )
        with pytest.raises(Conflict, match="an account named 'wang' exists"):
            create_user(conn, name="wang", role="admin", password=PASSWORD)
        with pytest.raises(Conflict, match="already has the account 'wang'"):
            create_user(
                conn,
                name="wang2",
                role="worker",
                password=PASSWORD,
                worker_code="W-990101001001001",
            )


def test_principals_reach_their_units(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        worker = create_user(
            conn, name="wang", role="worker", password=PASSWORD, worker_code="W-990101001001001"
        )
        admin = create_user(conn, name="root", role="admin", password=PASSWORD)
        analyst = create_user(conn, name="ana", role="analyst", password=PASSWORD)
        grids = conn.execute(
            text(
                "SELECT array_agg(wg.grid_code ORDER BY wg.grid_code) FROM worker_grids wg "
                "JOIN workers w ON w.id = wg.worker_id WHERE w.code = 'W-990101001001001'"
            )
        ).scalar_one()
    with demo_engine.connect() as conn:
        as_worker = load_principal(conn, user_id=worker.id, token_generation=0)
        as_admin = load_principal(conn, user_id=admin.id, token_generation=0)
        as_analyst = load_principal(conn, user_id=analyst.id, token_generation=0)
    assert as_worker.role is Role.WORKER and as_worker.scopes == tuple(grids)
    assert as_worker.worker_code == "W-990101001001001"
    assert as_admin.scopes == ("",) and as_analyst.scopes == ("",)


def test_disabling_voids_tokens_at_once(demo_engine: Engine) -> None:
    with demo_engine.begin() as conn:
        account = create_user(conn, name="root", role="admin", password=PASSWORD)
    with demo_engine.begin() as conn:
        load_principal(conn, user_id=account.id, token_generation=account.token_generation)
        disabled = disable_user(conn, "root")
        assert disabled.disabled and disabled.token_generation == account.token_generation + 1
        for generation in (account.token_generation, disabled.token_generation):
            with pytest.raises(Unauthorized, match="disabled or the token was revoked"):
                load_principal(conn, user_id=account.id, token_generation=generation)
        with pytest.raises(Unauthorized):
            authenticate(conn, name="root", password=PASSWORD)
        with pytest.raises(NotFound):
            disable_user(conn, "nobody")


def _only_users(obj: object, name: str | None, kind: str, *_: object) -> bool:
    if kind == "table":
        return name == "users"
    table = getattr(obj, "table", None)
    return getattr(table, "name", None) == "users"


def test_users_table_matches_its_model(empty_engine: Engine) -> None:
    """Migration 0005 and ``gis.core.models.User`` agree (columns, types, defaults, indexes)."""
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": _only_users,
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
