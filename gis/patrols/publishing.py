"""Publishing a plan: each route handed to its patroller's worker account.

A route is published to the account linked to the route's worker (``users.worker_id``); a
route whose patroller is no stored worker, or whose worker has no account, stays unpublished
(``published_to`` null in the answer). Publishing again keeps the first time each route was
handed over. A published route is readable by its worker (``gis.patrols.storage._PLAN_CODES``
adds the worker's grids to the plan's codes) and listed by ``GET /patrols?published_to=me``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import Connection, text

from gis.core.errors import NotFound
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


@dataclass(frozen=True)
class PublishedRoute:
    """A route handed to a worker account: its plan, its seq and when it is walked."""

    plan_id: int
    seq: int
    depart_at: datetime
    return_at: datetime


_PUBLISHED_ON = """
SELECT r.plan_id, r.seq, r.depart_at, r.return_at
FROM patrol_routes r JOIN users u ON u.id = r.published_to
WHERE u.name = :account
  AND (r.depart_at AT TIME ZONE CAST(:tz AS text))::date = CAST(:day AS date)
ORDER BY r.depart_at, r.plan_id, r.seq
"""


def routes_published_on(
    conn: Connection, *, account: str, day: date, zone: tzinfo
) -> list[PublishedRoute]:
    """The routes published to ``account`` that set off on ``day`` (a local day of ``zone``,
    the settings' timezone), earliest first."""
    rows = conn.execute(
        text(_PUBLISHED_ON), {"account": account, "day": day, "tz": str(zone)}
    ).all()
    return [
        PublishedRoute(
            plan_id=int(r.plan_id), seq=int(r.seq), depart_at=r.depart_at, return_at=r.return_at
        )
        for r in rows
    ]
