"""Publishing a plan: each route handed to its patroller's worker account.

A route is published to the account linked to the route's worker (``users.worker_id``); a
route whose patroller is no stored worker, or whose worker has no account, stays unpublished
(``published_to`` null in the answer). Publishing again keeps the first time each route was
handed over. ``publish_plan_once`` is the
leader's page's: it refuses (``Conflict``, 409) a plan already handed over — this one or the
other mode of its comparison — and one whose report stops were closed since it was made.
A published route is readable by its worker (``gis.patrols.storage._PLAN_CODES``
adds the worker's grids to the plan's codes) and listed by ``GET /patrols?published_to=me``.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from gis.core.errors import Conflict, NotFound
from gis.core.vocabulary import OPEN_STATUSES
from gis.patrols.answer import PlanOut
from gis.patrols.storage import get_plan

_PUBLISH = """
UPDATE patrol_routes r
SET published_to = u.id, published_at = coalesce(r.published_at, now())
FROM users u
WHERE r.plan_id = :plan_id AND u.worker_id = r.worker_id AND NOT u.disabled
  AND r.published_to IS DISTINCT FROM u.id
"""


def publish_plan(conn: Connection, plan_id: int) -> PlanOut:
    """Hand each route of plan ``plan_id`` to its patroller's worker account (within the
    caller's transaction); returns the plan. ``NotFound`` when there is none."""
    exists = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM patrol_plans WHERE id = :plan_id)"),
        {"plan_id": plan_id},
    ).scalar_one()
    if not exists:
        raise NotFound(f"no patrol plan with id {plan_id}")
    conn.execute(text(_PUBLISH), {"plan_id": plan_id})
    return get_plan(conn, plan_id)


class PlanNotPublishable(Conflict):
    """The plan changed since the leader saw it: handed over already, or out of date."""

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail)
        # "published": already handed over; "stale": a report stop is no longer open.
        self.code = code


_PAIR = """
SELECT p.id FROM patrol_plans p
WHERE p.id = :plan_id OR p.alternative_of = :plan_id
   OR p.id = (SELECT alternative_of FROM patrol_plans WHERE id = :plan_id)
ORDER BY p.id
FOR UPDATE
"""
_PUBLISHED = """
SELECT r.plan_id, min(r.published_at) AS at FROM patrol_routes r
WHERE r.plan_id = ANY(CAST(:plans AS bigint[])) AND r.published_at IS NOT NULL
GROUP BY r.plan_id ORDER BY r.plan_id LIMIT 1
"""
_CLOSED_REPORTS = """
SELECT s.report_id FROM patrol_stops s JOIN reports r ON r.id = s.report_id
WHERE s.plan_id = :plan_id AND s.route_id IS NOT NULL
  AND NOT (r.status = ANY(CAST(:open AS text[])))
ORDER BY s.report_id
"""


def publish_plan_once(conn: Connection, plan_id: int) -> PlanOut:
    """Publish plan ``plan_id`` unless it (or the other mode of its comparison) was handed over
    already, or a report it visits is no longer open: then ``PlanNotPublishable`` (409) and
    nothing changes. The plans are locked first, so two leaders publishing at once get one
    hand-over and one refusal."""
    plans = conn.execute(text(_PAIR), {"plan_id": plan_id}).scalars().all()
    if plan_id not in plans:
        raise NotFound(f"no patrol plan with id {plan_id}")
    published = conn.execute(text(_PUBLISHED), {"plans": list(plans)}).first()
    if published is not None:
        raise PlanNotPublishable(
            f"plan {published.plan_id} was already published at {published.at.isoformat()}",
            code="published",
        )
    closed = conn.execute(
        text(_CLOSED_REPORTS), {"plan_id": plan_id, "open": list(OPEN_STATUSES)}
    ).scalars()
    gone = [str(r) for r in closed]
    if gone:
        raise PlanNotPublishable(
            f"report(s) {', '.join(gone)} on the routes are no longer open: plan again",
            code="stale",
        )
    return publish_plan(conn, plan_id)
