"""Report categories and their deadlines, read from a TOML file and validated.

The bundled file is ``gis/reports/categories.toml``; ``GRIDPATROL_CATEGORIES_FILE`` names another.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis.core.errors import InvalidInput, NotFound

_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# The field's rule of thumb: someone is on site within 10 minutes, never later than a day.
_MAX_ARRIVAL_MINUTES = 24 * 60


class CategoryConfigError(InvalidInput):
    """The categories file is malformed; gridpatrol refuses to start with it."""


class Category(BaseModel):
    """A report category: arrival and resolution deadlines in minutes after the report."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str = Field(min_length=1)
    description: str = ""
    group: str = "general"
    arrival_minutes: int = Field(gt=0, le=_MAX_ARRIVAL_MINUTES)
    resolution_minutes: int = Field(gt=0)

    @model_validator(mode="after")
    def _resolution_after_arrival(self) -> Category:
        if not _CODE.match(self.code):
            raise ValueError(f"code {self.code!r} must be lower_snake_case (2-40 characters)")
        if self.resolution_minutes < self.arrival_minutes:
            raise ValueError("resolution_minutes must not be less than arrival_minutes")
        return self


def load_categories(path: Path) -> dict[str, Category]:
    """Read and validate a categories file; ``CategoryConfigError`` names the bad entry."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CategoryConfigError(f"{path}: cannot read categories: {exc}") from exc
    table = raw.get("categories")
    if not isinstance(table, dict) or not table:
        raise CategoryConfigError(f"{path}: no [categories.<code>] tables")
    categories: dict[str, Category] = {}
    for code, entry in table.items():
        if not isinstance(entry, dict):
            raise CategoryConfigError(f"{path}: categories.{code} must be a table")
        try:
            categories[code] = Category(code=code, **entry)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise CategoryConfigError(f"{path}: categories.{code}: {problems}") from exc
    return categories


@lru_cache(maxsize=8)
def get_categories(path: Path) -> dict[str, Category]:
    """The categories of ``path``, read and validated once per process."""
    return load_categories(path)


def get_category(code: str, *, path: Path) -> Category:
    """One category; ``NotFound`` listing the known codes."""
    categories = get_categories(path)
    try:
        return categories[code]
    except KeyError:
        raise NotFound(
            f"unknown category {code!r}; expected one of: {', '.join(categories)}"
        ) from None


def configured_categories() -> dict[str, Category]:
    """The categories of the file the settings name (``GRIDPATROL_CATEGORIES_FILE``)."""
    from gis.core.settings import get_settings

    return get_categories(get_settings().categories_file)


def category_codes() -> tuple[str, ...]:
    """Codes of the configured categories, in file order."""
    return tuple(configured_categories())


def validate_category(code: str) -> str:
    """``code`` when it is a configured category; ``InvalidInput`` naming the allowed ones."""
    codes = category_codes()
    if code not in codes:
        raise InvalidInput(
            f"category: unknown category {code!r}; expected one of: {', '.join(codes)}"
        )
    return code
