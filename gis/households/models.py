"""Tables of households and their visits (migration 0014_households).

A household belongs to a building, and so to the building's grid, community and district; its
care flags (or ``visit_every_days``) set how often it is visited. Only ``met`` visits reset
that cadence. ``head_name``, ``phone``, ``members``, ``care`` and the visits' notes are personal
data: see ``gis.access.policy``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from gis.core.models import Base
from gis.core.vocabulary import CARE_FLAGS, VISIT_OUTCOMES, VisitOutcome, sql_list


class Household(Base):
    """A household living in a building, with its care flags and visit cadence."""

    __tablename__ = "households"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    unit: Mapped[str | None] = mapped_column(Text)
    head_name: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    members: Mapped[int | None] = mapped_column(Integer)
    care: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    # Explicit cadence; NULL: the shortest of the flags' (gis.core.vocabulary.CARE_VISIT_DAYS).
    visit_every_days: Mapped[int | None] = mapped_column(Integer)
    # Set when the household left the building: no cadence any more, and purgeable.
    moved_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint(
            f"care <@ ARRAY[{sql_list(CARE_FLAGS)}]::text[]", name="households_care_flags"
        ),
        CheckConstraint("members IS NULL OR members >= 0", name="households_members_nonneg"),
        CheckConstraint(
            "visit_every_days IS NULL OR visit_every_days > 0",
            name="households_visit_every_days_positive",
        ),
    )


class HouseholdVisit(Base):
    """One visit to a household: when, by whom, how it went."""

    __tablename__ = "household_visits"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    # The account that recorded it.
    recorded_by: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        CheckConstraint(
            f"outcome IN ({sql_list(VISIT_OUTCOMES)})", name="household_visits_outcome"
        ),
        Index("ix_household_visits_household_id", "household_id", "visited_at"),
        # The last "met" visit of each household: what the cadence counts from.
        Index(
            "ix_household_visits_met",
            "household_id",
            "visited_at",
            postgresql_where=text(f"outcome = '{VisitOutcome.MET}'"),
        ),
    )
