"""Tables of the routable street network, rebuilt from ``roads`` on every roads import.

``routing_vertices`` are the network's nodes (road ends and crossings, ends within the snap
tolerance merged into one); ``routing_edges`` are the noded road pieces between them, with
their length in metres from ``ST_Length(geom::geography)``. Both carry the connected
component they belong to (the smallest vertex id of the component, as pgRouting numbers it).
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, text
from sqlalchemy.orm import Mapped, mapped_column

from gis.core.models import SRID, Base


class RoutingVertex(Base):
    """A node of the street network."""

    __tablename__ = "routing_vertices"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    component: Mapped[int] = mapped_column(BigInteger, index=True)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class RoutingEdge(Base):
    """A noded street piece between two vertices; walkable both ways whatever ``oneway`` says."""

    __tablename__ = "routing_edges"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    road_id: Mapped[int] = mapped_column(ForeignKey("roads.id", ondelete="CASCADE"), index=True)
    source: Mapped[int] = mapped_column(
        ForeignKey("routing_vertices.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[int] = mapped_column(
        ForeignKey("routing_vertices.id", ondelete="CASCADE"), index=True
    )
    length_m: Mapped[float] = mapped_column(Float)
    # Traffic may only go source -> target (kept from the data; walking ignores it).
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    component: Mapped[int] = mapped_column(BigInteger, index=True)
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False)
    __table_args__ = (CheckConstraint("length_m >= 0", name="routing_edges_length_nonneg"),)
