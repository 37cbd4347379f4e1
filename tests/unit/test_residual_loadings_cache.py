"""A pool-week's factor loadings are computed once for its groups (an SVD of hours x groups)."""

import numpy as np
import pandas as pd


def test_residual_loadings_are_computed_once_per_groups_and_handed_out_as_copies(monkeypatch):
    from planner import packing

    rng = np.random.default_rng(1)
    residuals = pd.DataFrame(rng.standard_normal((200, 6)), columns=[f"g{i}" for i in range(6)])
    calls = []
    real = np.linalg.svd
    monkeypatch.setattr(np.linalg, "svd", lambda *a, **k: calls.append(1) or real(*a, **k))
    gids = ["g0", "g2", "g5", "new"]
    first = packing.residual_loadings(residuals, gids, 3)
    first[0][:] = 99.0  # a caller's change reaches no later caller
    again = packing.residual_loadings(residuals, gids, 3)
    assert len(calls) == 1
    fresh = packing._residual_loadings(residuals, gids, 3)
    assert np.array_equal(again[0], fresh[0]) and np.array_equal(again[1], fresh[1])
    packing.residual_loadings(residuals.copy(), gids, 3)  # another table: computed anew
    assert len(calls) == 3
