"""Tables of patrol plans, their routes and stops, GPS tracks and what they covered.

A plan holds one route per patroller; a stop is either on a route (``route_id``, ``seq``,
arrival times) or unserved with its ``reason``. Routes and tracks know the grids (and routes the
districts) they pass with the metres in each, from ``ST_Length(geography)`` of the parts.
Tracks are ``LINESTRINGM`` whose M is the GPS time (Unix seconds), so time spent per grid is
interpolated along the line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

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
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis.core.models import SRID, Base
from gis.core.vocabulary import sql_list
from gis.patrols.kinds import KIND_CODES
from gis.patrols.reasons import UNSERVED_CODES
from gis.patrols.request import Mode, Objective

TrackSource = Literal["gpx", "geojson"]
PLAN_MODES: tuple[str, ...] = get_args(Mode)
OBJECTIVES: tuple[str, ...] = get_args(Objective)
TRACK_SOURCES: tuple[str, ...] = get_args(TrackSource)


class PatrolPlan(Base):
    """A solved plan: when it starts, how it was asked for, and its totals."""

    __tablename__ = "patrol_plans"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(Text)
    # What the plan minimised (migration 0007; plans before it were all "shortest").
    objective: Mapped[str] = mapped_column(Text, server_default=text("'shortest'"))
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    walk_speed_kmh: Mapped[float] = mapped_column(Float)
    total_length_m: Mapped[float] = mapped_column(Float)
    total_minutes: Mapped[float] = mapped_column(Float)
    served: Mapped[int] = mapped_column(Integer)
    unserved: Mapped[int] = mapped_column(Integer)
    # Required stops the shifts had no room for, and the patroller-hours they would take.
    over_capacity: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    missing_patroller_hours: Mapped[float] = mapped_column(Float, server_default=text("0"))
    # With compare=true the other mode's plan is stored too, pointing at the one asked for.
    alternative_of: Mapped[int | None] = mapped_column(
        ForeignKey("patrol_plans.id", ondelete="CASCADE"), index=True
    )
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    comparison: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    __table_args__ = (
        CheckConstraint(f"mode IN ({sql_list(PLAN_MODES)})", name="patrol_plans_mode"),
        CheckConstraint(f"objective IN ({sql_list(OBJECTIVES)})", name="patrol_plans_objective"),
    )


class PatrolRoute(Base):
    """One patroller's walk: from start through its stops to the end, along the streets."""

    __tablename__ = "patrol_routes"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("patrol_plans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    patroller_name: Mapped[str] = mapped_column(Text)
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("workers.id", ondelete="SET NULL"), index=True
    )
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), index=True)
    shift_minutes: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    duration_minutes: Mapped[float] = mapped_column(Float)
    depart_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    return_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    start_geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    end_geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    # NULL for a patroller given no stop (it stays at its start).
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True))
    # Handed to the patroller's worker account (POST /patrols/{id}/publish; migration 0007).
    published_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("plan_id", "seq", name="patrol_routes_plan_seq"),)


class PatrolStop(Base):
    """A stop of a plan: visited on a route in order, or unserved with the reason why."""

    __tablename__ = "patrol_stops"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_plans.id", ondelete="CASCADE"), index=True
    )
    route_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_routes.id", ondelete="CASCADE"))
    seq: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)
    ref: Mapped[str] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float] = mapped_column(Float)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("reports.id", ondelete="SET NULL"), index=True
    )
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="SET NULL"), index=True
    )
    building_id: Mapped[int | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="SET NULL"), index=True
    )
    grid_code: Mapped[str | None] = mapped_column(
        ForeignKey("grids.code", ondelete="SET NULL"), index=True
    )
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), index=True)
    service_minutes: Mapped[float] = mapped_column(Float)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    arrive_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    depart_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    late: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    late_minutes: Mapped[float] = mapped_column(Float, server_default=text("0"))
    # Metres from the stop to the street point it is reached at (walked there and back).
    snap_distance_m: Mapped[float | None] = mapped_column(Float)
    # Why it is unserved: a code (``gis.patrols.reasons.UnservedCode``) and the detail.
    reason_code: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (
        CheckConstraint(f"kind IN ({sql_list(KIND_CODES)})", name="patrol_stops_kind"),
        CheckConstraint(
            f"reason_code IN ({sql_list(UNSERVED_CODES)})", name="patrol_stops_reason_code"
        ),
        CheckConstraint(
            "(route_id IS NULL) = (seq IS NULL) AND (route_id IS NULL) = (reason IS NOT NULL) "
            "AND (reason IS NULL) = (reason_code IS NULL)",
            name="patrol_stops_served_or_reason",
        ),
        UniqueConstraint("route_id", "seq", name="patrol_stops_route_seq"),
    )


class PatrolRouteGrid(Base):
    """Metres of a route inside one grid."""

    __tablename__ = "patrol_route_grids"
    route_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_routes.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grids.code", ondelete="CASCADE"), primary_key=True, index=True
    )
    length_m: Mapped[float] = mapped_column(Float)


class PatrolRouteDistrict(Base):
    """Metres of a route inside one district."""

    __tablename__ = "patrol_route_districts"
    route_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_routes.id", ondelete="CASCADE"), primary_key=True
    )
    district_code: Mapped[str] = mapped_column(
        ForeignKey("districts.code", ondelete="CASCADE"), primary_key=True, index=True
    )
    length_m: Mapped[float] = mapped_column(Float)


class PatrolTrack(Base):
    """A GPS track walked for a plan (M = Unix seconds), with its time span and length."""

    __tablename__ = "patrol_tracks"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_plans.id", ondelete="CASCADE"), index=True
    )
    route_id: Mapped[int | None] = mapped_column(
        ForeignKey("patrol_routes.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    points: Mapped[int] = mapped_column(Integer)
    length_m: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # SHA-256 of the fixes: the same track uploaded again for the plan is this one.
    content_sha256: Mapped[str | None] = mapped_column(Text)
    # The radius its stops were matched with (metres).
    radius_m: Mapped[float] = mapped_column(Float, server_default=text("50"))
    geom = mapped_column(
        Geometry("LINESTRINGM", srid=SRID, dimension=3, spatial_index=True), nullable=False
    )
    __table_args__ = (
        CheckConstraint(f"source IN ({sql_list(TRACK_SOURCES)})", name="patrol_tracks_source"),
        CheckConstraint("ended_at >= started_at", name="patrol_tracks_time_order"),
        CheckConstraint("content_sha256 ~ '^[0-9a-f]{64}$'", name="patrol_tracks_content_sha256"),
        CheckConstraint("radius_m > 0 AND radius_m <= 1000", name="patrol_tracks_radius"),
        UniqueConstraint("plan_id", "content_sha256", name="patrol_tracks_plan_content"),
    )


class PatrolTrackGrid(Base):
    """Metres and minutes a track spent inside one grid, and when."""

    __tablename__ = "patrol_track_grids"
    track_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_tracks.id", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(
        ForeignKey("grids.code", ondelete="CASCADE"), primary_key=True, index=True
    )
    length_m: Mapped[float] = mapped_column(Float)
    minutes: Mapped[float] = mapped_column(Float)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PatrolTrackStop(Base):
    """Whether a track passed a planned stop (within the match radius), when and how close."""

    __tablename__ = "patrol_track_stops"
    track_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_tracks.id", ondelete="CASCADE"), primary_key=True
    )
    stop_id: Mapped[int] = mapped_column(
        ForeignKey("patrol_stops.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    passed: Mapped[bool] = mapped_column(Boolean)
    passed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    distance_m: Mapped[float | None] = mapped_column(Float)
