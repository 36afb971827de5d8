"""The territory: districts → sub-districts → communities → grids, buildings, facilities and
roads; their codes, import, building assignment, topology checks, repair and cross-district
coverage."""
