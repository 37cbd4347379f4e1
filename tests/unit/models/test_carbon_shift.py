"""Carbon-aware shifting (issue 17 with issue 16's deferral): a cost per slot in the deferral LP
moves lax work towards cheap (clean) hours inside its window, never against its peak rate."""

import numpy as np

from models.deferral import check_reshape, reshape_lax


def _case():
    # One lax group: bursts of 1 core in slots 0, 2, 4 and 6 (peak rate 1), may wait up to 3 slots.
    demand = np.zeros((1, 8, 2))
    demand[0, [0, 2, 4, 6], 0] = 1.0
    demand[0, :, 1] = 0.5 * demand[0, :, 0]  # one flow moves a slot's CPU and memory together
    return demand, np.array([3])


CLEAN = np.array([False, False, False, True, False, False, False, True])  # hours 3 and 7 are clean


def test_a_small_slot_cost_picks_the_clean_schedule_among_equally_flat_ones():
    demand, window = _case()
    cost = np.where(CLEAN, 0.0, 1e-4)  # far below the value of a lower peak: a tie-break
    plain = reshape_lax(demand, window, objective="own")
    shifted = reshape_lax(demand, window, objective="own", slot_cost=cost)
    peak = lambda r: r.demand[0, :, 0].max()  # noqa: E731
    assert abs(peak(shifted) - peak(plain)) < 1e-9  # the peaks come first
    assert (cost * shifted.demand[0, :, 0]).sum() <= (cost * plain.demand[0, :, 0]).sum() + 1e-12
    assert not check_reshape(demand, shifted.demand, window)  # conservation, arrival, deadline, peak rate


def test_a_large_slot_cost_fills_the_clean_hours_up_to_the_peak_rate():
    demand, window = _case()
    shifted = reshape_lax(demand, window, objective="own", slot_cost=np.where(CLEAN, 0.0, 10.0))
    # Each pair of bursts can reach the next clean hour, but only one unit fits there (peak rate 1).
    np.testing.assert_allclose(shifted.demand[0, CLEAN, 0], [1.0, 1.0], atol=1e-6)
    assert abs(shifted.demand[0, :, 0].sum() - 4.0) < 1e-9
    assert not check_reshape(demand, shifted.demand, window)


def test_the_joint_objective_takes_the_cost_too():
    demand, window = _case()
    background = np.zeros((8, 2))
    background[:, 0] = 2.0
    background[5, 0] = 3.9  # the fleet's peak hour: the lax work has room in every other hour
    plain = reshape_lax(demand, window, objective="joint", background=background, capacity=np.array([4.0, 4.0]))
    shifted = reshape_lax(demand, window, objective="joint", background=background, capacity=np.array([4.0, 4.0]),
                          slot_cost=np.where(CLEAN, 0.0, 1e-4))
    cost = np.where(CLEAN, 0.0, 1.0)
    assert (cost * shifted.demand[0, :, 0]).sum() < (cost * plain.demand[0, :, 0]).sum() - 1e-9
    fleet = lambda r: (background[:, 0] + r.demand[0, :, 0]).max()  # noqa: E731
    assert abs(fleet(shifted) - fleet(plain)) < 1e-9  # the fleet's peak comes first
    assert abs(shifted.demand[0, :, 0].max() - plain.demand[0, :, 0].max()) < 1e-9  # then the group's own
    assert not check_reshape(demand, shifted.demand, window)
