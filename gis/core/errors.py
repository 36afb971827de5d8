"""Domain errors: each carries what the user must fix.

The API maps these to HTTP statuses in one table (``api/errors.py``); the CLI maps them to a
message and an exit code.
"""

from __future__ import annotations

from pydantic import ValidationError


class GridpatrolError(Exception):
    """Base of every error gridpatrol reports to a user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(GridpatrolError):
    """A requested object does not exist."""


class InvalidInput(GridpatrolError, ValueError):
    """A parameter is malformed or out of range."""


class NotEnoughData(InvalidInput):
    """An analysis was asked of too little data to mean anything (too few units or reports)."""


class InvalidBBox(InvalidInput):
    """A ``bbox`` parameter is not ``minx,miny,maxx,maxy`` in EPSG:4326."""


# A rejection's message lists this many problems; ``problems`` holds them all.
MAX_LISTED_PROBLEMS = 25


class InvalidParameter(InvalidInput):
    """A request parameter that standards answer with 400 (OGC API query parameters, tile
    coordinates): malformed, out of range, or not one the endpoint takes."""


class ImportRejected(GridpatrolError):
    """A file import was refused as a whole; nothing was written."""

    def __init__(self, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.problems = problems or []

    @classmethod
    def listing(cls, source: str, problems: list[str], *, noun: str = "feature") -> ImportRejected:
        """The refusal of ``source`` naming each problem (``noun``: what a line is about)."""
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        detail = (
            f"{source}: rejected, nothing was imported: {len(problems)} {noun}(s) with problems:"
            "\n  " + "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
        )
        return cls(detail, problems=problems)


class Conflict(GridpatrolError):
    """The request conflicts with the current state of stored data."""


class InvalidTransition(Conflict):
    """An action not allowed in a report's current state; names the state and allowed actions."""

    def __init__(
        self,
        detail: str,
        *,
        current_status: str,
        allowed_actions: list[str],
        current_version: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.current_status = current_status
        self.allowed_actions = allowed_actions
        self.current_version = current_version


class Unavailable(GridpatrolError):
    """Something gridpatrol needs is not there (a service, an installed file); says the fix."""


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or lacks a required extension."""


class Unauthorized(GridpatrolError):
    """No valid credentials where they are needed: sign in (``POST /auth/token``)."""


class Forbidden(GridpatrolError):
    """Signed in, but the account's role or scope does not allow this."""


class RateLimited(GridpatrolError):
    """Too many requests from one client; retry after ``retry_after_s`` seconds."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Busy(GridpatrolError):
    """The server is at its limit of heavy computations; retry after ``retry_after_s``."""

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


def validation_problems(exc: ValidationError, *, whole: str) -> str:
    """One line naming each field pydantic refused and why (``whole`` names the object itself)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}" for e in exc.errors()
    )
