"""Street routing: the roads layer as a pgRouting network (noded, snapped, in metres), its
connected components, points snapped onto it, and shortest-path matrices and paths."""
