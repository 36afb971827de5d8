"""The patrol-plan use case: request → stops → matrix → solve → store → answer.

The API and the CLI call :func:`create_patrol_plan`; :func:`plan_patrols` is the same without
storing (tests and the benchmark look at the plan itself).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from gis.patrols.answer import PlanOut
from gis.patrols.planning import (
    PlanOutcome,
    compare_plans,
    prepare_problem,
    solve_mode,
    solve_mode_ordered,
    with_geometry,
)
from gis.patrols.request import PlanRequest
from gis.patrols.storage import get_plan, store_outcome
from gis.reports.categories import Category


def plan_patrols(
    conn: Connection, request: PlanRequest, *, categories: dict[str, Category]
) -> PlanOutcome:
    """Plan the request's patrols (and, with ``compare``, the other mode too); nothing stored."""
    # Patrollers, stops, their street points and the one walking-distance matrix.
    problem = prepare_problem(conn, request, categories=categories)
    if not request.compare:
        return PlanOutcome(plan=with_geometry(conn, problem, solve_mode(problem, request.mode)))
    # Every by_district plan is a joint plan too: joint starts from it, so the comparison never
    # shows joint patrolling worse because of a short search (only equal or better).
    by_district, order = solve_mode_ordered(problem, "by_district")
    joint = solve_mode(problem, "joint", warm_start=order)
    plans = {"by_district": by_district, "joint": joint}
    first = with_geometry(conn, problem, plans[request.mode])
    second = with_geometry(conn, problem, plans[request.other_mode])
    return PlanOutcome(plan=first, alternative=second, comparison=compare_plans(first, second))


def create_patrol_plan(
    engine: Engine, request: PlanRequest, *, categories: dict[str, Category]
) -> PlanOut:
    """Plan (reading only), then store in one transaction; returns the stored plan.

    The solver's time budget is spent outside the writing transaction, so a slow plan holds
    no locks; a failure before the store writes nothing.
    """
    with engine.connect() as conn:
        outcome = plan_patrols(conn, request, categories=categories)
    with engine.begin() as conn:
        plan_id = store_outcome(conn, outcome, request)
        return get_plan(conn, plan_id)
