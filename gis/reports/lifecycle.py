"""The report lifecycle as an explicit state machine, with an append-only event log.

reported → accepted (or rejected / duplicate) → dispatched (to a worker of the grid) →
in_progress (arrived on site) → resolved (with a note) → verified → closed. ``escalate`` moves
the responsibility up grid → community → subdistrict → district without changing the status;
an enclave or border report goes from its grid to the coordinating community across the border.
Each transition updates the report and appends its event in the caller's transaction.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, text

from gis.core.errors import InvalidInput, InvalidTransition, NotFound
from gis.core.vocabulary import (
    ASSIGNED_STATUSES,
    ESCALATION_ORDER,
    STATUSES,
    Level,
    WorkerRole,
    code_prefix,
    sql_list,
)
from gis.reports.actions import ACTIONS, allowed_actions, check_action
from gis.reports.listing import get_report

_ASSIGNED_SQL = sql_list(ASSIGNED_STATUSES)


def _pick_worker(conn: Connection, *, responsible_code: str | None, worker_id: int | None) -> int:
    """The worker to dispatch to: ``worker_id`` if they serve the responsible unit, else the
    grid worker there with the fewest open reports."""
    if responsible_code is None and worker_id is None:
        raise InvalidInput(
            "worker_id: this report is not located in a grid; name the worker to dispatch to"
        )
    if (
        worker_id is not None
        and not conn.execute(
            text("SELECT EXISTS (SELECT 1 FROM workers WHERE id = :id)"), {"id": worker_id}
        ).scalar_one()
    ):
        raise InvalidInput(f"worker_id: no worker with id {worker_id}")
    chosen = conn.execute(
        text(
            f"""
            SELECT w.id
            FROM workers w
            WHERE (CAST(:worker_id AS bigint) IS NULL OR w.id = :worker_id)
              AND (CAST(:unit AS text) IS NULL OR EXISTS (
                    SELECT 1 FROM worker_grids wg
                    WHERE wg.worker_id = w.id AND wg.grid_code LIKE :unit || '%'))
            ORDER BY (w.role = '{WorkerRole.GRID_WORKER}') DESC,
                (SELECT count(*) FROM reports r
                 WHERE r.worker_id = w.id AND r.status IN ({_ASSIGNED_SQL})),
                w.id
            LIMIT 1
            """
        ),
        {"worker_id": worker_id, "unit": responsible_code},
    ).scalar_one_or_none()
    if chosen is None:
        if worker_id is not None:
            raise InvalidInput(
                f"worker_id: worker {worker_id} does not serve {responsible_code} "
                "(dispatch to a worker of the report's grid)"
            )
        raise InvalidInput(
            f"worker_id: no worker serves {responsible_code}; load workers "
            "(gridpatrol load workers.csv --layer workers) or name one"
        )
    return int(chosen)


def _escalation(report: Any) -> dict[str, Any]:
    """The next level and the unit then responsible."""
    level = ESCALATION_ORDER[ESCALATION_ORDER.index(Level(report.escalation_level)) + 1]
    base = report.responsible_code
    across = False
    if report.escalation_level == Level.GRID:
        # Enclave and border reports go to the community coordinating across the border.
        across = report.coordinating_community_code is not None
        base = report.coordinating_community_code or report.community_code
    code = code_prefix(base, level) if base else None
    return {"level": str(level), "responsible_code": code, "across_border": across}


def report_version(conn: Connection, report_id: int) -> int:
    """The report's version: how many events its audit trail holds (each action adds one)."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM report_events WHERE report_id = :id"), {"id": report_id}
        ).scalar_one()
    )


def _check_expected(
    conn: Connection,
    report: Any,
    *,
    allowed: list[str],
    expected_status: str | None,
    expected_version: int | None,
) -> None:
    """``InvalidTransition`` when the locked report is not what the caller saw."""
    if expected_status is not None and expected_status not in STATUSES:
        raise InvalidInput(
            f"expected_status: unknown status {expected_status!r}; "
            f"expected one of: {', '.join(STATUSES)}"
        )
    if expected_status is None and expected_version is None:
        return
    # Its own statement: taken after the row lock, it sees a concurrent action's event
    # (the locking statement's snapshot predates the wait).
    version = report_version(conn, report.id)
    stale = []
    if expected_status is not None and expected_status != report.status:
        stale.append(f"it is {report.status!r}, not {str(expected_status)!r}")
    if expected_version is not None and expected_version != version:
        stale.append(f"it is at version {version}, not {expected_version}")
    if stale:
        raise InvalidTransition(
            f"report {report.id} changed since you saw it: {' and '.join(stale)} "
            f"(level {report.escalation_level}); nothing was applied, reload it and decide again",
            current_status=report.status,
            allowed_actions=allowed,
            current_version=version,
        )


def transition_report(
    conn: Connection,
    report_id: int,
    *,
    action: str,
    actor: str,
    note: str | None = None,
    worker_id: int | None = None,
    duplicate_of: int | None = None,
    expected_status: str | None = None,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Apply ``action`` to a report and log it; run in a transaction (``engine.begin()``).

    ``expected_status`` and ``expected_version`` (the report's ``version``: the number of
    events in its audit trail) are what the caller saw when deciding; when the report has
    moved on since (a double click, a colleague's action), nothing is applied.
    Raises ``InvalidTransition`` naming the current status and the allowed actions.
    """
    check_action(action)
    if not actor or not actor.strip():
        raise InvalidInput("actor: must name who acts")
    spec = ACTIONS[action]
    # FOR UPDATE: concurrent transitions of one report queue up instead of both passing the check.
    report = conn.execute(
        text(
            "SELECT id, status, escalation_level, responsible_code, community_code, "
            "coordinating_community_code, duplicate_of, worker_id, category, district_code "
            "FROM reports "
            "WHERE id = :id FOR UPDATE"
        ),
        {"id": report_id},
    ).one_or_none()
    if report is None:
        raise NotFound(f"no report with id {report_id}")
    allowed = allowed_actions(report.status, report.escalation_level)
    _check_expected(
        conn,
        report,
        allowed=allowed,
        expected_status=expected_status,
        expected_version=expected_version,
    )
    if action not in allowed:
        raise InvalidTransition(
            f"report {report_id} is {report.status!r} (level {report.escalation_level}); "
            f"action {action!r} is not allowed; allowed actions: {', '.join(allowed) or 'none'}",
            current_status=report.status,
            allowed_actions=allowed,
        )
    if spec.needs_note and not (note and note.strip()):
        raise InvalidInput(f"note: the {action!r} action needs a note")

    sets = ["updated_at = now()"]
    params: dict[str, Any] = {"id": report_id}
    details: dict[str, Any] = {}
    target = spec.target or report.status
    if spec.stamps:
        sets.append(f"{spec.stamps} = now()")
    if action == "dispatch":
        params["worker_id"] = _pick_worker(
            conn, responsible_code=report.responsible_code, worker_id=worker_id
        )
        sets.append("worker_id = :worker_id")
        details["worker_id"] = params["worker_id"]
    elif action == "confirm_duplicate":
        original = duplicate_of if duplicate_of is not None else report.duplicate_of
        if original is None:
            raise InvalidInput("duplicate_of: name the report this one duplicates")
        first = (
            None
            if original == report_id
            else conn.execute(
                text("SELECT category, district_code FROM reports WHERE id = :id"),
                {"id": original},
            ).one_or_none()
        )
        if first is None:
            raise InvalidInput(f"duplicate_of: no other report with id {original}")
        if first.category != report.category or first.district_code != report.district_code:
            raise InvalidInput(
                f"duplicate_of: report {original} is {first.category!r} in district "
                f"{first.district_code or 'none (unlocated)'}, this one {report.category!r} in "
                f"{report.district_code or 'none (unlocated)'}; a duplicate is the same problem: "
                "same category, same district"
            )
        params["duplicate_of"] = original
        sets.append("duplicate_of = :duplicate_of")
        details["duplicate_of"] = original
    elif action == "escalate":
        step = _escalation(report)
        params |= {"level": step["level"], "responsible": step["responsible_code"]}
        sets += ["escalation_level = :level", "responsible_code = :responsible"]
        details = {"from_level": report.escalation_level, **step}
    elif action == "reopen":
        sets.append("resolved_at = NULL")

    params["status"] = target
    conn.execute(
        text(f"UPDATE reports SET status = :status, {', '.join(sets)} WHERE id = :id"), params
    )
    conn.execute(
        text(
            "INSERT INTO report_events (report_id, action, from_status, to_status, actor, note, "
            "details) VALUES (:id, :action, :from_status, :to_status, :actor, :note, "
            "CAST(:details AS jsonb))"
        ),
        {
            "id": report_id,
            "action": action,
            "from_status": report.status,
            "to_status": target,
            "actor": actor.strip(),
            "note": note,
            "details": json.dumps(details),
        },
    )
    return get_report(conn, report_id, include_contact=True)


def list_events(conn: Connection, report_id: int) -> list[dict[str, Any]]:
    """The audit trail of a report, oldest first."""
    if not conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM reports WHERE id = :id)"), {"id": report_id}
    ).scalar_one():
        raise NotFound(f"no report with id {report_id}")
    rows = conn.execute(
        text(
            "SELECT id, action, from_status, to_status, actor, note, details, at "
            "FROM report_events WHERE report_id = :id ORDER BY id"
        ),
        {"id": report_id},
    ).all()
    return [
        {
            "id": r.id,
            "action": r.action,
            "from_status": r.from_status,
            "to_status": r.to_status,
            "actor": r.actor,
            "note": r.note,
            "details": r.details,
            "at": r.at.isoformat(),
        }
        for r in rows
    ]


# Event fields that may name people: the actor (staff, or a resident on old intake events)
# and the free-text note. Only accounts allowed the report's contact see them.
PERSONAL_EVENT_FIELDS: tuple[str, ...] = ("actor", "note")


# Event details that name a person: the worker a report was dispatched to.
PERSONAL_DETAILS: tuple[str, ...] = ("worker_id",)


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event without who acted, the note and the worker dispatched: what happened and
    when."""
    shown = {key: value for key, value in event.items() if key not in PERSONAL_EVENT_FIELDS}
    details = shown.get("details")
    if isinstance(details, dict):
        shown["details"] = {k: v for k, v in details.items() if k not in PERSONAL_DETAILS}
    return shown
