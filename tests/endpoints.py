"""One valid request for every operation of the API, for the tests that call them all.

``SAMPLE_CALLS`` is keyed like ``api.auth.route_permissions(app)``; a test asserts the two
agree, so a new route without a sample call here fails the suite.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

# Distinctive personal data: a reporter's contact and photo, and a worker's name and phone.
PLANTED_CONTACT = {
    "reporter_name": "Planted Resident Qiu",
    "reporter_phone": "13911112222",
    "photo_url": "https://photos.example.cn/planted-photo-7f3a.jpg",
}
PLANTED_WORKER = {"name": "Planted Worker Zhao", "phone": "13799990000"}
# A household in the planted report's grid: its head, phone and a visit's note.
PLANTED_HOUSEHOLD = {"head_name": "Planted Household Sun", "phone": "13655557777"}
PLANTED_VISIT_NOTE = "planted visit note 9b2e: knee pain"
PLANTED = (
    *PLANTED_CONTACT.values(),
    *PLANTED_WORKER.values(),
    *PLANTED_HOUSEHOLD.values(),
    PLANTED_VISIT_NOTE,
)
# Public, and distinctive: shows where the planted report is drawn.
PLANTED_DESCRIPTION = "planted report 5e1c: bins overflowing"
# A point inside district 990101, away from its borders.
INLAND = {"lat": 30.65831, "lon": 104.04498}


def leaks(text: str) -> list[str]:
    """The planted values found in ``text``."""
    return [value for value in PLANTED if value in text]


@dataclass(frozen=True)
class Call:
    """A request to one operation; ``{name}`` in the path and values are filled in from
    ``code`` (a grid), ``report_id``, ``service_request_id``, ``service_code``, ``plan_id``,
    ``household``, ``account``, ``password``, ``csrf_token``, ``token`` (a report's
    follow-up link), ``worker`` (a worker's code), ``station`` (a service station's) and
    ``photo_id`` (a photo of the report); ``files`` are multipart parts (field, (file name,
    bytes, content type))."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    files: tuple[tuple[str, tuple[str, bytes, str]], ...] | None = None
    success: int = 200

    @property
    def needs_csrf(self) -> bool:
        """Whether the call posts a form carrying the page's CSRF token."""
        return "{csrf_token}" in (self.data or {}).values()

    def request(self, values: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Method, URL and client keyword arguments, with ``values`` filled in."""

        def fill(value: Any) -> Any:
            return value.format(**values) if isinstance(value, str) else value

        kwargs: dict[str, Any] = {"params": {k: fill(v) for k, v in self.params.items()}}
        if self.json is not None:
            kwargs["json"] = {k: fill(v) for k, v in self.json.items()}
        if self.data is not None:
            kwargs["data"] = {k: fill(v) for k, v in self.data.items()}
        if self.files is not None:
            kwargs["files"] = list(self.files)
        return self.method, self.path.format(**values), kwargs


_LAYERS = ("districts", "subdistricts", "communities", "grids", "buildings", "facilities", "roads")
# A patrol from INLAND to a point 300 m east and back: in the report's district and grid.
PATROL_PLAN: dict[str, Any] = {
    "name": "matrix patrol",
    "start_at": "2026-11-24T18:00:00+08:00",
    "time_limit_s": 0.2,
    "patrollers": [{"name": "Wang", "start": {"lon": INLAND["lon"], "lat": INLAND["lat"]}}],
    "stops": {"points": [{"lon": INLAND["lon"] + 0.003, "lat": INLAND["lat"], "label": "gate"}]},
}
# Its GPS track: the patroller walked to the gate and back, 2 minutes a leg.
PATROL_TRACK = {
    "type": "Feature",
    "geometry": {
        "type": "LineString",
        "coordinates": [
            [INLAND["lon"], INLAND["lat"]],
            [INLAND["lon"] + 0.003, INLAND["lat"]],
            [INLAND["lon"], INLAND["lat"]],
        ],
    },
    "properties": {
        "times": [
            "2026-11-24T18:00:00+08:00",
            "2026-11-24T18:04:00+08:00",
            "2026-11-24T18:08:00+08:00",
        ]
    },
}
# Path values of the layer operations: the grids layer, the zoom-14 tile holding INLAND.
LAYER_VALUES = {"layer": "grids", "collection_id": "grids", "z": 14, "x": 12927, "y": 6724}
# A visit recorded in the sample call (in the past, whenever the tests run).
VISIT = {
    "visited_at": "2026-11-20T10:00:00+08:00",
    "worker": "W-sample",
    "outcome": "not_home",
    "note": "sample visit",
}
# Fast but real settings of the heavier analyses.
_HOTSPOTS = {"unit": "grid", "permutations": 99}
_REPORT = {"category": "sanitation", "description": "bins overflowing", **INLAND}
# An Open311 POST carrying the planted contact (GeoReport v2 form fields).
OPEN311_FORM = {
    "service_code": "sanitation",
    "lat": str(INLAND["lat"]),
    "long": str(INLAND["lon"]),
    "description": "bins overflowing",
    "first_name": PLANTED_CONTACT["reporter_name"],
    "phone": PLANTED_CONTACT["reporter_phone"],
    "media_url": PLANTED_CONTACT["photo_url"],
}


def sample_jpeg(
    size: tuple[int, int] = (24, 16), color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A small JPEG made on the spot (a photo's sample)."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


SAMPLE_PHOTO = ("photo", ("bins.jpg", sample_jpeg(), "image/jpeg"))

SAMPLE_CALLS: dict[tuple[str, str], Call] = {
    (call.method, call.path): call
    for call in (
        Call("GET", "/health"),
        Call("POST", "/auth/token", data={"username": "{account}", "password": "{password}"}),
        Call("GET", "/auth/me"),
        # The browser's sign-in: ``{csrf_token}`` is the token of the sign-in page the caller
        # opened first (its nonce cookie kept); both answer 303 to the sign-in page.
        Call("GET", "/app/login", params={"next": "/maps/coverage", "lang": "en"}),
        Call(
            "POST",
            "/app/login",
            data={"username": "{account}", "password": "{password}", "csrf_token": "{csrf_token}"},
        ),
        Call("POST", "/app/logout", data={"csrf_token": "{csrf_token}"}),
        # The dispatch desk: the queue with a report open, the polled queue, an action (the
        # access matrix gives the action a fresh report, as it does the transitions).
        Call("GET", "/app/dispatch", params={"report": "{report_id}", "lang": "en"}),
        Call("GET", "/app/dispatch/queue", params={"status": "open", "page": 1}),
        Call(
            "POST",
            "/app/dispatch/reports/{report_id}",
            data={"action": "accept", "csrf_token": "{csrf_token}"},
        ),
        # The grid worker's page; an action on a fresh report (the access matrix gives it one,
        # still ``reported``: an allowed ``arrive`` is told what the report is now, 409), and a
        # care visit recorded from the page (answered by a redirect to the page, followed).
        Call("GET", "/app/worker", params={"lang": "en"}),
        Call(
            "POST",
            "/app/worker/reports/{report_id}",
            data={"action": "arrive", "csrf_token": "{csrf_token}"},
            success=409,
        ),
        Call(
            "POST",
            "/app/worker/households/{household}/visits",
            data={"outcome": "not_home", "note": "sample visit", "csrf_token": "{csrf_token}"},
        ),
        # The patrol leader's page: a plan shown; planned from the form (the planted worker
        # from the district's ``{station}``, to a point; answered by a redirect to the page
        # showing it, followed); a fresh plan published (the access matrix makes one).
        Call("GET", "/app/patrols", params={"plan": "{plan_id}", "lang": "en"}),
        Call(
            "POST",
            "/app/patrols/plan",
            data={
                "date": "2026-11-24",
                "time": "18:00",
                "station": "{station}",
                "workers": "{worker}",
                "points": f"{INLAND['lon'] + 0.003}, {INLAND['lat']}, gate",
                "time_limit_s": "0.2",
                "csrf_token": "{csrf_token}",
            },
        ),
        Call("POST", "/app/patrols/{plan_id}/publish", data={"csrf_token": "{csrf_token}"}),
        # The life circle page and its siting form (few candidates: the other facilities).
        Call("GET", "/app/areas", params={"minutes": 15, "level": "district", "lang": "en"}),
        Call(
            "POST",
            "/app/areas/siting",
            data={"new_sites": "1", "candidates": "facilities", "csrf_token": "{csrf_token}"},
        ),
        # The resident's pages: the form (answered by a redirect to the new report's follow-up
        # page, followed), and a report's follow-up link, ``{token}`` (its report is open: an
        # allowed rating is told it cannot be rated yet; tests/api/test_resident.py rates).
        Call("GET", "/app/report", params={"lang": "en"}),
        Call(
            "POST",
            "/app/report",
            data={
                "category": "sanitation",
                "description": "bins overflowing",
                "lat": str(INLAND["lat"]),
                "lon": str(INLAND["lon"]),
                "csrf_token": "{csrf_token}",
            },
        ),
        Call("GET", "/app/follow/{token}", params={"lang": "en"}),
        Call(
            "POST",
            "/app/follow/{token}",
            data={"satisfied": "yes", "note": "quick", "csrf_token": "{csrf_token}"},
            success=409,
        ),
        # More photos from the link while the report is open (a redirect back, followed).
        Call(
            "POST",
            "/app/follow/{token}/photos",
            data={"csrf_token": "{csrf_token}"},
            files=(SAMPLE_PHOTO,),
        ),
        *(Call("GET", f"/{layer}", params={"limit": 5}) for layer in _LAYERS),
        Call("GET", "/grids/{code}"),
        Call("GET", "/workers", params={"grid": "{code}"}),
        Call("GET", "/categories"),
        Call("POST", "/reports", json={**_REPORT, **PLANTED_CONTACT}, success=201),
        Call("GET", "/reports", params={"limit": 50}),
        Call("GET", "/reports/{report_id}"),
        Call("POST", "/reports/{report_id}/transitions", json={"action": "accept"}),
        Call("GET", "/reports/{report_id}/events"),
        Call("POST", "/reports/{report_id}/photos", files=(SAMPLE_PHOTO,), success=201),
        Call("GET", "/reports/{report_id}/photos"),
        Call("GET", "/reports/{report_id}/photos/{photo_id}"),
        Call("GET", "/households", params={"grid": "{code}"}),
        Call("GET", "/households/{household}/visits"),
        Call("POST", "/households/{household}/visits", json=VISIT, success=201),
        Call("GET", "/analytics/visits", params={"level": "community"}),
        Call("GET", "/analytics/kpis"),
        Call("GET", "/analytics/hotspots", params=_HOTSPOTS),
        Call("GET", "/open311/v2/services.json"),
        Call("GET", "/open311/v2/services/{service_code}.json"),
        Call("GET", "/open311/v2/requests.json"),
        Call("POST", "/open311/v2/requests.json", data=OPEN311_FORM, success=201),
        Call("GET", "/open311/v2/requests/{service_request_id}.json"),
        Call("GET", "/topology"),
        Call("GET", "/coverage/cross-district"),
        # Around INLAND: the reports drawn there, at a fraction of the whole city's cost.
        Call("GET", "/maps/grids", params={"bbox": "104.040,30.654,104.050,30.662"}),
        Call("GET", "/maps/coverage"),
        Call("GET", "/maps/hotspots", params=_HOTSPOTS),
        Call("GET", "/maps/grids/problems"),
        Call("GET", "/maps/grids/care-visits"),
        Call("GET", "/maps/patrols", params={"id": "{plan_id}"}),
        Call("GET", "/maps/service-areas"),
        Call("GET", "/service-areas"),
        Call("GET", "/service-areas/gaps", params={"limit": 20}),
        Call("POST", "/service-areas/siting", json={"new_sites": 1, "candidates": "facilities"}),
        Call("POST", "/patrols/plan", json=PATROL_PLAN, success=201),
        Call("GET", "/patrols"),
        Call("GET", "/patrols/coverage"),
        Call("GET", "/patrols/{plan_id}"),
        Call("POST", "/patrols/{plan_id}/track", json=PATROL_TRACK, success=201),
        Call("POST", "/patrols/{plan_id}/publish"),
        Call("GET", "/tiles"),
        Call("GET", "/tiles/{layer}.json"),
        Call("GET", "/tiles/{layer}/{z}/{x}/{y}.mvt"),
        Call("GET", "/ogc"),
        Call("GET", "/ogc/conformance"),
        Call("GET", "/ogc/collections"),
        Call("GET", "/ogc/collections/{collection_id}"),
        Call("GET", "/ogc/collections/{collection_id}/items", params={"limit": 5}),
        Call("GET", "/ogc/collections/{collection_id}/items/{feature_id}"),
    )
}
