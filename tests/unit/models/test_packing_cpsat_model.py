"""The CP-SAT model written into the proto directly (models/packing/cpsat.py ``build_model``) is the
model CP-SAT's Python API builds: the same serialised bytes on full problems and neighbourhoods,
with shards, spread, max_count, symmetry, target weights, hints, chord demand, cover cuts and zero
demands."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from models.packing.cpsat import _COST_UNITS, _UNITS, build_model
from models.packing.heuristics import best_heuristic
from models.packing.instance import PackingInstance, ServerType
from models.packing.solve import _with_cuts, infeasible_sets
from models.packing.solution import compact
from models.packing.subproblem import allowed_pairs, full_problem, neighbourhood_problem, shard_sets
from packing_fixtures import RES, random_instance, ruled_instance, slots


def api_model(instance: PackingInstance, sub):
    """The model as the CP-SAT API built it before ``build_model`` (one call per row; kept here as
    the reference)."""
    from ortools.sat.python import cp_model

    it, kinds = instance.items(), instance.kinds()
    unit = instance.capacity.max(axis=0) / _UNITS  # [R]
    dem = np.ceil(sub.item_demand(instance)[:, sub.slots, :] / unit[None, None, :] - 1e-9).astype(np.int64)
    cap = np.floor(kinds.capacity / unit[None, :] + 1e-9).astype(np.int64)  # [K, R]
    cost = np.round(kinds.cost * _COST_UNITS).astype(np.int64)
    n_j, n_p, n_k = len(sub.items), len(sub.pool_class), len(kinds)
    pairs = allowed_pairs(instance, sub)
    model = cp_model.CpModel()
    x = {(j, p): model.new_bool_var(f"x[{j},{p}]") for j, p in pairs}
    y = {(p, k): model.new_bool_var(f"y[{p},{k}]") for p in range(n_p) for k in range(n_k)}
    used = [sum(y[p, k] for k in range(n_k)) for p in range(n_p)]
    by_item: dict[int, list[int]] = {}
    by_worker: dict[int, list[int]] = {}
    for j, p in pairs:
        by_item.setdefault(j, []).append(p)
        by_worker.setdefault(p, []).append(j)
    for j in range(n_j):
        model.add_exactly_one(x[j, p] for p in by_item[j]).with_name(f"assign_once[{j}]")
    for p in range(n_p):
        model.add_at_most_one(y[p, k] for k in range(n_k)).with_name(f"one_kind[{p}]")
    for j, p in pairs:
        ok = [y[p, k] for k in range(n_k) if kinds.level[k] >= it.headroom[sub.items[j]] - 1e-12]
        model.add(x[j, p] <= sum(ok)).with_name(f"headroom[{j},{p}]")
    cap_rows = cap.T.tolist()
    slot_names = [f"{instance.slots[s]}" for s in sub.slots]
    for p, js in by_worker.items():
        xs = [x[j, p] for j in js]
        ys_p = [y[p, k] for k in range(n_k)]
        coef = dem[js].transpose(1, 2, 0).tolist()
        for ti in range(len(sub.slots)):
            for r in range(dem.shape[2]):
                load = cp_model.LinearExpr.weighted_sum(xs, coef[ti][r])
                model.add(load <= cp_model.LinearExpr.weighted_sum(ys_p, cap_rows[r])
                          ).with_name(f"capacity[p{p},{slot_names[ti]},{instance.resources[r]}]")
    for g, js in shard_sets(instance, sub).items():
        for p in sorted({p for j in js for p in by_item[j]}):
            members = [x[j, p] for j in js if (j, p) in x]
            if len(members) > 1:
                model.add_at_most_one(members).with_name(f"distinct_shards[{g},{p}]")
    for ci, need in sub.spread_need.items():
        js = [j for j, i in enumerate(sub.items) if it.customer[i] == ci]
        us = []
        for p in sorted({p for j in js for p in by_item[j]}):
            u = model.new_bool_var(f"u[{ci},{p}]")
            model.add(u <= sum(x[j, p] for j in js if (j, p) in x))
            us.append(u)
        model.add(sum(us) >= int(need)).with_name(f"spread[{ci}]")
    for st in range(len(instance.server_types)):
        if sub.type_limit[st] < n_p:
            ys = [y[p, k] for p in range(n_p) for k in range(n_k) if kinds.server_type[k] == st]
            model.add(sum(ys) <= int(sub.type_limit[st])).with_name(f"max_count[{st}]")
    for c, (js, bad_kinds) in enumerate(sub.cuts):
        for p in sorted(set.intersection(*(set(by_item[j]) for j in js))):
            escape = [y[p, k] for k in range(n_k) if k not in bad_kinds]
            model.add(sum(x[j, p] for j in js) <= len(js) - 1 + sum(escape)).with_name(f"chance_cut[{c},{p}]")
    if sub.symmetry:
        for c in np.unique(sub.pool_class):
            pool = sub.pool_of(int(c))
            for a, b in zip(pool[:-1], pool[1:]):
                model.add(used[a] >= used[b]).with_name(f"symmetry[{a}]")
    ys = [y[p, k] for p in range(n_p) for k in range(n_k)]
    coeffs = [int(cost[k]) for p in range(n_p) for k in range(n_k)]
    if sub.target_weight is not None:
        tw = np.asarray(sub.target_weight, dtype=np.int64)
        scale = int(tw.sum()) + 1
        coeffs = [c * scale for c in coeffs]
        ys += [x[j, 0] for j in range(n_j) if (j, 0) in x]
        coeffs += [int(tw[j]) for j in range(n_j) if (j, 0) in x]
    model.minimize(cp_model.LinearExpr.weighted_sum(ys, coeffs))
    if sub.hint_item_worker is not None:
        for (j, p), var in x.items():
            model.add_hint(var, int(sub.hint_item_worker[j] == p))
        for (p, k), var in y.items():
            model.add_hint(var, int(sub.hint_worker_kind[p] == k))
    return model


def serialised(model, tmp_path, name: str) -> bytes:
    from ortools.sat.python import cp_model_helper as cmh

    path = tmp_path / f"{name}.pb"  # binary (a .txt name would write text format)
    assert cmh.CpSatHelper.write_model_to_file(model.proto, str(path))
    return path.read_bytes()


def chance_instance(seed=3, n=12, t=16) -> PackingInstance:
    """Correlated groups with overflow risk targets, two headroom levels and a spread customer."""
    rng = np.random.default_rng(seed)
    hours = np.arange(t)
    phase = rng.uniform(0, t, n)
    mean = rng.uniform(1.0, 4.0, n)[:, None] * (0.5 + 0.5 * np.cos(2 * np.pi * (hours[None] - phase[:, None]) / t))
    demand = np.stack([mean, 2.5 * mean], axis=2)
    demand[1, :3, 0] = 0.0  # zero demand rows: CP-SAT drops the zero terms
    sigma = 0.25 * demand
    loadings = rng.normal(0.0, 0.3, (n, 2))
    corr = loadings @ loadings.T
    np.fill_diagonal(corr, 1.0)
    types = (ServerType("small", (8.0, 32.0), 100.0), ServerType("large", (16.0, 64.0), 170.0, 5))
    return PackingInstance(tuple(f"g{i:02d}" for i in range(n)), slots(t), RES, demand, types,
                           headroom=np.array([0.2, 0.2] + [0.0] * (n - 2)),
                           customer=("a", "a", "a") + tuple(f"c{i}" for i in range(3, n)),
                           spread=np.array([2, 2, 2] + [1] * (n - 3)), sigma=sigma,
                           overflow_risk=np.full(n, 0.01), correlation=corr)


def cases():
    """(label, instance, sub-problem) of each kind the searches build."""
    out = []
    for label, inst in (("random", random_instance(10, 24, seed=5)), ("ruled", ruled_instance()),
                        ("chance", chance_instance())):
        plan = compact(inst, best_heuristic(inst))
        all_slots = np.arange(len(inst.slots))
        full = full_problem(inst, all_slots[::3], hint=plan)
        out.append((f"{label}-full", inst, full))
        out.append((f"{label}-full-nohint", inst, full_problem(inst, all_slots[:5])))
        zero = np.array(full.item_demand(inst), dtype=float)
        zero[0, :, 0] = 0.0
        out.append((f"{label}-full-zero-demand", inst, dataclasses.replace(full, demand=zero)))
        it = inst.items()
        weight = np.arange(1, len(it) + 1, dtype=np.int64)
        classes = np.array([it.iso_class[np.flatnonzero(plan.item_worker == w)[0]]
                            for w in range(len(plan.worker_kind))])
        cls = np.bincount(classes).argmax()
        workers = np.flatnonzero(classes == cls)[:4]
        hood = neighbourhood_problem(inst, plan, workers, all_slots[1::2], weight)
        out.append((f"{label}-neighbourhood", inst, hood))
        cuts = tuple(((0, 1), (0,)) for _ in range(1)) + (((0, 1, 2), (0, 1)),) if len(hood.items) > 2 else ()
        out.append((f"{label}-neighbourhood-cuts", inst, dataclasses.replace(hood, cuts=cuts)))
        if inst.chance:
            pool = infeasible_sets(inst, plan) + [((int(hood.items[0]), int(hood.items[1])), (0,))]
            out.append((f"{label}-full-chord-cuts", inst, _with_cuts(full, pool, inst)))
            out.append((f"{label}-neighbourhood-chord-cuts", inst, _with_cuts(hood, pool, inst)))
    return out


CASES = cases()


@pytest.mark.parametrize("label,inst,sub", CASES, ids=[c[0] for c in CASES])
def test_direct_model_is_byte_identical_to_the_api_model(label, inst, sub, tmp_path):
    model, x, y, scale = build_model(inst, sub)
    ref = api_model(inst, sub)
    assert len(model.proto.constraints) > len(x)  # a real model, not an empty one
    assert serialised(model, tmp_path, "direct") == serialised(ref, tmp_path, "api")
    assert str(model.proto) == str(ref.proto)
    names = [v.name for v in ref.proto.variables]
    assert all(names[i] == f"x[{j},{p}]" for (j, p), i in x.items())
    assert all(names[i] == f"y[{p},{k}]" for (p, k), i in y.items())
    assert scale == (1 if sub.target_weight is None else int(np.asarray(sub.target_weight).sum()) + 1)
