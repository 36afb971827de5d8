"""Report categories: the codes a report may carry (reconciled with the lifecycle's config)."""

from __future__ import annotations

from gis.errors import InvalidInput

CATEGORY_CODES: tuple[str, ...] = (
    "sanitation",
    "public_security",
    "neighbour_dispute",
    "parking",
    "building_leak",
    "road_damage",
    "waste_sorting",
    "elderly_care",
)


def validate_category(code: str) -> str:
    """``code`` when it is a known category; ``InvalidInput`` naming the allowed ones otherwise."""
    if code not in CATEGORY_CODES:
        raise InvalidInput(
            f"category: unknown category {code!r}; expected one of: {', '.join(CATEGORY_CODES)}"
        )
    return code
