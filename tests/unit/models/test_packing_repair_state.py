"""The repair engine's shortcuts give the floats of the plain computation: swap scores evaluated in
row blocks, from the cached item x item cross table or without it, the balancing pass's real-capacity
check taken from the scores' own loads, and the memo of the last relocation loads."""

import numpy as np
import pytest

import models.packing.repair as repair_mod
from models.packing.balance import _Balancer
from models.packing.instance import PackingInstance, ServerType
from models.packing.repair import OverflowRepair
from models.packing.synthetic import diurnal_instance


def _risky(n=36, seed=3):
    base = diurnal_instance(n, 24, seed=seed, mean_cores=2.0,
                            types=(ServerType("s", (16.0, 128.0), 500.0), ServerType("l", (32.0, 256.0), 950.0)))
    rng = np.random.default_rng(seed)
    sig = base.demand * rng.uniform(0.1, 0.5, (n, 1, 1))
    loadings = rng.uniform(-0.3, 0.4, (n, 3))  # some negative: the variance terms must not be clipped early
    eps = np.array([(0.001, 0.01, 0.05)[g % 3] for g in range(n)])
    return PackingInstance(base.group_ids, base.slots, base.resources, base.demand, base.server_types,
                           headroom=np.array([(0.0, 0.1, 0.2)[g % 3] for g in range(n)]), sigma=sig,
                           overflow_risk=eps, loadings=loadings)


def _engine(inst, cls=OverflowRepair, n_w=5, seed=0, scale=0.7, **kw):
    rng = np.random.default_rng(seed)
    unit = inst.capacity.max(axis=0)
    cap = inst.capacity[np.zeros(n_w, dtype=int)] / unit
    return cls(inst, unit, rng.integers(0, n_w, len(inst.items())), cap * scale, np.ones(n_w, bool),
               np.zeros(n_w, dtype=np.int64), rng, **kw)


def _plain_swap_scores(engine, a, members, partners):
    """The swap scores from the whole [m, n, T, R] loads of :meth:`chance_swap` (no blocks)."""
    load_a, load_b = engine.chance_swap(a, members, partners)
    wp = engine.w_of[partners]
    lvl_a = np.maximum(engine.levels_without(members)[:, None], engine.h[partners][None, :])
    cap_a = (engine.cap[a][None, None] * (1.0 - lvl_a)[..., None]).astype(np.float32)
    lvl_b = np.maximum(engine.levels_without(partners)[None, :], engine.h[members][:, None])
    cap_b = (engine.cap[wp][None] * (1.0 - lvl_b)[..., None]).astype(np.float32)
    over = repair_mod._Scratch().over
    sa = over(load_a, -cap_a[:, :, None, :]) - engine.ov32[a]
    sb = over(load_b, -cap_b[:, :, None, :]) - engine.ov32[wp][None]
    return sa + sb


@pytest.mark.parametrize("block", [1, 700, 1 << 16])
@pytest.mark.parametrize("cross", [True, False])
def test_block_and_cross_table_scores_equal_the_plain_evaluation(monkeypatch, block, cross):
    monkeypatch.setattr(repair_mod, "SWAP_BLOCK", block)
    if not cross:
        monkeypatch.setattr(repair_mod, "CROSS_CACHE_BYTES", 0)
    inst = _risky()
    engine = _engine(inst)
    assert (engine._cross2 is not None) == cross
    rng = np.random.default_rng(1)
    for _ in range(6):
        a = int(rng.integers(engine.B))
        members = np.flatnonzero(engine.w_of == a)
        partners = np.flatnonzero(engine.w_of != a)
        if members.size:
            got = engine.swap_scores(a, members, partners)
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, _plain_swap_scores(engine, a, members, partners))
        engine.relocate(int(rng.integers(len(engine.w_of))), int(rng.integers(engine.B)))


def test_balancer_fits_from_the_scores_equal_a_fresh_check():
    inst = _risky()
    engine = _engine(inst, _Balancer, scale=0.9, real=_engine(inst).cap / 0.7)
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(6):
        a = int(rng.integers(engine.B))
        members = np.flatnonzero(engine.w_of == a)
        partners = np.flatnonzero(engine.w_of != a)
        if members.size:
            engine.swap_scores(a, members, partners)
            memo = engine.swap_allowed(a, members, partners)
            engine._fit_key = None  # forget the scores' loads: the check is computed afresh
            fresh = engine.swap_allowed(a, members, partners)
            np.testing.assert_array_equal(memo, fresh)
            checked += int(fresh.any()) + int((~fresh).any())
        engine.relocate(int(rng.integers(len(engine.w_of))), int(rng.integers(engine.B)))
    assert checked >= 4  # both outcomes occurred: the check can fail


def test_relocation_memo_is_dropped_when_an_item_moves():
    inst = _risky()
    engine = _engine(inst)
    members = np.flatnonzero(engine.w_of == 0)
    first = engine.chance_relocation(0, members)
    assert engine.chance_relocation(0, members)[2] is first[2]  # asked twice in one move: computed once
    i = int(members[0])
    engine.relocate(i, 1)
    engine.relocate(i, 0)  # the same plan again, but the memo key moved on
    again = engine.chance_relocation(0, members)
    assert again[2] is not first[2]
    for x, y in zip(first, again):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_add_per_resource_equals_broadcast_add():
    rng = np.random.default_rng(0)
    x = rng.random((3, 4, 24, 2)).astype(np.float32)
    cap = rng.random((3, 4, 1, 2)).astype(np.float32)
    out = np.empty_like(x)
    repair_mod._add(x, -cap, out)
    np.testing.assert_array_equal(out, x + -cap)
    repair_mod._add(x, np.float32(0.5), out)
    np.testing.assert_array_equal(out, x + np.float32(0.5))


def test_cross_table_is_built_at_the_first_swap_and_dropped_when_the_solve_ends():
    from models.packing.result import SolveOptions
    from models.packing.solve import solve_packing

    inst = _risky(n=30, seed=4)
    engine = _engine(inst)
    assert inst not in repair_mod._CROSS  # an engine that makes no swap builds no table
    a = int(engine.w_of[0])
    engine.swap_scores(a, np.flatnonzero(engine.w_of == a), np.flatnonzero(engine.w_of != a))
    assert inst in repair_mod._CROSS
    repair_mod.release_cross_tables(inst)
    assert inst not in repair_mod._CROSS
    # exact_max_items below the 30 items: the counted neighbourhood search, not a 60 s exact solve
    opts = SolveOptions(time_limit_s=60, workers=1, deterministic=True, lns_max_iterations=2, shrink_moves=50,
                        shrink_max_moves=200, balance_moves=50, exact_max_items=10)
    result = solve_packing(inst, "cpsat", opts)
    assert result.stats["shrink_moves"] + result.stats["balance_moves"] > 0  # the engines ran
    assert inst not in repair_mod._CROSS


def test_a_fleet_chunk_keeps_its_cross_table():
    # CHUNK_ITEMS = 400 items over a week of hourly slots and two resources: the table that saves the
    # per-swap einsum over the factors must fit the cache.
    assert 400 * 400 * 168 * 2 * 4 <= repair_mod.CROSS_CACHE_BYTES


def _spread_risky(n=40, seed=6):
    """_risky with spread rules (customers of three groups that must sit on two workers)."""
    import dataclasses

    inst = _risky(n, seed)
    return dataclasses.replace(inst, customer=tuple(f"c{g // 3}" for g in range(n)),
                               spread=np.full(n, 2))


def _trajectory(monkeypatch, inst, prune: bool, cls=OverflowRepair, moves=60, **kw):
    monkeypatch.setattr(repair_mod, "PRUNE_MIN_FLOATS", 0 if prune else 1 << 60)
    monkeypatch.setattr(repair_mod, "PRUNE_GIVE_UP", 2.0)  # never gives the bound up (a share is at most 1)
    engine = _engine(inst, cls, seed=3, **kw)
    best, out = engine.total(), []
    for _ in range(moves):
        if not engine.move(best):
            out.append(None)
            continue
        best = min(best, engine.total())
        out.append(engine.w_of.copy())
    return engine, out


@pytest.mark.parametrize("make", [_risky, _spread_risky])
def test_pruned_swap_search_makes_the_moves_of_the_full_evaluation(monkeypatch, make):
    inst = make()
    full, a = _trajectory(monkeypatch, inst, prune=False)
    pruned, b = _trajectory(monkeypatch, inst, prune=True)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert len({tuple(x) for x in a if x is not None}) > 10  # the search moved
    np.testing.assert_array_equal(full.ov32, pruned.ov32)


@pytest.mark.parametrize("cls", [OverflowRepair, _Balancer])
def test_an_engine_that_gives_the_bound_up_makes_the_same_moves(monkeypatch, cls):
    # Giving up after 5 searches whatever their share: the rest of the trajectory is the row blocks'.
    inst = _risky()
    kw = dict(cls=cls, scale=0.9, real=_engine(inst).cap / 0.7) if cls is _Balancer else {}
    _, a = _trajectory(monkeypatch, inst, prune=False, **kw)
    monkeypatch.setattr(repair_mod, "PRUNE_MIN_FLOATS", 0)
    monkeypatch.setattr(repair_mod, "PRUNE_GIVE_UP", 0.0)
    monkeypatch.setattr(repair_mod, "PRUNE_WARMUP", 5)
    engine = _engine(inst, cls, seed=3, **({"scale": 0.9, "real": kw["real"]} if kw else {}))
    best, b = engine.total(), []
    for _ in range(60):
        if not engine.move(best):
            b.append(None)
            continue
        best = min(best, engine.total())
        b.append(engine.w_of.copy())
    assert engine._pruned[0] == 5  # the bound was used, then given up
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


def test_pruned_swap_search_makes_the_moves_of_the_full_evaluation_when_balancing(monkeypatch):
    inst = _risky()
    real = _engine(inst).cap / 0.7
    _, a = _trajectory(monkeypatch, inst, prune=False, cls=_Balancer, scale=0.9, real=real)
    _, b = _trajectory(monkeypatch, inst, prune=True, cls=_Balancer, scale=0.9, real=real)
    for x, y in zip(a, b):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


def test_pair_loads_equal_the_row_blocks_to_the_bit():
    inst = _risky()
    engine = _engine(inst)
    a = 0
    members = np.flatnonzero(engine.w_of == a)
    partners = np.flatnonzero(engine.w_of != a)
    prep = engine._swap_prep(a, members, partners)
    load_a, load_b = engine._chance_swap_rows(prep, slice(None))
    xs, ys = np.nonzero(np.ones((len(members), len(partners)), bool))
    pa, pb = engine._swap_pair_loads(prep, xs, ys)
    T, R = engine.L.shape[1:]
    np.testing.assert_array_equal(pa, load_a.reshape(-1, T * R))
    np.testing.assert_array_equal(pb, load_b.reshape(-1, T * R))
    cols_a = np.array([1, 7, 30])
    cols_b = np.random.default_rng(0).integers(0, T * R, (len(partners), 4))  # per partner
    ca, cb = engine._swap_column_loads(prep, cols_a, cols_b)
    np.testing.assert_array_equal(ca.reshape(-1, len(cols_a)), pa[:, cols_a])
    np.testing.assert_array_equal(cb.reshape(-1, 4), np.take_along_axis(pb, cols_b[ys], axis=1))


def test_cross_table_pairs_equal_the_per_swap_einsum_to_the_bit(monkeypatch):
    # Raising CROSS_CACHE_BYTES moves the fleet chunks from the per-swap einsum to the table: the
    # same floats, so the same plans.
    inst = _risky(n=60, seed=7)
    with_table = _engine(inst)
    assert with_table._cross2 is not None
    monkeypatch.setattr(repair_mod, "CROSS_CACHE_BYTES", 0)
    repair_mod.release_cross_tables(inst)
    without = _engine(inst)
    assert without._cross2 is None
    for a in range(with_table.B):
        members = np.flatnonzero(with_table.w_of == a)
        partners = np.flatnonzero(with_table.w_of != a)
        p = with_table._swap_prep(a, members, partners)
        np.testing.assert_array_equal(with_table._pair_cross2(p, slice(None)), without._pair_cross2(p, slice(None)))


def test_scratch_over_equals_the_numpy_expression_for_equal_and_broadcast_shapes():
    rng = np.random.default_rng(4)
    x = (rng.random((3, 5, 24, 2)) - 0.5).astype(np.float32)
    d = (rng.random((3, 1, 24, 2)) - 0.5).astype(np.float32)
    cap = rng.random((3, 5, 1, 2)).astype(np.float32)
    over = repair_mod._Scratch().over
    np.testing.assert_array_equal(over(x, -cap), np.maximum(x + -cap, 0).reshape(3, 5, -1).sum(axis=-1))
    np.testing.assert_array_equal(over(x, x), np.maximum(x + x, 0).reshape(3, 5, -1).sum(axis=-1))
    np.testing.assert_array_equal(over(d, x, -cap),
                                  np.maximum(d + x + -cap, 0).reshape(3, 5, -1).sum(axis=-1))
    np.testing.assert_array_equal(over(x, np.float32(0.25)), np.maximum(x + np.float32(0.25), 0).reshape(3, 5, -1).sum(axis=-1))


def test_balancer_fit_check_without_an_addend_equals_the_check_with_a_zero_addend():
    """The balancing pass checked a swap's loads as ``loads + 0.0`` against the real capacity; it
    now skips the copy. Equal answers, -0.0, exact zeros, capacities of zero and NaN included."""
    from models.packing.balance import _TOL

    inst = _risky()
    engine = _engine(inst, _Balancer, scale=0.9, real=_engine(inst).cap / 0.7)
    rng = np.random.default_rng(5)
    load = (rng.random((4, 6, 24, 2)) * 2.0).astype(np.float32)
    load[0, 0] = -0.0
    load[1, :, :3] = 0.0
    load[2, 1, 5, 1] = np.nan
    cap = rng.random((4, 6, 2)) * 2.0
    cap[0, 0] = 0.0
    cap[3, 2] = 0.0
    old = repair_mod._Scratch().over(load, np.float32(0.0), -cap.astype(np.float32)[..., None, :]) <= _TOL
    got = engine._fits(load, None, cap)
    np.testing.assert_array_equal(got, old)
    assert got.any() and not got.all()


def _max_without_loop(engine, values, items):
    """The per-worker loop :meth:`OverflowRepair._max_without_fresh` replaced (the reference)."""
    out = np.zeros(len(items))
    ws = engine.w_of[items]
    for w in np.unique(ws):
        hs = values[engine.w_of == w]
        top = hs.max()
        second = hs[hs < top - repair_mod.EPS].max(initial=0.0)
        several = int((hs >= top - repair_mod.EPS).sum()) > 1
        sel = ws == w
        out[sel] = np.where((values[items[sel]] < top - repair_mod.EPS) | several, top, second)
    return out


def test_levels_and_multipliers_without_an_item_equal_the_per_worker_loop():
    inst = _risky()
    engine = _engine(inst, n_w=6)
    rng = np.random.default_rng(6)
    tied = seen_second = 0
    for step in range(40):
        a = int(rng.integers(engine.B))
        members = np.flatnonzero(engine.w_of == a)
        partners = np.flatnonzero(engine.w_of != a)
        for items in (members, partners, rng.choice(len(engine.w_of), 7, replace=False)):
            if items.size:
                for values in (engine.h, engine.zi):
                    got = engine._max_without_fresh(values, items)
                    np.testing.assert_array_equal(got, _max_without_loop(engine, values, items))
                    top = np.array([values[engine.w_of == w].max() for w in engine.w_of[items]])
                    tied += int(np.sum(got == top))
                    seen_second += int(np.sum(got < top))
        engine.relocate(int(rng.integers(len(engine.w_of))), int(rng.integers(engine.B)))
    assert tied and seen_second  # both answers occurred: an item holding its worker's top alone, and not
