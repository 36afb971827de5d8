"""schemathesis over the whole OpenAPI document against a real ``gridpatrol serve`` on the demo
city, anonymously and with a dispatcher's token, with every check schemathesis has (``--checks
all``): no 5xx; every answer's status, content type, headers and body as the document declares;
every request the document calls valid accepted, every one it calls invalid refused; 405 with
the right ``Allow`` for other methods. Then the server's log, after all of that and requests
carrying planted personal data, holds none of it.

The document says what each input takes (enums, bounds, patterns), but a few rules span several
inputs or stored data, which JSON Schema cannot say. A refusal (400/422) of a request the
document calls valid passes only when the request breaks one of those rules (``RULES``), each
checked here on its own, independently of the server's code.

Bounded: a fixed number of generated examples per operation (fewer for the expensive analyses
and map pages), schemathesis's boundary cases once (anonymously), derandomized so CI runs the
same cases each time; about four and a half minutes on two busy cores.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from PIL import Image
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
)
from sqlalchemy import ARRAY, DateTime, Engine, Text, bindparam, text

from api.main import create_app
from gis.core.settings import Settings
from tests import conftest
from tests.accounts import PASSWORD, account_headers
from tests.conftest import TEST_SECRET_KEY, fresh_database
from tests.endpoints import INLAND, OPEN311_FORM, PLANTED_CONTACT, PLANTED_WORKER, leaks
from tests.live import serve_process, server_env

# Map pages and Gi* analyses cost up to seconds a request: fewer examples there.
EXPENSIVE = r"^/(maps/|analytics/hotspots)"
GRID = "990101001001001"
TestFunction = TypeVar("TestFunction", bound=Callable[..., None])


def over(
    operations: Any, *, max_examples: int, boundaries: bool = False
) -> Callable[[TestFunction], TestFunction]:
    """Run the test for each of ``operations`` on ``max_examples`` generated cases, and with
    ``boundaries`` also on schemathesis's coverage cases (boundary and invalid values, every
    HTTP method; not counted in ``max_examples``). Derandomized: CI runs the same cases; no
    example database, no shrinking (a failure is printed as found)."""
    phases = [Phase.explicit, Phase.generate] if boundaries else [Phase.generate]
    bounded = settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )

    def decorate(test: TestFunction) -> TestFunction:
        return cast(TestFunction, operations.parametrize()(bounded(test)))

    return decorate


@dataclass
class Live:
    base: str
    log: Path
    dispatcher: dict[str, str]
    engine: Engine


@pytest.fixture(scope="module")
def live(
    pg_server: conftest.TestServer, templates: dict[str, str], tmp_path_factory: Any
) -> Iterator[Live]:
    database = contextmanager(fresh_database)(pg_server, templates["demo"])
    with database as engine:
        dispatcher = account_headers(engine, "dispatcher-li", "dispatcher", scope="990101")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE workers SET name = :name, phone = :phone WHERE id = (SELECT "
                    "min(worker_id) FROM worker_grids WHERE grid_code = :grid)"
                ),
                {**PLANTED_WORKER, "grid": GRID},
            )
        log = tmp_path_factory.mktemp("serve") / "server.log"
        with serve_process(server_env(engine), log) as base:
            yield Live(base, log, dispatcher, engine)


# The document as the app builds it (no database needed); the live server must serve the same.
SPEC = create_app(Settings(tile_url="", secret_key=TEST_SECRET_KEY)).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_server_serves_the_document_tested(live: Live) -> None:
    assert httpx2.get(f"{live.base}/openapi.json", timeout=30).json() == SPEC


# The server reads a time without an offset in GRIDPATROL_TIMEZONE (default here).
ZONE = ZoneInfo("Asia/Shanghai")
MAX_REPORT_DISTANCE_M = 20_000  # GRIDPATROL_MAX_REPORT_DISTANCE_M's default


def _instant(value: object) -> datetime | None:
    """``value`` as an aware time (a naive one in ``ZONE``), None if it is not a time."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZONE)


def _numbers(value: object) -> list[float]:
    try:
        return [float(part) for part in str(value).split(",")]
    except ValueError:
        return []


def _bbox_reversed(case: Any, live: Live) -> bool:
    """bbox: min must not exceed max (longitudes, latitudes; OGC's form may carry heights)."""
    box = _numbers((case.query or {}).get("bbox", ""))
    if len(box) == 6:
        box = [box[0], box[1], box[3], box[4]]
    return len(box) == 4 and (box[0] > box[2] or box[1] > box[3])


def _window_reversed(case: Any, live: Live) -> bool:
    """since/until (Open311: start_date/end_date): the window must not end before it starts;
    patrol coverage's must not be empty either, its ends defaulting to now and a week before."""
    query = case.query or {}
    for first, last in (("since", "until"), ("start_date", "end_date")):
        start, end = _instant(query.get(first)), _instant(query.get(last))
        if case.path == "/patrols/coverage":
            end = end or datetime.now(ZONE)
            start = start or end - timedelta(days=7)
            if start >= end:
                return True
        elif start is not None and end is not None and start > end:
            return True
    return False


def _ogc_interval_impossible(case: Any, live: Live) -> bool:
    """OGC datetime: a day that exists in its month (the pattern takes 02-30), and an interval
    that does not end before it starts."""
    value = (case.query or {}).get("datetime")
    if not isinstance(value, str):
        return False
    ends = [part for part in value.split("/") if part not in ("", "..")]
    moments = [_instant(end if "T" in end else f"{end}T00:00:00+00:00") for end in ends]
    if any(moment is None for moment in moments):
        return True
    return (
        len(moments) == 2
        and moments[0] is not None
        and moments[1] is not None
        and (
            moments[0].date() > moments[1].date()
            or ("T" in ends[0] and "T" in ends[1] and moments[0] > moments[1])
        )
    )


def _tile_outside_zoom(case: Any, live: Live) -> bool:
    """A tile's x and y lie below 2**z at zoom z."""
    if not case.path.startswith("/tiles/{layer}/{z}"):
        return False
    z, x, y = (int(case.path_parameters[name]) for name in ("z", "x", "y"))
    return bool(x >= 2**z or y >= 2**z)


def _point_far_from_city(case: Any, live: Live) -> bool:
    """A report farther than the allowed distance from every district of the city."""
    body = case.body if isinstance(case.body, dict) else {}
    lat, lon = body.get("lat"), body.get("lon", body.get("long"))
    try:
        lat, lon = float(lat), float(lon)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    with live.engine.connect() as conn:
        distance_m = conn.execute(
            text(
                "SELECT ST_Distance(ST_Collect(geom)::geography, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) FROM districts"
            ),
            {"lat": lat, "lon": lon},
        ).scalar_one()
    return bool(distance_m > MAX_REPORT_DISTANCE_M)


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


def _nul_character(case: Any, live: Live) -> bool:
    """No text holds a NUL character (PostgreSQL text cannot store one)."""
    return any(_holds_nul(part) for part in (case.body, case.query, case.headers))


def _plan_rules(case: Any, live: Live) -> bool:
    """A patrol plan chooses at least one kind of stop, lists at most 5,000 buildings and
    points together, and names each patroller once."""
    if case.path != "/patrols/plan" or not isinstance(case.body, dict):
        return False
    stops = case.body.get("stops")
    stops = stops if isinstance(stops, dict) else {}
    chosen = (
        stops.get("open_reports") is True
        or any(stops.get(kind) not in (None, False) for kind in FLAGGED_KINDS)
        or any(stops.get(kind) for kind in ("facilities", "buildings", "points"))
    )
    listed = len(stops.get("buildings") or []) + len(stops.get("points") or [])
    names = [p.get("name") for p in case.body.get("patrollers", []) if isinstance(p, dict)]
    return not chosen or listed > 5000 or len(names) != len(set(names))


FLAGGED_KINDS = ("hot_grids", "stale_grids", "care_visits")  # an object, or true: the defaults


def _not_a_timed_track(case: Any, live: Live) -> bool:
    """A track is a GPX document or GeoJSON line with a time for each point."""
    if not case.path.endswith("/track"):
        return False
    body = case.body
    if isinstance(body, str):
        return re.search(r"<trkpt[^>]*>.*?<time>", body, re.S) is None
    geometry = body.get("geometry") if isinstance(body, dict) else None
    times = (body.get("properties") or {}).get("times") if isinstance(body, dict) else None
    points = geometry.get("coordinates") if isinstance(geometry, dict) else None
    return not (isinstance(points, list) and isinstance(times, list) and len(points) == len(times))


def _number_in(value: object, low: float, high: float) -> bool:
    """A page's text field (empty: its default) read as the page reads it, within its range."""
    text_value = str(value if value is not None else "").strip()
    if not text_value:
        return True
    try:
        number = float(text_value)
    except ValueError:
        return False
    return low <= number <= high


def _life_circle_form_out_of_range(case: Any, live: Live) -> bool:
    """The life circle page's text fields: numbers within the range their descriptions give
    (JSON Schema bounds numbers, not numbers written as text), and with ``candidates=points``
    one ``lon,lat[,label]`` a line on the globe."""
    if not case.path.startswith("/app/areas"):
        return False
    fields = {**(case.query or {}), **(case.body if isinstance(case.body, dict) else {})}
    if not (
        _number_in(fields.get("minutes"), 0.1, 120)
        and _number_in(fields.get("walk_speed_kmh"), 1, 10)
    ):
        return True
    if case.path != "/app/areas/siting":
        return False
    if not (str(fields.get("new_sites", "")).isdigit() and 1 <= int(fields["new_sites"]) <= 100):
        return True
    if fields.get("candidates") != "points":
        return False
    lines = [line for line in str(fields.get("points", "")).splitlines() if line.strip()]
    if not 1 <= len(lines) <= 2000:
        return True
    for line in lines:
        parts = line.replace("，", ",").split(",", 2)
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            return True
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return True
    return False


def _too_few_or_too_many_units(case: Any, live: Live) -> bool:
    """Gi* hotspots need at least 30 units over the city's grids (hexagons of edge ``size_m``,
    default 200 m, laid out in the city's UTM zone, or the grids), and at most 200,000,000
    permutations times units of work: both depend on the stored city."""
    if case.path not in ("/analytics/hotspots", "/maps/hotspots"):
        return False
    query = case.query or {}
    permutations = int(query.get("permutations", 9999))
    with live.engine.connect() as conn:
        if query.get("unit", "hex") == "grid":
            units = conn.execute(text("SELECT count(*) FROM grids")).scalar_one()
        else:
            units = conn.execute(
                text(
                    "WITH city AS (SELECT ST_Union(geom) AS geom FROM grids), "
                    "zone AS (SELECT 32601 + floor((ST_X(ST_Centroid(geom)) + 180) / 6)::int "
                    "AS srid, ST_Centroid(geom) AS c FROM city), "
                    "metric AS (SELECT ST_Transform(city.geom, zone.srid) AS geom FROM city, zone)"
                    " SELECT count(*) FROM metric, ST_HexagonGrid(:size, metric.geom) AS h "
                    "WHERE ST_Intersects(h.geom, metric.geom)"
                ),
                {"size": float(query.get("size_m", 200))},
            ).scalar_one()
    return bool(units < 30 or permutations * units > 200_000_000)


def _nothing_to_analyse(case: Any, live: Live) -> bool:
    """Gi* needs reports to analyse: none (but spam) of the chosen categories inside the city's
    grids in the chosen window is a refusal, however well-formed the request."""
    if case.path not in ("/analytics/hotspots", "/maps/hotspots"):
        return False
    query = case.query or {}
    chosen = query.get("category") or []
    values = chosen if isinstance(chosen, list) else [chosen]
    codes = [c.strip() for value in values for c in str(value).split(",") if c.strip()]
    since, until = _instant(query.get("since")), _instant(query.get("until"))
    with live.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT EXISTS (SELECT FROM reports r JOIN grids g ON ST_Intersects(g.geom, r.geom)"
                " WHERE r.status <> 'invalid' AND (cardinality(:codes) = 0 OR r.category = ANY("
                ":codes)) AND (:since IS NULL OR r.reported_at >= :since) AND (:until IS NULL OR "
                "r.reported_at < :until))"
            ).bindparams(
                bindparam("codes", type_=ARRAY(Text())),
                bindparam("since", type_=DateTime(timezone=True)),
                bindparam("until", type_=DateTime(timezone=True)),
            ),
            {"codes": codes, "since": since, "until": until},
        ).scalar_one()
    return not found


def _photos_unreadable_or_past_the_limit(case: Any, live: Live) -> bool:
    """Each photo part must be a JPEG or PNG image (Pillow opens and decodes it here), and a
    report holds at most 20 photos in all: the bytes and the stored count, not the schema."""
    if case.method.upper() != "POST" or case.path != "/reports/{report_id}/photos":
        return False
    parts = case.body.get("photo") if isinstance(case.body, dict) else None
    if not isinstance(parts, list):
        return False
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("JPEG", "PNG"):
                    return True
                image.load()
        except Exception:  # anything Pillow cannot read is not a photo
            return True
    with live.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM report_photos WHERE report_id = :id"),
            {"id": int(case.path_parameters["report_id"])},
        ).scalar_one()
    return bool(stored + len(parts) > 20)


# The rules the document cannot state; a 400/422 to a request it calls valid is expected when
# the request breaks one. Each rule also stands in its parameter's description.
RULES: list[Callable[[Any, Live], bool]] = [
    _bbox_reversed,
    _window_reversed,
    _ogc_interval_impossible,
    _tile_outside_zoom,
    _point_far_from_city,
    _nul_character,
    _plan_rules,
    _not_a_timed_track,
    _life_circle_form_out_of_range,
    _too_few_or_too_many_units,
    _photos_unreadable_or_past_the_limit,
    _nothing_to_analyse,
]
LIVE: list[Live] = []  # the server the checks run against (the module's fixture)


def positive_data_acceptance_but_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's ``positive_data_acceptance``, but for a refusal naming a broken rule."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code in (400, 422) and any(rule(case, LIVE[0]) for rule in RULES):
            return None
        raise


load_all_checks()
# Every check schemathesis has (its --checks all), the rules excepted from positive data's.
CHECKS_RUN = [check for check in CHECKS.get_all() if check is not positive_data_acceptance] + [
    positive_data_acceptance_but_rules
]


# Siting among every building of the city (the default candidates) takes up to a minute on
# the demo city: the fuzz sites among the facilities instead (the tests of siting cover it).
SITING = ("/service-areas/siting", "/app/areas/siting")


def _call(case: Any, live: Live, headers: dict[str, str] | None = None) -> None:
    LIVE[:] = [live]
    body = case.body if case.path in SITING and isinstance(case.body, dict) else {}
    if body and body.get("candidates", "buildings") == "buildings":  # the default, or chosen
        body["candidates"] = "facilities"
    case.call_and_validate(base_url=live.base, headers=headers, checks=CHECKS_RUN, timeout=60)


@over(schema.exclude(path_regex=EXPENSIVE), max_examples=10, boundaries=True)
def test_anonymous(case: Any, live: Live) -> None:
    _call(case, live)


@over(schema.exclude(path_regex=EXPENSIVE), max_examples=15)
def test_with_a_token(case: Any, live: Live) -> None:
    _call(case, live, live.dispatcher)


@over(schema.include(path_regex=EXPENSIVE), max_examples=3)
def test_expensive_anonymous(case: Any, live: Live) -> None:
    _call(case, live)


@over(schema.include(path_regex=EXPENSIVE), max_examples=3)
def test_expensive_with_a_token(case: Any, live: Live) -> None:
    _call(case, live, live.dispatcher)


def test_the_server_log_holds_no_personal_data(live: Live) -> None:
    """Requests carrying planted contacts and a planted password — accepted, refused,
    conflicting — then the whole log of the server (schemathesis's run included) is read."""
    report = {"category": "sanitation", "description": "bins", **INLAND, **PLANTED_CONTACT}
    open311 = dict(OPEN311_FORM)
    with httpx2.Client(base_url=live.base, timeout=60) as http:
        key = {"Idempotency-Key": "log-test"}
        created = http.post("/reports", json=report, headers=key)
        assert created.status_code == 201
        assert http.post("/reports", json=report | {"lat": 30.6}, headers=key).status_code == 409
        too_long = report | {"reporter_phone": PLANTED_CONTACT["reporter_phone"] * 5}
        assert http.post("/reports", json=too_long).status_code == 422
        assert http.post("/open311/v2/requests.json", data=open311).status_code == 201
        assert (
            http.post("/open311/v2/requests.json", data=open311 | {"lat": "x"}).status_code == 400
        )
        shown = http.get(f"/reports/{created.json()['id']}", headers=live.dispatcher)
        assert set(leaks(shown.text)) >= set(PLANTED_CONTACT.values())  # it was there to log
        workers = http.get("/workers", params={"grid": GRID}, headers=live.dispatcher)
        assert PLANTED_WORKER["phone"] in workers.text  # the directory shows it, the log not
        wrong = http.post(
            "/auth/token", data={"username": "dispatcher-li", "password": "13911112222x"}
        )
        assert wrong.status_code == 401
        right = http.post("/auth/token", data={"username": "dispatcher-li", "password": PASSWORD})
        assert right.status_code == 200
    time.sleep(0.5)  # let the server flush its last lines
    text = live.log.read_text()
    assert "GET /reports/" in text  # the access log is there
    assert leaks(text) == []
    assert PASSWORD not in text and "13911112222x" not in text
    assert right.json()["access_token"] not in text
