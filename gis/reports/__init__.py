"""Reports: intake located by PostGIS, the lifecycle and its audit trail, categories and
deadlines, history import, KPIs, Open311 and the workers who answer them."""
