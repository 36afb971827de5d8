"""The OpenAPI document tells the truth: every operation declares what it answers, the public
report has no personal field, and every GET on the demo city validates against its model."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine

from api.main import ROUTE_MODULES, create_app
from api.schemas.open311 import ServiceRequest
from api.schemas.reports import ReportProperties, ReportPublic
from tests.accounts import account_headers
from tests.conftest import demo_iso, settings_for
from tests.endpoints import SAMPLE_PHOTO

# Words no public field may contain (the reporter's name, phone or photo).
PERSONAL = ("reporter", "phone", "photo", "media_url", "contact", "head_name")


@pytest.fixture(scope="module")
def client(shared_demo_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings_for(shared_demo_engine), engine=shared_demo_engine)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_operation_declares_its_success_schema(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(spec):
        success = [v for k, v in operation["responses"].items() if k.startswith("2")]
        content = success[0].get("content", {}) if success else {}
        schemas = [media.get("schema") for media in content.values()]
        # A bare {} (FastAPI's "any JSON") says nothing about the answer.
        if not schemas or not all(schemas):
            missing.append(f"{method} {path}")
    assert missing == []
    assert len(_operations(spec)) >= 28


def test_map_pages_answer_html(spec: dict[str, Any]) -> None:
    for path in ("/maps/grids", "/maps/coverage", "/maps/hotspots"):
        answers = spec["paths"][path]["get"]["responses"]
        assert "text/html" in answers["200"]["content"]
        assert "503" in answers


def test_error_answers_are_documented_as_sent(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["properties"]["detail"]["type"] == "string"
    for method, path, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            if path.startswith("/app/") and "text/html" in answer.get("content", {}):
                # A refused sign-in answers the form again, saying why (api/pages/routes.py);
                # a desk action someone took first, the desk saying so (api/pages/dispatch.py), and
                # so the worker's page (api/pages/worker.py); so does a resident's refused report
                # or rating (api/pages/resident.py), and
                # the life circle page a limit or siting out of range, or a busy server
                # (api/pages/areas.py).
                desk = path.startswith(("/app/dispatch/", "/app/worker/")) and status == "409"
                # The desk says why it refused an action (a note missing) as a page too; a
                # malformed form stays the framework's JSON, documented beside it.
                desk = desk or (
                    path.startswith("/app/dispatch/")
                    and status == "422"
                    and "ValidationErrorBody" in str(answer["content"]["application/json"])
                )
                resident_page = path.startswith(("/app/report", "/app/follow")) and status in (
                    "400",
                    "404",
                    "409",
                )
                # The patrol leader's page says why it did not plan or publish.
                leader = path.startswith("/app/patrols") and status in ("404", "409", "422", "503")
                areas_page = path.startswith("/app/areas") and status in ("422", "503")
                assert status in ("401", "403") or desk or resident_page or leader or areas_page, (
                    f"{method} {path} {status}"
                )
            else:
                ref = str(answer["content"]["application/json"]["schema"])
                expected = "Open311Error" if path.startswith("/open311") else "Body"
                assert expected in ref, f"{method} {path} {status}: {ref}"
    assert "422" not in spec["paths"]["/open311/v2/requests.json"]["get"]["responses"]
    transition = spec["paths"]["/reports/{report_id}/transitions"]["post"]["responses"]
    assert "TransitionConflictBody" in str(transition["409"])


def _fields(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names |= {f"{n}" for n in _fields(field.annotation)}
    return names


@pytest.mark.parametrize("model", [ReportPublic, ReportProperties, ServiceRequest])
def test_public_models_have_no_personal_field(model: type[BaseModel]) -> None:
    leaked = [name for name in _fields(model) if any(word in name for word in PERSONAL)]
    assert leaked == []


def test_only_privileged_schemas_have_personal_fields(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    personal = {
        name
        for name, schema in schemas.items()
        if any(word in field for field in schema.get("properties", {}) for word in PERSONAL)
    }
    # What a resident sends (API, Open311 and the resident's page), what staff attach (photos,
    # also a worker's photo of the result on the worker's page), and what only accounts allowed
    # the personal data see: a report's contact, the staff directory, households. A resident
    # also adds photos from the report's follow-up link.
    assert personal == {
        "Body_add_photos_from_the_link_app_follow__token__photos_post",
        "Body_send_report_app_report_post",
        "Body_add_photos_reports__report_id__photos_post",
        "Body_report_action_app_worker_reports__report_id__post",
        "ReportCreate",
        "ServiceRequestForm",
        "ServiceRequestFormEncoded",  # the same, as a form (no nulls)
        "ReportPrivate",
        "ReporterContact",
        "Worker",
        "Household",
    }
    # And which operations answer with them: each declares the permission guarding them.
    answering = {
        (method, path)
        for method, path, operation in _operations(spec)
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        and any(name in str(answer) for name in ("ReportPrivate", "Worker"))
    }
    assert answering == {
        ("GET", "/workers"),
        ("POST", "/reports"),
        ("GET", "/reports/{report_id}"),
        ("POST", "/reports/{report_id}/transitions"),
    }
    households = {
        (method, path)
        for method, path, operation in _operations(spec)
        for status, answer in operation["responses"].items()
        if status.startswith("2") and "HouseholdPage" in str(answer)
    }
    assert households == {("GET", "/households")}


def test_version_comes_from_the_package(spec: dict[str, Any]) -> None:
    assert spec["info"]["version"] == metadata.version("gridpatrol")


def _sample_path(client: TestClient, path: str, report_id: int, plan_id: int) -> str:
    """``path`` with its parameters filled from the demo city's data."""
    grid = client.get("/grids", params={"limit": 1}).json()["features"][0]["id"]
    return (
        path.replace("{code}", str(grid))
        .replace("{report_id}", str(report_id))
        .replace("{service_request_id}", str(report_id))
        .replace("{service_code}", "parking")
        .replace("{plan_id}", str(plan_id))
        .replace("{collection_id}", "grids")
        .replace("{feature_id}", str(grid))
        .replace("{layer}", "grids")
        .replace("{household}", DEMO_HOUSEHOLD)
    )


# A household of the demo registry with a visit history.
DEMO_HOUSEHOLD = "H-0000004-0204"
# Fast but real settings for the heavier analyses.
QUERY = {"/analytics/hotspots": {"unit": "grid", "permutations": 99}}


def _get_routes() -> list[APIRoute]:
    routers = [module.router for module in ROUTE_MODULES]
    return [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    ]


def test_every_json_get_validates_against_its_model(
    demo_engine: Engine, spec: dict[str, Any]
) -> None:
    routes = _get_routes()
    documented = {path for path, operations in spec["paths"].items() if "get" in operations}
    assert {route.path for route in routes} == documented
    checked = []
    admin = account_headers(demo_engine, "root", "admin")
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as client:
        # A report of our own, so that it has events (imported history has none).
        report = {"lat": 30.66, "lon": 104.06, "category": "parking", "description": "a gate"}
        report_id = client.post("/reports", json=report).json()["id"]
        # A small stored patrol plan, so that /patrols lists one and /patrols/{id} finds it.
        plan = {
            "patrollers": [{"name": "Wang", "start": {"lon": 104.05, "lat": 30.66}}],
            "stops": {"points": [{"lon": 104.055, "lat": 30.661, "label": "gate"}]},
            "time_limit_s": 1,
        }
        plan_response = client.post("/patrols/plan", json=plan, headers=admin)
        assert plan_response.status_code == 201, plan_response.text
        plan_id = plan_response.json()["id"]
        # A photo of it, so that its photos are listed.
        photographed = client.post(
            f"/reports/{report_id}/photos", files=[SAMPLE_PHOTO], headers=admin
        )
        assert photographed.status_code == 201, photographed.text
        for route in routes:
            if route.response_model is None:  # the HTML pages, the binary tiles and photos
                assert route.path.startswith(("/maps/", "/app/")) or route.path.endswith(
                    (".mvt", "/photos/{photo_id}")
                )
                continue
            url = _sample_path(client, route.path, report_id, plan_id)
            params: dict[str, Any] = dict(QUERY.get(route.path, {}))
            if route.path == "/open311/v2/requests.json":
                params["start_date"] = demo_iso("2025-01-01T00:00:00+08:00")  # its first day
            # The privileged view (an admin of the whole city), then the anonymous one where
            # the policy lets anonymous callers read it at all.
            for headers in (admin, {}):
                response = client.get(url, params=params, headers=headers)
                if not headers and response.status_code == 401:
                    continue
                assert response.status_code == 200, f"{url}: {response.text[:300]}"
                body = response.json()
                assert body, url
                TypeAdapter(route.response_model).validate_python(body)
            checked.append(route.path)
    not_json = {
        path
        for path in documented
        if path.startswith(("/maps/", "/app/")) or path.endswith((".mvt", "/photos/{photo_id}"))
    }
    # The styled overlays the grids map fetches are JSON too.
    overlays = {"/maps/grids/problems", "/maps/grids/care-visits"}
    assert set(checked) == documented - not_json | overlays  # none skipped
