"""gridpatrol domain: grids, buildings, reports and patrols on PostGIS."""
