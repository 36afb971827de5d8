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
    Integer,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326


class Base(DeclarativeBase):
    pass


class District(Base):
    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (CheckConstraint(r"code ~ '^\d{6}$'", name="districts_code_format"),)


class Subdistrict(Base):
    __tablename__ = "subdistricts"
    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (
        CheckConstraint(r"code ~ '^\d{9}$'", name="subdistricts_code_format"),
        CheckConstraint("left(code, 6) = district_code", name="subdistricts_code_prefix"),
    )


class Community(Base):
    __tablename__ = "communities"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    subdistrict_code: Mapped[str] = mapped_column(ForeignKey("subdistricts.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (
        CheckConstraint(r"code ~ '^\d{12}$'", name="communities_code_format"),
        CheckConstraint("left(code, 9) = subdistrict_code", name="communities_code_prefix"),
    )


class Grid(Base):
    __tablename__ = "grids"
    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (
        CheckConstraint(r"code ~ '^\d{15}$'", name="grids_code_format"),
        CheckConstraint("left(code, 12) = community_code", name="grids_code_prefix"),
    )


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
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
        CheckConstraint("floors IS NULL OR floors >= 0", name="buildings_floors_nonneg"),
        CheckConstraint(
            "households IS NULL OR households >= 0", name="buildings_households_nonneg"
        ),
        CheckConstraint("residents IS NULL OR residents >= 0", name="buildings_residents_nonneg"),
    )


class Facility(Base):
    __tablename__ = "facilities"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str | None] = mapped_column(Text)
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code", ondelete="SET NULL"), index=True
    )
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class Road(Base):
    __tablename__ = "roads"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(Text)
    # md5 of the geometry's WKB: re-importing the same network adds no duplicate segments.
    geom_hash: Mapped[str] = mapped_column(Text, unique=True)
    length_m: Mapped[float] = mapped_column(Float)
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False)


class Report(Base):
    """An issue reported at a point, located in the hierarchy by PostGIS."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(Text, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(Text, index=True, default="reported")
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    located: Mapped[bool] = mapped_column(Boolean, default=False)
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    subdistrict_code: Mapped[str | None] = mapped_column(String(9))
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    building_id: Mapped[int | None] = mapped_column(BigInteger)
    # Source system id or content hash of an imported history row (re-import is idempotent).
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    # Lifecycle (migration 0002): see gis/lifecycle.py for the state machine.
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    photo_url: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text, unique=True)
    request_hash: Mapped[str | None] = mapped_column(Text)
    building_distance_m: Mapped[float | None] = mapped_column(Float)
    due_arrival_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_resolution_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    escalation_level: Mapped[str] = mapped_column(Text, default="grid")
    responsible_code: Mapped[str | None] = mapped_column(Text)
    coordinating_community_code: Mapped[str | None] = mapped_column(String(12))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"), index=True)
    __table_args__ = (
        CheckConstraint(
            "status IN ('reported', 'accepted', 'rejected', 'duplicate', 'dispatched', "
            "'in_progress', 'resolved', 'verified', 'closed')",
            name="reports_status",
        ),
        CheckConstraint(
            "escalation_level IN ('grid', 'community', 'subdistrict', 'district')",
            name="reports_escalation_level",
        ),
    )


class ReportEvent(Base):
    """One transition of a report: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "report_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    action: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSONB, server_default="{}")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Worker(Base):
    """A grid worker, party member or building leader who answers reports in their grids."""

    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(
            "role IN ('grid_worker', 'party_member', 'building_leader')", name="workers_role"
        ),
    )


class WorkerGrid(Base):
    """Which grids a worker serves."""

    __tablename__ = "worker_grids"
    worker_id: Mapped[int] = mapped_column(
        ForeignKey("workers.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grids.code", ondelete="CASCADE"), primary_key=True, index=True
    )


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
