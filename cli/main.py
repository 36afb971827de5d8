"""The ``gridpatrol`` command line: thin wrappers over the domain functions in ``gis``.

Each topic's commands live in their own module and register on the shared ``app``.
"""

from __future__ import annotations

from typing import Any

import cli.data  # noqa: F401  (registers db, load, demo, serve)
import cli.hotspots  # noqa: F401  (registers hotspots)
import cli.maps  # noqa: F401  (registers map grids|coverage|hotspots)
import cli.patrols  # noqa: F401  (registers plan-patrols, map patrols)
import cli.service_areas  # noqa: F401  (registers service-areas, site-stations, map service-areas)
import cli.topology  # noqa: F401  (registers validate, repair)
import cli.users  # noqa: F401  (users, purge-contacts, purge-households)
from cli.app import app

__all__ = ["app", "main"]


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
