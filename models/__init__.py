"""Reusable mathematics of the planner: forecasting, packing, procurement.

Nothing here reads files, knows about scenarios or imports ``planner``.
"""
