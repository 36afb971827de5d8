"""Folium map builders: each takes data and returns a ``folium.Map``; ``maps.assets`` makes
the page work offline."""
