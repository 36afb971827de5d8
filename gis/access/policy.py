"""The one access policy: which role may take which permission, and where.

``POLICY`` is data — a ``Permission`` (an enum: a misspelt one fails the type check) → for
each role granted it, its *reach*: ``EVERYWHERE`` or ``IN_SCOPE``. A role absent from a
permission's grants is refused it. The HTTP layer asks ``authorize`` (raises) or ``allows``
(answers) and never decides on its own, so a test matrix can be generated from this table
alone: for every permission × role × (in scope, out of scope), ``expected_outcome`` says what
must happen.

Scope is a unit-code prefix: an account scoped to a district code reaches every sub-district,
community, grid and report whose code starts with it; an empty scope is the whole city. A
worker account reaches the grids its linked ``workers`` row serves (plus its own scope code).
An object's codes are all the units it belongs to or is answerable to; for a report that is its
location (district … grid), its ``responsible_code`` and, once escalated past its grid, its
``coordinating_community_code`` — so an escalation across a district border is what makes it
visible to the receiving unit (``gis.access.scope``).

Personal data (``personal_data=True``) is the reporter's contact and photo, staff's names
and phones (the directory, patrol plans, a report's assigned worker), and households (head's
name, phone, members, care flags, visit notes; scoped by their building's grid): never granted to
anonymous callers or analysts. Every route declares one permission with ``api.auth.require``,
which hands the handler an ``Access``: the principal, the permission, the scopes a list keeps
to and ``check(codes)`` for an object, so a handler never names the permission twice.

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


class Permission(StrEnum):
    """Every permission there is; ``POLICY`` says who holds each (a typo fails mypy)."""

    READ_PUBLIC = "read_public"
    SUBMIT_REPORT = "submit_report"
    READ_ANALYTICS = "read_analytics"
    SIGN_IN = "sign_in"
    READ_REPORT_CONTACT = "read_report_contact"
    ADD_REPORT_PHOTOS = "add_report_photos"
    READ_WORKERS = "read_workers"
    READ_HOUSEHOLDS = "read_households"
    RECORD_VISIT = "record_visit"
    PLAN_PATROLS = "plan_patrols"
    PUBLISH_PATROLS = "publish_patrols"
    READ_PATROLS = "read_patrols"
    READ_PATROL_COVERAGE = "read_patrol_coverage"
    RECORD_PATROL_TRACK = "record_patrol_track"
    READ_OWN_ACCOUNT = "read_own_account"
    MANAGE_USERS = "manage_users"
    # The transitions route's own gate; each lifecycle action then has its own permission.
    TRANSITION_REPORT = "transition_report"
    REPORT_ACCEPT = "report.accept"
    REPORT_REJECT = "report.reject"
    REPORT_CONFIRM_DUPLICATE = "report.confirm_duplicate"
    REPORT_DISPATCH = "report.dispatch"
    REPORT_ARRIVE = "report.arrive"
    REPORT_RESOLVE = "report.resolve"
    REPORT_VERIFY = "report.verify"
    REPORT_REOPEN = "report.reopen"
    REPORT_CLOSE = "report.close"
    REPORT_ESCALATE = "report.escalate"
    REPORT_MARK_INVALID = "report.mark_invalid"


_ACTION_PREFIX = "report."
_MISSING_ACTIONS = {f"{_ACTION_PREFIX}{a}" for a in ACTIONS} ^ {
    p for p in Permission if p.startswith(_ACTION_PREFIX)
}
if _MISSING_ACTIONS:  # a lifecycle action added without its permission, or one left behind
    raise RuntimeError(f"permissions and lifecycle actions disagree: {sorted(_MISSING_ACTIONS)}")


@dataclass(frozen=True)
class Rule:
    """A permission, what it covers, and the roles granted it with their reach."""

    name: Permission
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
# Report actions only admins take: marking a report spam/invalid removes it from analyses.
ADMIN_ACTIONS: frozenset[str] = frozenset({"mark_invalid"})
TRANSITION_REPORT = Permission.TRANSITION_REPORT


def transition_permission(action: str) -> Permission:
    """The permission of a lifecycle action (``report.accept``, …); unknown: 422."""
    return Permission(f"{_ACTION_PREFIX}{check_action(action)}")


def _transition_permissions() -> list[Rule]:
    permissions = []
    for action in ACTIONS:
        grants: dict[Role, Reach] = {Role.ADMIN: _SCOPE}
        if action not in ADMIN_ACTIONS:
            grants[Role.WORKER if action in WORKER_ACTIONS else Role.DISPATCHER] = _SCOPE
        permissions.append(
            Rule(
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
        Rule(
            TRANSITION_REPORT,
            "change a report's status (the action's own permission decides which)",
            anyone,
        )
    )
    return permissions


POLICY: dict[Permission, Rule] = {
    p.name: p
    for p in (
        Rule(
            Permission.READ_PUBLIC,
            "read layers, topology, coverage, categories, maps, Open311 and public report fields",
            _EVERYONE,
        ),
        Rule(
            Permission.SUBMIT_REPORT,
            "submit a report (POST /reports, Open311 POST requests)",
            _EVERYONE,
        ),
        Rule(
            Permission.READ_ANALYTICS,
            "read hotspots, KPIs, service areas (walk areas, gaps, siting) and care-visit counts "
            "(GET /analytics/visits; no names)",
            _EVERYONE,
        ),
        Rule(
            Permission.SIGN_IN,
            "sign in for a bearer token (POST /auth/token) or a browser session (/app/login), "
            "sign out (/app/logout)",
            _EVERYONE,
        ),
        Rule(
            Permission.READ_REPORT_CONTACT,
            "read a report's reporter name, phone and photos (GET /reports/{id}/photos), its "
            "worker's name, its events' actors and notes",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Rule(
            Permission.ADD_REPORT_PHOTOS,
            "attach photos to a report (POST /reports/{id}/photos; residents attach theirs "
            "with the report from /app/report)",
            _STAFF_IN_SCOPE,
        ),
        *_transition_permissions(),
        Rule(
            Permission.READ_WORKERS,
            "read the staff directory: workers' names, phones and grids (GET /workers)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Rule(
            Permission.READ_HOUSEHOLDS,
            "read households: head's name, phone, members, care flags and visits "
            "(GET /households, /households/{household}/visits)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Rule(
            Permission.RECORD_VISIT,
            "record a care visit to a household (POST /households/{household}/visits)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Rule(
            Permission.PLAN_PATROLS,
            "plan patrols (POST /patrols/plan)",
            {Role.DISPATCHER: _SCOPE, Role.ADMIN: _SCOPE},
        ),
        Rule(
            Permission.PUBLISH_PATROLS,
            "hand a plan's routes to the patrollers' worker accounts (POST /patrols/{id}/publish)",
            {Role.DISPATCHER: _SCOPE, Role.ADMIN: _SCOPE},
        ),
        Rule(
            Permission.READ_PATROLS,
            "read patrol plans, routes and tracks, which name the patrollers and say when they "
            "walk where (GET /patrols, /maps/patrols, the patrol_routes tiles and collection)",
            _STAFF_IN_SCOPE,
            personal_data=True,
        ),
        Rule(
            Permission.READ_PATROL_COVERAGE,
            "read when each grid was last patrolled (GET /patrols/coverage; no names)",
            _SIGNED_IN,
        ),
        Rule(
            Permission.RECORD_PATROL_TRACK,
            "upload a patrol's GPS track (POST /patrols/{id}/track)",
            _STAFF_IN_SCOPE,
        ),
        Rule(Permission.READ_OWN_ACCOUNT, "say who the token signs in (GET /auth/me)", _SIGNED_IN),
        Rule(
            Permission.MANAGE_USERS,
            "create, list and disable accounts within the admin's scope",
            {Role.ADMIN: _SCOPE},
            personal_data=True,
        ),
    )
}


_UNRULED = set(Permission) - set(POLICY)
if _UNRULED:
    raise RuntimeError(f"permissions without a rule in POLICY: {sorted(_UNRULED)}")


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


def grant(principal: Principal, permission: Permission) -> Reach | None:
    """The reach of ``permission`` for the principal's role, None when refused."""
    return POLICY[permission].grants.get(principal.role)


def list_scopes(principal: Principal, permission: Permission) -> tuple[str, ...] | None:
    """The code prefixes a list read under ``permission`` keeps to: None when the role's grant
    reaches everywhere, else the principal's scopes."""
    return None if grant(principal, permission) is Reach.EVERYWHERE else principal.scopes


def allows(
    principal: Principal, permission: Permission, codes: Iterable[str | None] | None = None
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
    principal: Principal, permission: Permission, codes: Iterable[str | None] | None = None
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


@dataclass(frozen=True)
class Access:
    """A permission granted to a principal (what ``api.auth.require`` hands a handler): the
    handler checks an object's codes with ``check`` and filters a list with ``scopes``, never
    naming the permission a second time."""

    principal: Principal
    permission: Permission

    @property
    def scopes(self) -> tuple[str, ...] | None:
        """The code prefixes a list keeps to (``list_scopes``): None when it reaches
        everywhere."""
        return list_scopes(self.principal, self.permission)

    def allows(self, codes: Iterable[str | None]) -> bool:
        """Whether the grant reaches an object with ``codes``."""
        return allows(self.principal, self.permission, codes)

    def check(self, codes: Iterable[str | None]) -> None:
        """``Forbidden`` unless the grant reaches an object with ``codes``."""
        authorize(self.principal, self.permission, codes)


def expected_outcome(role: Role, permission: Permission, *, in_scope: bool) -> str:
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
        if permission.name.startswith(_ACTION_PREFIX):
            key = tuple(sorted(permission.grants.items()))
            actions.setdefault(key, []).append(permission.name.removeprefix(_ACTION_PREFIX))
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
