"""Signing keys and bearer tokens: made once and private, expiring, tamper-evident."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from gis.access.accounts import Account
from gis.access.tokens import (
    ALGORITHM,
    KEY_FILE_NAME,
    issue_token,
    signing_key,
    verify_token,
)
from gis.core.errors import InvalidInput, Unauthorized
from gis.core.settings import Settings

KEY = "k" * 48
NOW = datetime.now(UTC)
ACCOUNT = Account(
    id=7,
    name="li",
    role="dispatcher",
    scope_code="990101",
    disabled=False,
    token_generation=3,
    worker_code=None,
    created_at=NOW,
    updated_at=NOW,
    last_login_at=None,
)


def test_key_is_generated_once_private_and_shared_by_concurrent_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, secret_key=None)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: signing_key(settings), range(16)))
    assert len(keys) == 1
    key = keys.pop()
    assert len(key) >= 32
    path = home / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [KEY_FILE_NAME]  # no temporary left behind
    assert signing_key(settings) == key  # read again, not regenerated


def test_key_from_the_environment_must_be_long_enough(tmp_path: Path) -> None:
    assert signing_key(Settings(home=tmp_path, secret_key=KEY)) == KEY
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(InvalidInput, match="GRIDPATROL_SECRET_KEY: must be at least 32"):
        signing_key(Settings(home=tmp_path, secret_key="short"))


def test_a_token_names_its_account_and_generation() -> None:
    before = datetime.now(UTC)
    issued = issue_token(ACCOUNT, key=KEY, lifetime=timedelta(hours=8))
    claims = verify_token(issued.token, key=KEY)
    assert (claims.user_id, claims.token_generation, claims.name) == (7, 3, "li")
    lifetime = issued.expires_at - before
    assert timedelta(hours=7, minutes=59) < lifetime <= timedelta(hours=8, seconds=5)
    assert issue_token(ACCOUNT, key=KEY, lifetime=timedelta(hours=8)).token != issued.token


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    expired = jwt.encode(
        {"iss": "gridpatrol", "sub": "7", "name": "li", "gen": 3, "iat": 1, "exp": 2},
        KEY,
        algorithm=ALGORITHM,
    )
    with pytest.raises(Unauthorized, match="expired"):
        verify_token(expired, key=KEY)
    good = issue_token(ACCOUNT, key=KEY, lifetime=timedelta(hours=1)).token
    header, payload, signature = good.split(".")
    forged = jwt.encode(
        {"iss": "gridpatrol", "sub": "1", "name": "root", "gen": 0, "iat": 1, "exp": 2**40},
        KEY,
        algorithm=ALGORITHM,
    ).split(".")[1]
    unsigned = jwt.encode(
        {"iss": "gridpatrol", "sub": "1", "gen": 0, "name": "x", "iat": 1, "exp": 2**40},
        None,
        algorithm="none",
    )
    for bad in (
        f"{header}.{forged}.{signature}",  # payload swapped under the old signature
        issue_token(ACCOUNT, key="other" * 10, lifetime=timedelta(hours=1)).token,
        unsigned,  # alg=none
        "not.a.token",
        "",
    ):
        with pytest.raises(Unauthorized, match="invalid"):
            verify_token(bad, key=KEY)
    with pytest.raises(InvalidInput, match="days"):
        issue_token(ACCOUNT, key=KEY, lifetime=timedelta(days=5000))
