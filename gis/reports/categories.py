"""Report categories and their deadlines, read from a TOML file and validated.

The bundled file is ``gis/reports/categories.toml``; ``GRIDPATROL_CATEGORIES_FILE`` names another.
Nothing here reads the settings: whoever starts (the app, a CLI command) loads the file the
settings name once and passes the categories to every function that needs them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis.core.errors import InvalidInput, validation_problems

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
            problems = validation_problems(exc, whole="entry")
            raise CategoryConfigError(f"{path}: categories.{code}: {problems}") from exc
    return categories


@lru_cache(maxsize=8)
def get_categories(path: Path) -> dict[str, Category]:
    """The categories of ``path``, read and validated once per process."""
    return load_categories(path)


def validate_categories(codes: Sequence[str], categories: dict[str, Category]) -> tuple[str, ...]:
    """The distinct ``codes``, sorted; ``InvalidInput`` naming the first unknown one."""
    unknown = [code for code in codes if code not in categories]
    if unknown:
        raise InvalidInput(
            f"category: unknown category {unknown[0]!r}; expected one of: {', '.join(categories)}"
        )
    return tuple(sorted(set(codes)))
