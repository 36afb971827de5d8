"""gridpatrol domain: grids, buildings, reports and patrols on PostGIS.

Subpackages, one per part of the product:

- ``gis.core`` — settings, database, embedded cluster, tables, vocabulary, errors;
- ``gis.territory`` — the administrative hierarchy and the built environment;
- ``gis.reports`` — residents' reports from intake to closure;
- ``gis.analysis`` — hot spots of reports.

``gis.city`` loads a whole city directory (the demo city) layer by layer. This package never
imports the web layer.
"""
