"""The report state machine as one table: which action leads from which status to which.

A leaf of the reports package (only the vocabulary below it): listing shows a report's allowed
actions from here, and ``gis.reports.lifecycle`` carries the actions out.

reported → accepted (or rejected / duplicate) → dispatched (to a worker of the grid) →
in_progress (arrived on site) → resolved (with a note) → verified → closed. ``escalate`` moves
the responsibility up grid → community → subdistrict → district without changing the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.core.errors import InvalidInput
from gis.core.vocabulary import OPEN_STATUSES, Level
from gis.core.vocabulary import ReportStatus as S


@dataclass(frozen=True)
class Action:
    """A transition: the statuses it starts from and the one it leads to (None: unchanged)."""

    name: str
    sources: tuple[str, ...]
    target: str | None
    needs_note: bool = False
    # Timestamp column set when the action happens.
    stamps: str | None = None


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("accept", (S.REPORTED,), S.ACCEPTED),
        Action("reject", (S.REPORTED,), S.REJECTED, needs_note=True, stamps="closed_at"),
        Action("confirm_duplicate", (S.REPORTED, S.ACCEPTED), S.DUPLICATE, stamps="closed_at"),
        Action("dispatch", (S.ACCEPTED, S.DISPATCHED), S.DISPATCHED),
        Action("arrive", (S.DISPATCHED,), S.IN_PROGRESS, stamps="arrived_at"),
        Action("resolve", (S.IN_PROGRESS,), S.RESOLVED, needs_note=True, stamps="resolved_at"),
        Action("verify", (S.RESOLVED,), S.VERIFIED),
        Action("reopen", (S.RESOLVED,), S.IN_PROGRESS),
        Action("close", (S.VERIFIED,), S.CLOSED, stamps="closed_at"),
        # Only an open report can be escalated: one that still needs someone on site.
        Action("escalate", OPEN_STATUSES, None),
        # Spam or a report of nothing real, from whatever status: out of every analysis, kept
        # with its audit trail (never deleted). Admins only (see gis/access/policy.py).
        Action(
            "mark_invalid",
            tuple(s for s in S if s != S.INVALID),
            S.INVALID,
            needs_note=True,
            stamps="closed_at",
        ),
    )
}


def check_action(action: str) -> str:
    """``action`` when it names an action; ``InvalidInput`` listing the actions otherwise."""
    if action not in ACTIONS:
        raise InvalidInput(
            f"action: unknown action {action!r}; expected one of: {', '.join(ACTIONS)}"
        )
    return action


def allowed_actions(status: str, escalation_level: str = Level.GRID) -> list[str]:
    """Actions possible from ``status`` (escalate only below the district level)."""
    return [
        a.name
        for a in ACTIONS.values()
        if status in a.sources and not (a.name == "escalate" and escalation_level == Level.DISTRICT)
    ]
