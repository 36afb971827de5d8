"""Every table of gridpatrol on one metadata, for Alembic and the migration drift test.

The core's tables live in ``gis.core.models``; each part keeps its own beside its SQL
(``gis.routing.models``, ``gis.patrols.models``, ``gis.households.models``). Importing this
module registers them all.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from gis.core.models import Base
from gis.households import models as household_models
from gis.patrols import models as patrol_models
from gis.routing import models as routing_models

# The parts' modules, imported for their side effect: their tables join ``Base.metadata``.
PART_MODELS = (routing_models, patrol_models, household_models)
metadata: MetaData = Base.metadata
