"""The Why table's planned peak is a group's demand at its tier's quantile: on a chance-constrained
week the instance's ``demand`` is the mean, so the peak must add ``z sigma`` (it read the mean)."""

from types import SimpleNamespace

import numpy as np
from scipy.stats import norm

from models.packing.instance import PackingInstance, ServerType
from planner.review import _planned_peaks


def test_planned_peak_of_a_pooled_group_adds_z_sigma():
    demand = np.zeros((2, 3, 2))
    demand[:, :, 0] = [[4.0, 6.0, 5.0], [2.0, 2.0, 2.0]]
    sigma = np.zeros_like(demand)
    sigma[:, :, 0] = [[1.0, 0.5, 3.0], [0.0, 0.0, 0.0]]
    inst = PackingInstance(("a", "b"), tuple(range(3)), ("cpu_cores", "memory_gb"), demand,
                           (ServerType("s", (32.0, 128.0), 100.0),), sigma=sigma,
                           overflow_risk=np.array([0.01, 0.01]))
    peaks = _planned_peaks(SimpleNamespace(instance=inst))
    z = norm.isf(0.01)
    assert np.isclose(peaks["a"][0], max(4 + z, 6 + 0.5 * z, 5 + 3 * z))  # the last slot, not the mean's peak 6
    assert np.isclose(peaks["b"][0], 2.0)  # no spread: its demand
