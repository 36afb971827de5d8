"""A resident's follow-up link never reaches the server's log: ``gridpatrol serve`` writes the
path of ``/app/follow/{token}`` with the token cut to its first characters."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import text

from api.accesslog import MaskFollowupTokens, mask_tokens, with_masked_tokens
from api.pages.resident import FOLLOW_PATH
from gis.reports.followup import issue_followup
from tests.live import serve_process, server_env

TOKEN = "Zq3x9fJk2LmNoPqRsTuVwXyZ0123456789abcdEFGH"


def test_the_token_is_cut_to_four_characters_wherever_it_appears() -> None:
    assert FOLLOW_PATH + "/" == "/app/follow/"
    assert mask_tokens(f"/app/follow/{TOKEN}") == "/app/follow/Zq3x…"
    assert mask_tokens(f"/app/follow/{TOKEN}?sent=1&lang=en") == "/app/follow/Zq3x…?sent=1&lang=en"
    assert mask_tokens(f'"GET /app/follow/{TOKEN} HTTP/1.1" 200') == (
        '"GET /app/follow/Zq3x… HTTP/1.1" 200'
    )
    # Other paths, and a token too short to cut, stay as they are.
    assert mask_tokens("/app/report?lang=en") == "/app/report?lang=en"
    assert mask_tokens("/app/follow/abc") == "/app/follow/abc"


def test_the_filter_rewrites_uvicorns_access_record(caplog: Any) -> None:
    # uvicorn.protocols.http: '%s - "%s %s HTTP/%s" %d' with the path as the third argument.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/app/follow/{TOKEN}?lang=en", "1.1", 303),
        None,
    )
    assert MaskFollowupTokens().filter(record) is True
    assert record.getMessage() == '127.0.0.1:5000 - "POST /app/follow/Zq3x…?lang=en HTTP/1.1" 303'
    config = with_masked_tokens({"version": 1, "handlers": {"a": {"class": "x"}}})
    assert config["handlers"]["a"]["filters"] == ["mask_followup_tokens"]


def test_the_served_access_log_has_no_follow_up_token(
    pg_server: Any, templates: dict[str, str], tmp_path: Path
) -> None:
    from tests.conftest import fresh_database

    for engine in fresh_database(pg_server, templates["demo"]):
        with engine.begin() as conn:
            report_id = conn.execute(text("SELECT min(id) FROM reports")).scalar_one()
            token = issue_followup(conn, int(report_id))
        log = tmp_path / "serve.log"
        with serve_process(server_env(engine), log) as base:
            page = httpx2.get(f"{base}/app/follow/{token}?lang=en", timeout=30)
            assert page.status_code == 200 and 'id="status"' in page.text
            # uvicorn writes the line once the answer is sent: wait for it.
            deadline = time.monotonic() + 10
            while "/app/follow/" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        written = log.read_text()
        assert f"GET /app/follow/{token[:4]}…?lang=en HTTP/1.1" in written, written[-2000:]
        assert token not in written and token[4:12] not in written
