"""The policy table says what the contract says, and the scope rule agrees in Python and SQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gis.access.policy import (
    ACCOUNT_ROLES,
    ADMIN_ACTIONS,
    POLICY,
    TRANSITION_REPORT,
    WORKER_ACTIONS,
    Permission,
    Principal,
    Reach,
    Role,
    allows,
    authorize,
    expected_outcome,
    policy_markdown,
    policy_rows,
    transition_permission,
)
from gis.access.scope import SCOPE_SOURCE_COLUMNS, reaches, report_codes, scope_condition
from gis.core.errors import Forbidden, InvalidInput, Unauthorized
from gis.reports.actions import ACTIONS

PUBLIC = ("read_public", "submit_report", "read_analytics", "sign_in")


def test_anonymous_gets_exactly_the_public_permissions() -> None:
    granted = {name for name, p in POLICY.items() if Role.ANONYMOUS in p.grants}
    assert granted == set(PUBLIC)


def test_personal_data_never_reaches_anonymous_or_analysts() -> None:
    personal = [p for p in POLICY.values() if p.personal_data]
    assert {p.name for p in personal} >= {"read_report_contact", "read_workers"}
    for permission in personal:
        assert Role.ANONYMOUS not in permission.grants
        assert Role.ANALYST not in permission.grants


def test_every_lifecycle_action_has_its_permission_with_the_contract_roles() -> None:
    for action in ACTIONS:
        grants = POLICY[transition_permission(action)].grants
        expected = (
            {Role.ADMIN}
            if action in ADMIN_ACTIONS
            else {Role.ADMIN, Role.WORKER if action in WORKER_ACTIONS else Role.DISPATCHER}
        )
        assert set(grants) == expected, action
        assert set(grants.values()) == {Reach.IN_SCOPE}
    assert set(POLICY[TRANSITION_REPORT].grants) == {Role.WORKER, Role.DISPATCHER, Role.ADMIN}
    with pytest.raises(InvalidInput, match="unknown action 'fly'"):
        transition_permission("fly")


def test_contact_and_planning_roles() -> None:
    contact = POLICY[Permission.READ_REPORT_CONTACT].grants
    assert contact == {
        Role.WORKER: Reach.IN_SCOPE,
        Role.DISPATCHER: Reach.IN_SCOPE,
        Role.ADMIN: Reach.IN_SCOPE,
    }
    assert set(POLICY[Permission.PLAN_PATROLS].grants) == {Role.DISPATCHER, Role.ADMIN}
    # Patrol plans name the patrollers: personal data; when grids were patrolled is not.
    assert POLICY[Permission.READ_PATROLS].personal_data
    assert set(POLICY[Permission.READ_PATROL_COVERAGE].grants) == set(ACCOUNT_ROLES)
    assert set(POLICY[Permission.MANAGE_USERS].grants) == {Role.ADMIN}
    # Admins hold every permission there is.
    assert all(Role.ADMIN in p.grants for p in POLICY.values())


@pytest.mark.parametrize(
    ("scopes", "codes", "expected"),
    [
        (("990101",), ("990101001001001",), True),  # district reaches its grids
        (("990101001",), ("990101001001001",), True),  # sub-district
        (("990101001001001",), ("990101001001001",), True),  # the grid itself
        (("990101001001002",), ("990101001001001",), False),  # a neighbouring grid
        (("990102",), ("990101001001001", None, "990102001003"), True),  # coordinating unit
        (("990102",), (None, None), False),  # unlocated: only the whole city reaches it
        (("",), (None, None), True),
        ((), ("990101001001001",), False),  # no scope, nothing reached
        (("99010",), ("990101",), True),  # plain prefix, as the contract says
    ],
)
def test_reaches(scopes: tuple[str, ...], codes: tuple[str | None, ...], expected: bool) -> None:
    assert reaches(scopes, codes) is expected


def test_expected_outcome_matches_authorize_for_every_cell() -> None:
    """The matrix generator and the enforcement agree: role × permission × in/out of scope."""
    for role, permission, in_scope in itertools.product(Role, POLICY, (True, False)):
        principal = Principal(
            role=role,
            name=None if role is Role.ANONYMOUS else "someone",
            scopes=("990101",),
        )
        codes = ("990101001001001",) if in_scope else ("990102001001001",)
        expected = expected_outcome(role, permission, in_scope=in_scope)
        if expected == "allow":
            authorize(principal, permission, codes)
            assert allows(principal, permission, codes)
        else:
            error = Unauthorized if expected == "unauthorized" else Forbidden
            with pytest.raises(error):
                authorize(principal, permission, codes)


def test_forbidden_says_why() -> None:
    analyst = Principal(role=Role.ANALYST, name="ana", scopes=("",))
    with pytest.raises(Forbidden, match="the analyst role may not"):
        authorize(analyst, Permission.READ_REPORT_CONTACT, ("990101001001001",))
    dispatcher = Principal(role=Role.DISPATCHER, name="li", scopes=("990102",))
    with pytest.raises(Forbidden, match="out of scope: account 'li' reaches 990102"):
        authorize(dispatcher, Permission.REPORT_ACCEPT, ("990101001001001",))
    assert {Role.WORKER, Role.DISPATCHER, Role.ANALYST, Role.ADMIN} == set(ACCOUNT_ROLES)


@pytest.mark.parametrize(
    "scopes",
    [("990101",), ("990102001",), ("990103001002",), ("990101001001001", "990102"), ("",), ()],
)
def test_sql_scope_condition_agrees_with_the_python_rule(
    shared_demo_engine: Engine, scopes: tuple[str, ...]
) -> None:
    columns = ", ".join(SCOPE_SOURCE_COLUMNS)
    with shared_demo_engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, {columns} FROM reports")).mappings().all()
        in_sql = set(
            conn.execute(
                text(f"SELECT r.id FROM reports r WHERE {scope_condition('r')}"),
                {"scopes": list(scopes)},
            ).scalars()
        )
    in_python = {row["id"] for row in rows if reaches(scopes, report_codes(dict(row)))}
    assert in_sql == in_python
    if scopes and scopes != ("",):
        assert 0 < len(in_sql) < len(rows)


def test_the_readme_shows_this_policy() -> None:
    """The README's role table is the policy's own (regenerate: python -m gis.access.policy)."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    start = "<!-- policy-table: generated by `python -m gis.access.policy` -->\n"
    shown = readme.split(start, 1)[1].split("<!-- /policy-table -->", 1)[0]
    assert shown.strip() == policy_markdown()
    # One row per permission but the transitions' gate, the actions grouped by who takes them.
    groups = {frozenset(POLICY[transition_permission(a)].grants.items()) for a in ACTIONS}
    assert len(policy_rows()) == len(POLICY) - 1 - len(ACTIONS) + len(groups)


def test_the_coordinating_community_reaches_a_report_once_escalated(demo_engine: Engine) -> None:
    """Border reports coordinated by a community of another district: in its scope only after
    an escalation; Python and SQL agree."""
    with demo_engine.begin() as conn:
        receiving = conn.execute(
            text("SELECT min(code) FROM communities WHERE code LIKE '990102%'")
        ).scalar_one()
        ids = list(
            conn.execute(
                text("SELECT id FROM reports WHERE district_code = '990101' ORDER BY id LIMIT 4")
            ).scalars()
        )
        escalated, waiting = ids[:2], ids[2:]
        conn.execute(
            text(
                "UPDATE reports SET coordinating_community_code = :c, escalation_level = "
                "CASE WHEN id = ANY(:up) THEN 'community' ELSE 'grid' END, "
                "responsible_code = CASE WHEN id = ANY(:up) THEN :c ELSE grid_code END "
                "WHERE id = ANY(:all)"
            ),
            {"c": receiving, "up": escalated, "all": ids},
        )
        columns = ", ".join(SCOPE_SOURCE_COLUMNS)
        rows = conn.execute(
            text(f"SELECT id, {columns} FROM reports WHERE id = ANY(:all)"), {"all": ids}
        ).mappings()
        codes = {row["id"]: report_codes(dict(row)) for row in rows}
        for scopes in ((receiving,), (receiving[:9],), (receiving[:6],)):
            in_sql = set(
                conn.execute(
                    text(
                        f"SELECT r.id FROM reports r WHERE r.id = ANY(:all) AND {scope_condition()}"
                    ),
                    {"all": ids, "scopes": list(scopes)},
                ).scalars()
            )
            in_python = {rid for rid, found in codes.items() if reaches(scopes, found)}
            assert in_sql == in_python == set(escalated), scopes
    assert waiting
