"""Packing function groups onto workers by the shape of their demand.

The public entry points are :class:`~models.packing.instance.PackingInstance`,
:func:`~models.packing.solve.solve_packing`, :func:`~models.packing.verify.find_violations`,
the bounds in :mod:`models.packing.bounds` and :func:`~models.packing.explain.explain_infeasibility`.
"""
