"""When a household's next care visit is due, in one SQL expression shared by every reader.

The cadence is ``visit_every_days`` if set, else the shortest of its care flags' cadences
(``CARE_VISIT_DAYS``), else none; a household that moved out has none. Days are counted on the
calendar of ``GRIDPATROL_TIMEZONE``, never as 24-hour periods in UTC: a visit at 00:30 in
Shanghai on 1 March counts as 1 March (16:30 UTC on 28 February), and Jan 31 + 30 days is
2 March (1 March in a leap year). ``due_on`` is the last local day on which the next visit is
on time: the local day of the last ``met`` visit plus the cadence. A household is *overdue*
once that day has passed (``due_on < today``), and one with a cadence that was never met is
overdue from the start; ``not_home`` and ``refused`` visits are recorded but do not reset it.
"""

from __future__ import annotations

from gis.core.vocabulary import CARE_VISIT_DAYS, VisitOutcome

# How "due soon" the list's ``due=week`` filter reaches: the deadline passes within 7 days.
WEEK_DAYS = 7

_FLAG_DAYS = ", ".join(f"('{flag}', {days})" for flag, days in CARE_VISIT_DAYS.items())

# One row per current household (not moved out) in ``{where}``, with its cadence and due day.
# Parameters: :now (timestamptz, the moment "today" is read at) and :tz (IANA zone name).
STATUS_SQL = f"""
SELECT h.id, h.code, h.unit, h.head_name, h.phone, h.members, h.care,
       b.id AS building_id, b.code AS building_code, b.grid_code,
       c.cadence_days, lv.last_visit_at, lm.last_met_at,
       (lm.last_met_at AT TIME ZONE CAST(:tz AS text))::date + c.cadence_days AS due_on,
       t.today
FROM households h
JOIN buildings b ON b.id = h.building_id
CROSS JOIN (
    SELECT (CAST(:now AS timestamptz) AT TIME ZONE CAST(:tz AS text))::date AS today
) t
CROSS JOIN LATERAL (
    SELECT coalesce(h.visit_every_days, (
        SELECT min(f.days) FROM (VALUES {_FLAG_DAYS}) AS f(flag, days)
        WHERE f.flag = ANY(h.care))) AS cadence_days
) c
LEFT JOIN LATERAL (
    SELECT max(v.visited_at) AS last_visit_at FROM household_visits v
    WHERE v.household_id = h.id AND v.visited_at <= CAST(:now AS timestamptz)
) lv ON true
LEFT JOIN LATERAL (
    SELECT max(v.visited_at) AS last_met_at FROM household_visits v
    WHERE v.household_id = h.id AND v.outcome = '{VisitOutcome.MET}'
      AND v.visited_at <= CAST(:now AS timestamptz)
) lm ON true
WHERE h.moved_out_at IS NULL AND ({{where}})
"""

# Over a STATUS_SQL row ``s``: whether the deadline passes before ``today + :within`` days
# (0: overdue now); never met with a cadence counts as overdue.
DUE_WITHIN_SQL = (
    "(s.cadence_days IS NOT NULL AND (s.last_met_at IS NULL "
    "OR s.due_on < s.today + CAST(:within AS integer)))"
)
OVERDUE_SQL = "(s.cadence_days IS NOT NULL AND (s.last_met_at IS NULL OR s.due_on < s.today))"
# Days past the deadline; never met: the cadence itself (as if due one cadence ago).
DAYS_OVERDUE_SQL = f"CASE WHEN {OVERDUE_SQL} THEN coalesce(s.today - s.due_on, s.cadence_days) END"


def status_sql(where: str = "true") -> str:
    """``STATUS_SQL`` for the households matching ``where`` (SQL over ``h`` and ``b``)."""
    return STATUS_SQL.replace("{where}", where)
