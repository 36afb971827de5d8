"""Every time window of the API: naive and aware ends mix, a naive time is read in the
configured zone (GRIDPATROL_TIMEZONE), and a window ending before it starts is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.main import create_app
from gis.core.settings import Settings
from tests.conftest import demo_iso, demo_time, settings_for

# A month of the demo's history (as loaded: moved to the present), one end without an offset.
MIXED = {
    "since": demo_time("2025-01-01T00:00:00+08:00").replace(tzinfo=None).isoformat(),
    "until": demo_iso("2025-02-01T00:00:00+00:00"),
}
BACKWARDS = {"since": "2025-02-01T00:00:00", "until": "2025-01-01T00:00:00+08:00"}
# (path, extra parameters, name of the window's ends)
WINDOWED = [
    ("/reports", {}, ("since", "until")),
    ("/analytics/kpis", {"level": "district"}, ("since", "until")),
    ("/analytics/hotspots", {"unit": "grid", "permutations": "99"}, ("since", "until")),
    ("/maps/hotspots", {"unit": "grid", "permutations": "99"}, ("since", "until")),
    ("/open311/v2/requests.json", {}, ("start_date", "end_date")),
]


def _client(engine: Engine, zone: str) -> TestClient:
    return TestClient(create_app(settings_for(engine, timezone=zone), engine=engine))


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    with _client(shared_demo_engine, "Asia/Shanghai") as c:
        yield c


def _window(names: tuple[str, str], window: dict[str, str]) -> dict[str, str]:
    return {names[0]: window["since"], names[1]: window["until"]}


@pytest.mark.parametrize(("path", "extra", "names"), WINDOWED)
def test_naive_and_aware_ends_mix(
    client: TestClient, path: str, extra: dict[str, str], names: tuple[str, str]
) -> None:
    response = client.get(path, params=extra | _window(names, MIXED))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "extra", "names"), WINDOWED)
def test_a_backwards_window_names_its_start(
    client: TestClient, path: str, extra: dict[str, str], names: tuple[str, str]
) -> None:
    response = client.get(path, params=extra | _window(names, BACKWARDS))
    if path.startswith("/open311"):  # GeoReport v2 reports bad input as 400, in its format
        assert response.status_code == 400
        assert response.json()[0]["description"].startswith(f"{names[0]}:")
    else:
        assert response.status_code == 422
        assert response.json()["detail"].startswith(f"{names[0]}:")


def _count_in_db(engine: Engine, since: str, until: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM reports WHERE reported_at >= CAST(:s AS timestamptz) "
                    "AND reported_at < CAST(:u AS timestamptz)"
                ),
                {"s": since, "u": until},
            ).scalar_one()
        )


@pytest.mark.parametrize(("zone", "offset"), [("Asia/Shanghai", "+08:00"), ("UTC", "+00:00")])
def test_a_naive_time_is_read_in_the_configured_zone(
    shared_demo_engine: Engine, zone: str, offset: str
) -> None:
    # A day of the demo's history, written without an offset.
    since, until = (
        demo_time(f"{day}T00:00:00+00:00").replace(tzinfo=None).isoformat()
        for day in ("2025-03-10", "2025-03-11")
    )
    expected = _count_in_db(shared_demo_engine, since + offset, until + offset)
    # The two zones must disagree for this test to tell them apart.
    assert _count_in_db(shared_demo_engine, since + "+08:00", until + "+08:00") != (
        _count_in_db(shared_demo_engine, since + "+00:00", until + "+00:00")
    )
    with _client(shared_demo_engine, zone) as client:
        page = client.get("/reports", params={"since": since, "until": until, "limit": 1})
        kpis = client.get("/analytics/kpis", params={"since": since, "until": until})
        requests = client.get(
            "/open311/v2/requests.json", params={"start_date": since, "end_date": until}
        )
    assert page.json()["numberMatched"] == expected
    assert sum(unit["total"] for unit in kpis.json()["units"]) == expected
    assert kpis.json()["since"] == since + offset
    assert len(requests.json()) == min(expected, 1000)


def test_the_zone_is_stated_in_the_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    parameters = spec["paths"]["/reports"]["get"]["parameters"]
    since = next(p for p in parameters if p["name"] == "since")
    assert "GRIDPATROL_TIMEZONE" in since["description"]
    assert "Asia/Shanghai" in spec["info"]["description"]


def test_an_unknown_zone_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Settings(timezone="Mars/Olympus")
