"""``gridpatrol users …`` and ``purge-contacts`` against PostGIS; ``--json`` errors; unknown CRS."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app
from gis.reports.intake import ReportInput, submit_report
from gis.reports.lifecycle import transition_report
from gis.reports.photos import photo_file, store_photos
from tests.conftest import CATEGORIES, settings_for
from tests.gis.reports.test_photos import jpeg_with_gps

runner = CliRunner()
PASSWORD = "a long enough password"


def _invoke(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_users_add_list_token_disable(
    demo_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(demo_engine)
    code, out, err = _invoke(
        ["users", "add", "li", "--role", "dispatcher", "--scope", "990101"], PASSWORD + "\n"
    )
    assert code == 0, err
    assert "li: dispatcher, 990101" in out
    assert PASSWORD not in out + err
    code, out, _ = _invoke(
        ["users", "add", "wang", "--role", "worker", "--worker", "W-990101001001001", "--json"],
        PASSWORD + "\n",
    )
    assert code == 0 and json.loads(out)["worker_code"] == "W-990101001001001"
    code, out, _ = _invoke(["users", "list", "--json"])
    listed = {a["name"]: a for a in json.loads(out)}
    assert set(listed) == {"li", "wang"} and listed["li"]["last_login_at"] is None
    assert "password" not in out and "$argon2" not in out

    code, out, err = _invoke(["users", "token", "li", "--days", "90"])
    assert code == 0 and "valid until" in err
    token = out.strip()
    with TestClient(create_app(settings_for(demo_engine), engine=demo_engine)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/auth/me", headers=headers).json()["name"] == "li"
        signed = client.post("/auth/token", data={"username": "li", "password": PASSWORD})
        assert signed.status_code == 200
        assert _invoke(["users", "disable", "li"])[0] == 0
        assert client.get("/auth/me", headers=headers).status_code == 401
    code, out, _ = _invoke(["users", "token", "li", "--json"])
    assert code == 2 and json.loads(out)["detail"] == "account 'li' is disabled"


@pytest.mark.parametrize(
    ("args", "stdin", "exit_code", "error", "detail"),
    [
        (["--role", "mayor"], PASSWORD, 2, "InvalidInput", "role: unknown role 'mayor'"),
        (["--role", "admin"], "short", 2, "InvalidInput", "password: must be"),
        (["--role", "admin"], "", 2, "InvalidInput", "stdin is empty"),
        (["--role", "dispatcher", "--scope", "990199"], PASSWORD, 2, "InvalidInput", "no district"),
    ],
)
def test_users_add_refuses_bad_input_with_json_on_stdout(
    demo_engine: Engine,
    use_database: Callable[[Engine], None],
    args: list[str],
    stdin: str,
    exit_code: int,
    error: str,
    detail: str,
) -> None:
    use_database(demo_engine)
    code, out, err = _invoke(["users", "add", "li", *args, "--json"], stdin + "\n" if stdin else "")
    assert code == exit_code
    result = json.loads(out)
    assert result["ok"] is False and result["error"] == error and detail in result["detail"]
    assert result["exit_code"] == exit_code
    assert detail in err
    with demo_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_duplicate_account_is_a_conflict(
    demo_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(demo_engine)
    assert _invoke(["users", "add", "root", "--role", "admin"], PASSWORD + "\n")[0] == 0
    code, _, err = _invoke(["users", "add", "root", "--role", "admin"], PASSWORD + "\n")
    assert code == 5 and "an account named 'root' exists" in err


def _submit(engine: Engine, **contact: str) -> int:
    with engine.begin() as conn:
        submission = submit_report(
            conn,
            ReportInput(
                lat=30.65831, lon=104.04498, category="sanitation", description="d", **contact
            ),
            categories=CATEGORIES,
            # What older versions recorded as the intake event's actor.
            actor=contact.get("reporter_name", "resident"),
        )
    return int(submission.report["id"])


def test_purge_contacts_blanks_old_closed_reports_only(
    city_engine: Engine, use_database: Callable[[Engine], None]
) -> None:
    use_database(city_engine)
    contact = {
        "reporter_name": "Old Resident",
        "reporter_phone": "13700000000",
        "photo_url": "https://photos.example.cn/old.jpg",
    }
    old_closed, recent_closed, old_open = (_submit(city_engine, **contact) for _ in range(3))
    with city_engine.begin() as conn:
        for rid in (old_closed, recent_closed):
            transition_report(conn, rid, action="reject", actor="li", note="not ours")
        conn.execute(
            text("UPDATE reports SET closed_at = :at, reported_at = :at WHERE id IN (:a, :b)"),
            {"at": datetime.now(UTC) - timedelta(days=400), "a": old_closed, "b": old_open},
        )
    code, out, err = _invoke(["purge-contacts", "--older-than", "365", "--json"])
    assert code == 0, err
    assert json.loads(out) == {
        "reports": 1,
        "events": 1,
        "photos": 0,
        "photo_files": 0,
        "older_than_days": 365,
    }
    with city_engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT id, status, reporter_name, reporter_phone, photo_url, request_hash "
                    "FROM reports"
                )
            )
        }
        actors: dict[int, str] = dict(
            conn.execute(
                text(
                    "SELECT report_id, string_agg(actor, ',' ORDER BY id) FROM report_events "
                    "GROUP BY report_id"
                )
            ).all()
        )
    purged = rows[old_closed]
    assert (purged.reporter_name, purged.reporter_phone, purged.photo_url) == (None, None, None)
    assert purged.request_hash is None and purged.status == "rejected"  # the report stays
    assert actors[old_closed] == "resident,li"  # intake actor redacted, the rest kept
    for kept in (recent_closed, old_open):
        assert rows[kept].reporter_phone == "13700000000"
        assert actors[kept].startswith("Old Resident")
    # Again: nothing left to do. The trail stays append-only outside the purge.
    assert (
        json.loads(_invoke(["purge-contacts", "--older-than", "365", "--json"])[1])["reports"] == 0
    )
    with city_engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(
            text("UPDATE report_events SET actor = 'resident' WHERE report_id = :id"),
            {"id": old_open},
        )
    with city_engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("SET LOCAL gridpatrol.redact_contacts = 'on'"))
        conn.execute(
            text("UPDATE report_events SET note = 'rewritten' WHERE report_id = :id"),
            {"id": old_closed},
        )


def test_unknown_crs_is_rejected_and_json_says_so(
    empty_engine: Engine, use_database: Callable[[Engine], None], tmp_path: Path
) -> None:
    use_database(empty_engine)
    path = tmp_path / "districts.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::99999"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "990101", "name": "x"},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[104, 30], [104.1, 30], [104.1, 30.1], [104, 30]]],
                        },
                    }
                ],
            }
        )
    )
    code, out, err = _invoke(["load", str(path), "--layer", "districts", "--json"])
    assert code == 2
    result = json.loads(out)
    assert result["error"] == "ImportRejected" and "EPSG::99999" in result["detail"]
    assert "unknown CRS" in err
    plain = runner.invoke(app, ["load", str(path), "--layer", "districts"])
    assert plain.exit_code == 2 and plain.stdout == ""
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 0


def test_purge_contacts_deletes_the_residents_photos_not_the_works(
    city_engine: Engine,
    use_database: Callable[[Engine], None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A resident's photos go with their contact (rows and files); a file another report's
    photo shares stays, and so do the photos a worker took of the work."""
    use_database(city_engine)
    monkeypatch.setenv("GRIDPATROL_PHOTO_DIR", str(tmp_path))
    settings = settings_for(city_engine, photo_dir=tmp_path)
    old, recent = _submit(city_engine), _submit(city_engine)
    own, shared, work = (jpeg_with_gps((40 + 8 * i, 24)) for i in range(3))
    with city_engine.begin() as conn:
        for rid in (old, recent):
            transition_report(conn, rid, action="reject", actor="li", note="not ours")
        conn.execute(
            text("UPDATE reports SET closed_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC) - timedelta(days=400), "id": old},
        )
        ids = store_photos(conn, old, [own, shared], source="resident", settings=settings)
        ids += store_photos(conn, old, [work], source="worker", settings=settings)
        store_photos(conn, recent, [shared], source="resident", settings=settings)
        own_file, shared_file, work_file = (
            photo_file(
                tmp_path,
                *conn.execute(
                    text("SELECT sha256, content_type FROM report_photos WHERE id = :id"), {"id": i}
                ).one(),
            )
            for i in ids
        )
    assert own_file.exists() and shared_file.exists() and work_file.exists()
    code, out, err = _invoke(["purge-contacts", "--older-than", "365", "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert (result["reports"], result["photos"], result["photo_files"]) == (1, 2, 1)
    with city_engine.connect() as conn:
        left = conn.execute(
            text("SELECT report_id, source FROM report_photos ORDER BY report_id, source")
        ).all()
    assert [tuple(r) for r in left] == [(old, "worker"), (recent, "resident")]
    assert not own_file.exists()
    assert shared_file.exists() and work_file.exists()  # the recent report's, the work's
