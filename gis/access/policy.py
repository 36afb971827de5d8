"""The one access policy: which role may take which permission, and where.

``POLICY`` is data — a permission name → for each role granted it, its *reach*: ``EVERYWHERE``
or ``IN_SCOPE``. A role absent from a permission's grants is refused it. The HTTP layer asks
``authorize`` (raises) or ``allows`` (answers) and never decides on its own, so a test matrix
can be generated from this table alone: for every permission × role × (in scope, out of
scope), ``expected_outcome`` says what must happen.

Scope is a unit-code prefix: an account scoped to a district code reaches every sub-district,
community, grid and report whose code starts with it; an empty scope is the whole city. A
worker account reaches the grids its linked ``workers`` row serves (plus its own scope code).
An object's codes are all the units it belongs to or is answerable to; for a report that is its
location (district … grid), its ``responsible_code`` and, once escalated past its grid, its
``coordinating_community_code`` — so an escalation across a district border is what makes it
visible to the receiving unit (``gis.access.scope``).

Personal data (``personal_data=True``) is the reporter's contact and photo, and staff's names
and phones (the directory, patrol plans, a report's assigned worker): never granted to
anonymous callers or analysts. Every route declares one permission with ``api.auth.require``.

Row-level security: not used (yet). The policy is not only about rows — a report out of scope
is still visible in its public view, with fields (contact, photo, worker's name, event actors)
withheld — which RLS cannot express without per-role views; and the embedded cluster's one role
is the superuser and owner, which RLS never restricts. Scope is enforced here, once; lists that
hold personal data filter with the same rule in SQL (``gis.access.scope.scope_condition``, the
staff directory with its grid variant). When gridpatrol runs as a non-owner role on a shared
server, RLS policies over that condition would be a sound second layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from gis.access.scope import reaches
from gis.core.errors import Forbidden, Unauthorized
from gis.reports.actions import ACTIONS, check_action


class Role(StrEnum):
    """Account roles (``anonymous`` is no account: a resident or any caller without a token)."""

    ANONYMOUS = "anonymous"
    WORKER = "worker"
    DISPATCHER = "dispatcher"
    ANALYST = "analyst"
    ADMIN = "admin"


ACCOUNT_ROLES: tuple[Role, ...] = (Role.WORKER, Role.DISPATCHER, Role.ANALYST, Role.ADMIN)
# Analysts read the whole city and hold no scope; the others are scoped by a unit code.
UNSCOPED_ROLES: frozenset[Role] = frozenset({Role.ANALYST})


class Reach(StrEnum):
    """Where a granted permission applies."""

    EVERYWHERE = "everywhere"
    IN_SCOPE = "in_scope"


@dataclass(frozen=True)
class Permission:
    """A permission, what it covers, and the roles granted it with their reach."""

    name: str
    description: str
    grants: Mapping[Role, Reach]
    # Personal data (reporter contact, staff names): never granted to anonymous or analysts.
    personal_data: bool = False


_ALL = Reach.EVERYWHERE
_SCOPE = Reach.IN_SCOPE
_EVERYONE: dict[Role, Reach] = dict.fromkeys(Role, _ALL)
_SIGNED_IN: dict[Role, Reach] = dict.fromkeys(ACCOUNT_ROLES, _ALL)
# Staff who act on the ground or dispatch: each within their scope.
_STAFF_IN_SCOPE: dict[Role, Reach] = dict.fromkeys(
    (Role.WORKER, Role.DISPATCHER, Role.ADMIN), _SCOPE
)
# Report actions a grid worker takes on site; dispatchers take every other one.
WORKER_ACTIONS: frozenset[str] = frozenset({"arrive", "resolve"})
TRANSITION_REPORT = "transition_report"


def transition_permission(action: str) -> str:
    """The permission name of a lifecycle action (``report.accept``, …); unknown: 422."""
    return f"report.{check_action(action)}"


def _transition_permissions() -> list[Permission]:
    permissions = []
    for action in ACTIONS:
        grants: dict[Role, Reach] = {Role.ADMIN: _SCOPE}
        grants[Role.WORKER if action in WORKER_ACTIONS else Role.DISPATCHER] = _SCOPE
        permissions.append(
            Permission(
                transition_permission(action),
                f"take the {action!r} action on a report (POST /reports/{{id}}/transitions)",
                grants,
            )
        )
    # The route's own gate: roles granted any action (each action's permission then decides).
    anyone: dict[Role, Reach] = {}
    for permission in permissions:
        anyone |= permission.grants
    permissions.append(
        Permission(
            TRANSITION_REPORT,
            "change a report's status (the action's own permission decides which)",
            anyone,
        )
    )
    return permissions


POLICY: dict[str, Permission] = {
    p.name: p
    for p in (
        Permission(
            "read_public",
            "read layers, topology, coverage, categories, maps, Open311 and public report fields",
            _EVERYONE,
        ),
        Permission(
            "submit_report", "submit a report (POST /reports, Open311 POST requests)", _EVERYONE
        ),
        Permission(
            "read_analytics",
            "read hotspots, KPIs and service areas (walk areas, gaps, siting)",
            _EVERYONE,
        ),
        Permission(
            "sign_in",
            "sign in for a bearer token (POST /auth/token) or a browser session (/app/login), "
            "sign out (/app/logout)",
            _EVERYONE,
        ),
        Permission(
            "read_report_contact",
            "read a report's reporter name, phone and photo, its worker's name, its events' "
            "actors and notes",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        *_transition_permissions(),
        Permission(
            "read_workers",
            "read the staff directory: workers' names, phones and grids (GET /workers)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Permission(
            "plan_patrols",
            "plan patrols (POST /patrols/plan)",
            {Role.DISPATCHER: _SCOPE, Role.ADMIN: _SCOPE},
        ),
        Permission(
            "read_patrols",
            "read patrol plans and tracks, which name the patrollers (GET /patrols, /maps/patrols)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Permission(
            "read_patrol_coverage",
            "read when each grid was last patrolled (GET /patrols/coverage; no names)",
            _SIGNED_IN,
        ),
        Permission(
            "record_patrol_track",
            "upload a patrol's GPS track (POST /patrols/{id}/track)",
            _STAFF_IN_SCOPE,
        ),
        Permission("read_own_account", "say who the token signs in (GET /auth/me)", _SIGNED_IN),
        Permission(
            "manage_users",
            "create, list and disable accounts within the admin's scope",
            {Role.ADMIN: _SCOPE},
            personal_data=True,
        ),
    )
}


@dataclass(frozen=True)
class Principal:
    """Who is asking: an account (name, role, scope prefixes) or anonymous."""

    role: Role
    name: str | None = None
    # Code prefixes the account reaches; ("",) is the whole city, () nothing.
    scopes: tuple[str, ...] = ()
    scope_code: str = ""
    worker_code: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.role is Role.ANONYMOUS


ANONYMOUS = Principal(role=Role.ANONYMOUS)


def grant(principal: Principal, permission: str) -> Reach | None:
    """The reach of ``permission`` for the principal's role, None when refused."""
    return POLICY[permission].grants.get(principal.role)


def list_scopes(principal: Principal, permission: str) -> tuple[str, ...] | None:
    """The code prefixes a list read under ``permission`` keeps to: None when the role's grant
    reaches everywhere, else the principal's scopes."""
    return None if grant(principal, permission) is Reach.EVERYWHERE else principal.scopes


def allows(
    principal: Principal, permission: str, codes: Iterable[str | None] | None = None
) -> bool:
    """Whether the principal may take ``permission`` (on an object with ``codes``, if given).

    Without ``codes`` an ``IN_SCOPE`` grant counts as allowed: the caller then restricts what
    it touches to the principal's scope (e.g. a list filtered by ``scope_condition``).
    """
    reach = grant(principal, permission)
    if reach is None:
        return False
    if reach is Reach.EVERYWHERE or codes is None:
        return True
    return reaches(principal.scopes, codes)


def authorize(
    principal: Principal, permission: str, codes: Iterable[str | None] | None = None
) -> None:
    """Raise ``Unauthorized`` (anonymous: sign in) or ``Forbidden`` unless ``allows``."""
    if allows(principal, permission, codes):
        return
    if principal.is_anonymous:
        raise Unauthorized(f"sign in to {POLICY[permission].description}")
    if grant(principal, permission) is None:
        raise Forbidden(
            f"the {principal.role} role may not {POLICY[permission].description}; "
            f"roles that may: {', '.join(POLICY[permission].grants) or 'none'}"
        )
    raise Forbidden(
        f"out of scope: account {principal.name!r} reaches "
        f"{', '.join(principal.scopes) or 'no unit'}, not this object"
    )


def expected_outcome(role: Role, permission: str, *, in_scope: bool) -> str:
    """What the policy says happens: "allow", "unauthorized" (401) or "forbidden" (403).

    The generator of the endpoint × role × scope test matrix.
    """
    reach = POLICY[permission].grants.get(role)
    if reach is None:
        return "unauthorized" if role is Role.ANONYMOUS else "forbidden"
    if reach is Reach.IN_SCOPE and not in_scope:
        return "forbidden"
    return "allow"


_CELLS = {Reach.EVERYWHERE: "yes", Reach.IN_SCOPE: "in scope", None: "–"}


def policy_rows() -> list[tuple[str, dict[Role, str]]]:
    """What each role may do, one row per permission (the lifecycle actions grouped by who
    may take them; the transitions route's own gate left out, it follows from them)."""
    rows: list[tuple[str, dict[Role, str]]] = []
    actions: dict[tuple[tuple[Role, Reach], ...], list[str]] = {}
    for permission in POLICY.values():
        if permission.name == TRANSITION_REPORT:
            continue
        if permission.name.startswith("report."):
            key = tuple(sorted(permission.grants.items()))
            actions.setdefault(key, []).append(permission.name.removeprefix("report."))
            continue
        cells = {role: _CELLS[permission.grants.get(role)] for role in Role}
        rows.append((f"`{permission.name}`: {permission.description}", cells))
    for grants, names in actions.items():
        granted = dict(grants)
        what = ", ".join(f"`{name}`" for name in names)
        cells = {role: _CELLS[granted.get(role)] for role in Role}
        rows.append((f"`report.<action>`: take {what} on a report", cells))
    return rows


def policy_markdown() -> str:
    """``policy_rows`` as the Markdown table the README shows (``python -m
    gis.access.policy`` prints it)."""
    lines = ["| permission | " + " | ".join(Role) + " |", "|---" * (len(Role) + 1) + "|"]
    for what, cells in policy_rows():
        lines.append(f"| {what} | " + " | ".join(cells[role] for role in Role) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(policy_markdown())
