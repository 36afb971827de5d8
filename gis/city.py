"""A whole city directory (the demo city in ``data/demo/``, or a generated one): its layout,
and loading it layer by layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from data import DEMO_DIR
from gis.core.db import refresh_statistics
from gis.core.errors import ImportRejected
from gis.households.registry import import_households_csv
from gis.households.visits import import_visit_history
from gis.reports.categories import Category
from gis.reports.history import REPORTS_LAYER, import_report_file
from gis.reports.workers import import_workers_csv
from gis.territory.importing import ImportResult, Progress, import_file
from gis.territory.layers import LAYERS

# The layer files of a city directory, in import order (parents first); ``<layer>.geojson`` or
# ``<layer>.gpkg``, plus the report history and the workers.
LAYER_ORDER = tuple(LAYERS)
REPORTS_FILE = "reports.csv"
WORKERS_FILE = "workers.csv"
# The household registry and its visit history (days before the load, so it stays recent).
HOUSEHOLDS_FILE = "households.csv"
VISITS_FILE = "visits.csv"
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")


def layer_paths(directory: Path) -> dict[str, Path]:
    """The layer files of a city directory, in import order."""
    paths = {}
    for layer in LAYER_ORDER:
        for suffix in (".geojson", ".gpkg"):
            candidate = directory / f"{layer}{suffix}"
            if candidate.exists():
                paths[layer] = candidate
                break
    return paths


def demo_manifest(directory: Path = DEMO_DIR) -> dict[str, Any]:
    """Counts and facts the generator recorded for the demo city."""
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return manifest


def history_shift(directory: Path = DEMO_DIR, *, now: datetime | None = None) -> timedelta:
    """How far a generated city's report history moves when it is loaded at ``now``.

    The generator writes a year of history ending at ``report_history.as_of`` (manifest), with
    the open reports of that moment; moved by ``now - as_of`` (whole minutes), the newest
    report is minutes old and the open queue, its deadlines and what is overdue are current
    on any day. A directory without that manifest entry keeps its times.
    """
    manifest_file = directory / "manifest.json"
    if not manifest_file.exists():
        return timedelta(0)
    as_of = demo_manifest(directory).get("report_history", {}).get("as_of")
    if as_of is None:
        return timedelta(0)
    elapsed = (now or datetime.now(UTC)) - datetime.fromisoformat(as_of)
    return timedelta(minutes=elapsed // timedelta(minutes=1))


def load_city(
    engine: Engine,
    directory: Path = DEMO_DIR,
    *,
    categories: dict[str, Category],
    progress: Progress | None = None,
    zone: tzinfo = DEFAULT_ZONE,
    now: datetime | None = None,
) -> list[ImportResult]:
    """Import every layer file of a generated city, parents first, then its report history.

    All in one transaction; the history (``reports.csv``, if any) comes last because it is
    located against the grids, buildings and districts just loaded, and its categories must
    be among ``categories``. Its times are moved to end at ``now`` (default: the present),
    see ``history_shift``. Households follow the buildings; their visit history is placed
    relative to ``now`` on the calendar of ``zone``.
    """
    paths = layer_paths(directory)
    if not paths:
        raise ImportRejected(f"{directory}: no layer files (districts.geojson, …) found")
    results = []
    with engine.begin() as conn:
        for layer, path in paths.items():

            def layer_progress(step: str, done: int, total: int, _layer: str = layer) -> None:
                if progress:
                    progress(f"{_layer}: {step}", done, total)

            results.append(import_file(conn, path, layer=layer, progress=layer_progress))
        # Workers come as a CSV (not a vector layer); a city without one has none yet.
        workers_csv = directory / WORKERS_FILE
        if workers_csv.exists():
            results.append(import_workers_csv(conn, workers_csv))
        households_csv = directory / HOUSEHOLDS_FILE
        if households_csv.exists():
            results.append(import_households_csv(conn, households_csv, zone=zone))
            visits_csv = directory / VISITS_FILE
            if visits_csv.exists():
                import_visit_history(conn, visits_csv, now=now or datetime.now(UTC), zone=zone)
        history = directory / REPORTS_FILE
        if history.exists():

            def report_progress(step: str, done: int, total: int) -> None:
                if progress:
                    progress(f"{REPORTS_LAYER}: {step}", done, total)

            results.append(
                import_report_file(
                    conn,
                    history,
                    categories=categories,
                    shift=history_shift(directory, now=now),
                    progress=report_progress,
                )
            )
    refresh_statistics(engine)
    return results
