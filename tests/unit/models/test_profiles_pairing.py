"""Complementarity-aware ordering and peak-increase first fit."""

import numpy as np
import pytest

from models.profiles.pairing import complementary_order, fit_cost, packing_affinity, peak_increase_fit


def day_night(n_pairs=3, t=24):
    hours = np.arange(t)
    day = np.where((hours >= 8) & (hours < 20), 6.0, 1.0)
    rows = []
    for k in range(n_pairs):
        rows += [day * (1 + 0.1 * k), (7.0 - day) * (1 + 0.1 * k)]
    demand = np.stack([np.array(rows), np.full((2 * n_pairs, t), 2.0)], axis=2)
    return demand  # rows 2k and 2k+1 are opposites


def test_order_puts_each_item_next_to_its_opposite():
    d = day_night()
    cap = np.array([[8.0, 32.0]])
    order = complementary_order(d, cap)
    assert sorted(order) == list(range(len(d)))
    for k in range(0, len(order), 2):
        assert {order[k] // 2} == {order[k + 1] // 2}


def test_affinity_is_highest_for_opposites():
    d = day_night(1)
    aff = packing_affinity(d, [8.0, 32.0])
    assert aff[0, 1] > 0.3 and aff[0, 0] == 0


def test_peak_increase_fit_pairs_opposites_and_respects_capacity():
    d = day_night()
    cap = np.array([[8.0, 32.0], [16.0, 64.0]])
    cost = np.array([100.0, 180.0])
    item_worker, worker_type = peak_increase_fit(d, cap, cost)
    for w, k in enumerate(worker_type):
        assert np.all(d[item_worker == w].sum(axis=0) <= cap[k] + 1e-9)
    # by peak each needs ~6-7 cores (two per 8-core server would not fit); by shape pairs share one
    assert fit_cost(worker_type, cost) <= 3 * 100.0
    with pytest.raises(ValueError, match="fits no server"):
        peak_increase_fit(d * 10, cap, cost)
