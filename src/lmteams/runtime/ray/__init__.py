"""Scale-out on Ray: one actor per group of nodes, placement, recovery and a cluster to join.

Importing this package does not import Ray; ``lmteams.runtime.ray.runtime.runtime`` does (the ``ray``
extra).
"""
