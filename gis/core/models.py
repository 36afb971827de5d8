"""Tables of the administrative hierarchy, the built environment and reports.

Every geometry is stored in EPSG:4326 with a GiST index; metric values are computed through
geography (or a projected CRS) where they are needed, never in degrees.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis.core.vocabulary import (
    CODE_DIGITS,
    ESCALATION_ORDER,
    LEVEL_TABLE,
    PARENT_LEVEL,
    PHOTO_CONTENT_TYPES,
    PHOTO_SOURCES,
    STATUSES,
    WORKER_ROLES,
    Level,
    ReportStatus,
    code_column,
    sql_list,
)

SRID = 4326


def _code(level: Level) -> String:
    """The type of a code of ``level``: as many characters as its digits."""
    return String(CODE_DIGITS[level])


def _code_checks(level: Level) -> tuple[CheckConstraint, ...]:
    """A unit's code has its level's digits and starts with its parent's code."""
    table = LEVEL_TABLE[level]
    checks = [
        CheckConstraint(rf"code ~ '^\d{{{CODE_DIGITS[level]}}}$'", name=f"{table}_code_format")
    ]
    parent = PARENT_LEVEL.get(level)
    if parent is not None:
        checks.append(
            CheckConstraint(
                f"left(code, {CODE_DIGITS[parent]}) = {code_column(parent)}",
                name=f"{table}_code_prefix",
            )
        )
    return tuple(checks)


def _geography_index(table: str) -> Index:
    """GiST on ``geom::geography``: lets ``ST_DWithin(geom::geography, …, metres)`` use it."""
    return Index(f"idx_{table}_geog", text("(geom::geography)"), postgresql_using="gist")


class Base(DeclarativeBase):
    pass


class District(Base):
    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(_code(Level.DISTRICT), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (*_code_checks(Level.DISTRICT), _geography_index("districts"))


class Subdistrict(Base):
    __tablename__ = "subdistricts"
    code: Mapped[str] = mapped_column(_code(Level.SUBDISTRICT), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = _code_checks(Level.SUBDISTRICT)


class Community(Base):
    __tablename__ = "communities"
    code: Mapped[str] = mapped_column(_code(Level.COMMUNITY), primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(ForeignKey("subdistricts.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (*_code_checks(Level.COMMUNITY), _geography_index("communities"))


class Grid(Base):
    __tablename__ = "grids"
    code: Mapped[str] = mapped_column(_code(Level.GRID), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = _code_checks(Level.GRID)


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    floors: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    residents: Mapped[int | None] = mapped_column(Integer)
    # Assigned from location: the grid holding the largest share of the footprint.
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code", ondelete="SET NULL"), index=True
    )
    grid_share: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (
        _geography_index("buildings"),
        CheckConstraint("floors IS NULL OR floors >= 0", name="buildings_floors_nonneg"),
        CheckConstraint(
            "households IS NULL OR households >= 0", name="buildings_households_nonneg"
        ),
        CheckConstraint("residents IS NULL OR residents >= 0", name="buildings_residents_nonneg"),
        # Grid tiles count buildings and residents per grid from this index alone (0006).
        Index("ix_buildings_grid_code_residents", "grid_code", postgresql_include=["residents"]),
    )


class Facility(Base):
    __tablename__ = "facilities"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code", ondelete="SET NULL"), index=True
    )
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class Road(Base):
    __tablename__ = "roads"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    # md5 of the geometry's WKB: re-importing the same network adds no duplicate segments.
    geom_hash: Mapped[str] = mapped_column(Text, unique=True)
    length_m: Mapped[float] = mapped_column(Float)
    # Traffic may go only in the line's direction (migration 0004); walking ignores it.
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Loaded with --node-crossings: drawn data whose junctions have no shared vertex, so its
    # crossings with roads of the same level are junctions (migration 0007).
    node_crossings: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Grade: the file's layer, else +1 for a bridge, -1 for a tunnel, 0 (migration 0007).
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False)


class Report(Base):
    """An issue reported at a point, located in the hierarchy by PostGIS."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category: Mapped[str] = mapped_column(Text, index=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(Text, index=True, server_default=ReportStatus.REPORTED)
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    located: Mapped[bool] = mapped_column(Boolean, server_default=false())
    district_code: Mapped[str | None] = mapped_column(_code(Level.DISTRICT), index=True)
    subdistrict_code: Mapped[str | None] = mapped_column(_code(Level.SUBDISTRICT))
    community_code: Mapped[str | None] = mapped_column(_code(Level.COMMUNITY), index=True)
    grid_code: Mapped[str | None] = mapped_column(_code(Level.GRID), index=True)
    building_id: Mapped[int | None] = mapped_column(BigInteger)
    # Source system id or content hash of an imported history row (re-import is idempotent).
    external_id: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    # Lifecycle (migration 0002): see gis/reports/actions.py for the state machine.
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)
    building_distance_m: Mapped[float | None] = mapped_column(Float)
    due_arrival_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    escalation_level: Mapped[str] = mapped_column(Text, server_default=Level.GRID)
    responsible_code: Mapped[str | None] = mapped_column(Text)
    coordinating_community_code: Mapped[str | None] = mapped_column(_code(Level.COMMUNITY))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    __table_args__ = (
        CheckConstraint(f"status IN ({sql_list(STATUSES)})", name="reports_status"),
        # Unique indexes, not constraints: any number of NULLs (reports without a key or an
        # external id) pass, and ON CONFLICT (column) finds them.
        Index("ux_reports_idempotency_key", "idempotency_key", unique=True),
        Index("ux_reports_external_id", "external_id", unique=True),
        _geography_index("reports"),
        CheckConstraint(
            f"escalation_level IN ({sql_list(ESCALATION_ORDER)})", name="reports_escalation_level"
        ),
    )


class ReportEvent(Base):
    """One transition of a report: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "report_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    action: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSONB, server_default="{}")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The audit trail of one report, in order.
    __table_args__ = (Index("ix_report_events_report_id", "report_id", "id"),)


class ReportFollowup(Base):
    """A resident's follow-up link of a report (only its token's SHA-256) and the rating of
    the outcome once closed (migration 0015)."""

    __tablename__ = "report_followups"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    rating_note: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("token_sha256 ~ '^[0-9a-f]{64}$'", name="report_followups_token"),
        CheckConstraint("(satisfied IS NULL) = (rated_at IS NULL)", name="report_followups_rating"),
        CheckConstraint(
            "rating_note IS NULL OR satisfied IS NOT NULL", name="report_followups_note"
        ),
        Index("ux_report_followups_token", "token_sha256", unique=True),
    )


class ReportPhoto(Base):
    """A photo of a report: its file lives under the photo directory, named by ``sha256``
    (gis/reports/photos.py; migration 0016)."""

    __tablename__ = "report_photos"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    sha256: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("report_events.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="report_photos_sha256"),
        CheckConstraint(
            f"content_type IN ({sql_list(PHOTO_CONTENT_TYPES)})", name="report_photos_content_type"
        ),
        CheckConstraint(f"source IN ({sql_list(PHOTO_SOURCES)})", name="report_photos_source"),
        CheckConstraint("bytes > 0 AND width > 0 AND height > 0", name="report_photos_dimensions"),
    )


class Worker(Base):
    """A grid worker, party member or building leader who answers reports in their grids."""

    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (CheckConstraint(f"role IN ({sql_list(WORKER_ROLES)})", name="workers_role"),)


class WorkerGrid(Base):
    """Which grids a worker serves."""

    __tablename__ = "worker_grids"
    worker_id: Mapped[int] = mapped_column(
        ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grids.code", ondelete="CASCADE"), primary_key=True, index=True
    )


class LayerVersion(Base):
    """How often a source table of the published layers changed (tile and OGC ETags).

    Bumped by the statement-level trigger ``bump_layer_version`` on each source table
    (migration 0006), inside the writing transaction.
    """

    __tablename__ = "layer_versions"
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    """An account that signs in: worker, dispatcher, analyst or admin (see gis/access/policy.py).

    ``token_generation`` is part of every token; raising it (disable, new password) voids
    the account's tokens at once.
    """

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    # A district, sub-district, community or grid code; empty: the whole city.
    scope_code: Mapped[str] = mapped_column(Text, server_default="")
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    token_generation: Mapped[int] = mapped_column(Integer, server_default="0")
    # Worker accounts: the imported worker whose grids they reach.
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("role IN ('worker', 'dispatcher', 'analyst', 'admin')", name="users_role"),
        CheckConstraint(
            r"scope_code ~ '^(\d{6}|\d{9}|\d{12}|\d{15})?$'", name="users_scope_code_format"
        ),
        CheckConstraint("char_length(name) BETWEEN 1 AND 64", name="users_name_length"),
    )
