"""Spatial analysis of reports: Getis-Ord Gi* hot and cold spots."""
