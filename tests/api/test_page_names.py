"""Every workflow code the pages show has its name, translated in every catalog: a new
status or action cannot reach a page as a bare code."""

from __future__ import annotations

import pytest

from api.pages.i18n import translations
from api.pages.names import ACTION_NAMES, EVENT_NAMES, RESIDENT_STATUS_NAMES, STATUS_NAMES
from gis.core.vocabulary import STATUSES
from gis.reports.actions import ACTIONS

# The event that opens every report's trail (gis/reports/intake.py), besides the actions.
INTAKE_EVENT = "report"


def test_every_status_action_and_event_has_a_name() -> None:
    assert set(STATUS_NAMES) == set(STATUSES)
    assert set(RESIDENT_STATUS_NAMES) == set(STATUSES)
    assert set(ACTION_NAMES) == set(ACTIONS)
    assert set(EVENT_NAMES) == {INTAKE_EVENT, *ACTIONS}


@pytest.mark.parametrize(
    "names",
    [STATUS_NAMES, RESIDENT_STATUS_NAMES, ACTION_NAMES, EVENT_NAMES],
    ids=["statuses", "resident statuses", "actions", "events"],
)
def test_every_name_is_translated_into_chinese(names: dict[str, str]) -> None:
    zh = translations("zh_CN")
    untranslated = [m for m in names.values() if zh.gettext(m) == m]
    assert untranslated == []
