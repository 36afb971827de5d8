"""The 15-minute life circle: walk areas of facilities, the buildings beyond the walk limit
(and across which border they are served), and where new facilities help most."""
