"""Shape profiles of demand series: features, embeddings, clusters and complementarity.

Every function here takes a matrix ``values`` of shape ``[series x slots]`` (non-negative,
finite) and, where the calendar matters, the slots' start times ``timestamps`` (``datetime64``,
one per column, evenly spaced). Nothing here reads files or imports ``planner``.
"""
