"""Settings refuse what they cannot use, at start rather than at the first request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gis.core.settings import Settings


@pytest.mark.parametrize("value", ["proxy.internal", "127.0.0.1,nonsense", "10.0.0.0/33", "*"])
def test_trusted_proxies_must_be_addresses_or_networks(value: str) -> None:
    with pytest.raises(ValidationError, match="GRIDPATROL_TRUSTED_PROXIES"):
        Settings(trusted_proxies=value)


def test_trusted_proxies_default_to_none_and_are_listed() -> None:
    assert Settings().proxy_addresses == []
    given = Settings(trusted_proxies=" 127.0.0.1, ::1 ,10.0.0.0/8,")
    assert given.proxy_addresses == ["127.0.0.1", "::1", "10.0.0.0/8"]
