"""Patrols: stops to visit, multi-patroller plans solved with PyVRP on street distances,
stored routes and stops, GPS tracks matched to grids, and per-grid patrol coverage."""
