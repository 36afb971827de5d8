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
    Integer,
    String,
    Text,
    func,
)
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
