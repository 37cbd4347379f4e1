"""Multi-week server purchase MILP: which servers to order in which week, at least cost.

The packing stage says how many servers of each type every pool needs in every week of the horizon.
This model decides the orders that cover that need at least cost while honouring lead times, purchase
granularity, the fleet size limit of each type, the no-decommission rule and an optional budget cap.
When lead times or the budget make the need impossible to cover, the model stays feasible through a
heavily penalised shortfall variable and the result reports every shortfall (never silently).

The maths, the rules and the units are written up in ``docs/procurement.md``.

Input contract (pandas DataFrames, long format; ``models`` sets it, ``planner`` shapes its tables):

* ``servers``: ``type``, ``pool``, ``cost_per_month`` (currency per server per month), and optional
  ``max_count`` (largest installed fleet of the type, blank = unlimited), ``lead_time_weeks``
  (default 0), ``granularity`` (servers are ordered in multiples of it, default 1), ``capex``
  (one-off price per server paid when ordered, default 0), ``cpu_cores`` and ``memory_gb`` (needed
  only for ``substitution="capacity"``). One row per (pool, type).
* ``required``: ``week`` (int, 0 .. n_weeks-1), ``pool``, ``server_type``, ``required`` (servers of
  that type the pool needs in that week; missing rows mean 0).
* ``initial`` (optional): ``pool``, ``server_type``, ``installed`` (servers already in the fleet at
  week 0; missing rows mean 0).

Example::

    result = solve_procurement(ProcurementProblem(servers, required, initial, n_weeks=13))
    result.purchases      # week, pool, server_type, purchased, arrives_week, cost
    result.shortfall      # week, pool, server_type, resource, shortfall, constraint
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.highs import silence_highs_banner
from models.packing.result import SolveStatus

__all__ = [
    "MONTHS_PER_WEEK",
    "ProcurementOptions",
    "ProcurementProblem",
    "ProcurementResult",
    "ProcurementStatus",
    "SolveStatus",
    "solve_procurement",
]

#: A week is 12/52 of a month: the running cost of one server for one week is cost_per_month × 12/52.
MONTHS_PER_WEEK = 12.0 / 52.0

PURCHASE_COLUMNS = ("week", "pool", "server_type", "purchased", "arrives_week", "cost")
INSTALLED_COLUMNS = ("week", "pool", "server_type", "required", "arrived", "installed", "cost")
SHORTFALL_COLUMNS = ("week", "pool", "server_type", "resource", "shortfall", "constraint")
SUBSTITUTIONS = ("none", "capacity")
CAPACITY_RESOURCES = ("cpu_cores", "memory_gb")


# One status vocabulary for every solver of the planner (packing and procurement).
ProcurementStatus = SolveStatus


@dataclass(frozen=True)
class ProcurementProblem:
    """The data of one procurement decision (see the module docstring for the table columns).

    Args:
        servers: server types per pool with prices, lead times, granularity and fleet limits.
        required: servers needed per week, pool and type (from packing).
        initial: servers installed at week 0 per pool and type; ``None`` means an empty fleet.
        n_weeks: horizon length in weeks; ``None`` means one past the largest week in ``required``.
        budget: cap on the total cost over the horizon (running cost of the initial fleet plus the
            cost of every order, as in :attr:`ProcurementResult.total_cost`); ``None`` = no cap.
        substitution: ``"none"`` covers each (pool, type) requirement with servers of that type;
            ``"capacity"`` lets any type of the same pool stand in, as long as the pool's installed
            cpu_cores and memory_gb cover what the required servers would have provided.
    """

    servers: pd.DataFrame
    required: pd.DataFrame
    initial: pd.DataFrame | None = None
    n_weeks: int | None = None
    budget: float | None = None
    substitution: str = "none"


@dataclass(frozen=True)
class ProcurementOptions:
    """Solver options.

    Args:
        backend: ``"auto"`` (HiGHS through highspy when installed, else CBC), ``"highs"`` or ``"cbc"``.
        time_limit_s: wall-clock limit of the solve in seconds.
        mip_gap: relative optimality gap at which the solver may stop.
        shortfall_penalty: cost charged per unit of shortfall and week (servers, or cpu_cores and
            memory_gb with capacity substitution); ``None`` picks 1000 × the most expensive order
            block over the horizon, so buying always beats a shortfall it can avoid.
        msg: show the solver log.
    """

    backend: str = "auto"
    time_limit_s: float = 30.0
    mip_gap: float = 1e-6
    shortfall_penalty: float | None = None
    msg: bool = False

    def __post_init__(self):
        if self.backend not in ("auto", "highs", "cbc"):
            raise ValueError(f"backend={self.backend!r}: use 'auto', 'highs' or 'cbc'")
        if not self.time_limit_s > 0:
            raise ValueError(f"time_limit_s={self.time_limit_s!r}: must be positive")
        if not 0 <= self.mip_gap < 1:
            raise ValueError(f"mip_gap={self.mip_gap!r}: must be in [0, 1)")
        if self.shortfall_penalty is not None and not self.shortfall_penalty > 0:
            raise ValueError(f"shortfall_penalty={self.shortfall_penalty!r}: must be positive")


@dataclass(frozen=True)
class ProcurementResult:
    """Outcome of :func:`solve_procurement`. The tables are empty when there is no solution.

    Attributes:
        status: a :class:`~models.packing.result.SolveStatus` (``ProcurementStatus`` is an alias):
            ``optimal``; ``feasible`` (a solution, optimality not proven, e.g. the time limit hit
            with an incumbent); ``timed_out`` (time limit before any solution); ``infeasible``;
            ``error``.
        objective: solver objective = purchase cost + shortfall penalty (currency), or ``None``.
        bound: best proven lower bound of the objective, or ``None``.
        gap: relative gap between objective and bound, or ``None``.
        total_cost: running cost of the initial fleet over the horizon + cost of all orders.
        purchase_cost: cost of the orders alone (capex + running cost from arrival to horizon end).
        purchases: ``week`` (order week), ``pool``, ``server_type``, ``purchased`` (servers),
            ``arrives_week``, ``cost`` (of the order over the horizon); only non-zero orders.
        installed: ``week``, ``pool``, ``server_type``, ``required``, ``arrived`` (servers arriving
            that week), ``installed`` (servers in service that week), ``cost`` (running cost of the
            installed servers that week + capex of the orders placed that week); its ``cost`` sums
            to ``total_cost``. One row per week and (pool, type).
        shortfall: ``week``, ``pool``, ``server_type``, ``resource``, ``shortfall``, ``constraint``;
            one row per cover constraint left short. ``resource`` is ``"servers"`` (shortfall in
            servers of that type) or, with capacity substitution, ``"cpu_cores"``/``"memory_gb"``
            (shortfall in those units, ``server_type`` is ``"*"``: any type of the pool).
        backend: the solver that ran (``"highs"`` or ``"cbc"``).
        runtime_s: wall-clock seconds of the solve.
        messages: notes for the person who owns the plan (why a shortfall happened, clamped inputs).
    """

    status: ProcurementStatus
    objective: float | None
    bound: float | None
    gap: float | None
    total_cost: float
    purchase_cost: float
    purchases: pd.DataFrame
    installed: pd.DataFrame
    shortfall: pd.DataFrame
    backend: str
    runtime_s: float
    messages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_shortfall(self) -> bool:
        """True when some week's requirement is not covered."""
        return not self.shortfall.empty


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    weeks: tuple[int, ...]
    keys: tuple[tuple[str, str], ...]  # (pool, type), sorted
    cost_per_month: dict
    capex: dict
    lead: dict
    gran: dict
    max_count: dict  # None = unlimited
    capacity: dict  # (pool, type) -> {resource: amount}
    required: dict  # (week, pool, type) -> servers
    initial: dict  # (pool, type) -> servers
    budget: float | None
    substitution: str


def _name(family: str, *keys) -> str:
    """Readable constraint/variable name: ``cover[w03,pool-a,m-large]``."""
    parts = [f"w{k:02d}" if isinstance(k, (int, np.integer)) else str(k) for k in keys]
    return f"{family}[{','.join(parts)}]" if parts else family


def _require_columns(frame: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {list(frame.columns)}")


def _optional(row, column, default):
    value = row.get(column, default)
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):  # None, NaN, pd.NA (nullable Int64)
        return default
    return value


def _prepare(problem: ProcurementProblem) -> _Data:
    """Validate the tables and turn them into plain dicts keyed by labels."""
    if problem.substitution not in SUBSTITUTIONS:
        raise ValueError(f"substitution={problem.substitution!r}: use one of {SUBSTITUTIONS}")
    servers = problem.servers
    _require_columns(servers, ("type", "pool", "cost_per_month"), "servers")
    if problem.substitution == "capacity":
        _require_columns(servers, CAPACITY_RESOURCES, "servers (capacity substitution)")
    if servers.duplicated(["pool", "type"]).any():
        dup = servers.loc[servers.duplicated(["pool", "type"]), ["pool", "type"]].iloc[0].tolist()
        raise ValueError(f"servers: (pool, type) {tuple(dup)} appears more than once")

    cpm, capex, lead, gran, max_count, capacity = {}, {}, {}, {}, {}, {}
    for i, row in enumerate(servers.to_dict("records")):
        key = (str(row["pool"]), str(row["type"]))
        cpm[key] = float(row["cost_per_month"])
        capex[key] = float(_optional(row, "capex", 0.0))
        lead[key] = int(_optional(row, "lead_time_weeks", 0))
        gran[key] = int(_optional(row, "granularity", 1))
        mc = _optional(row, "max_count", None)
        max_count[key] = None if mc is None else int(mc)
        if cpm[key] < 0 or capex[key] < 0:
            raise ValueError(f"servers row {i} ({key[1]}): cost_per_month and capex must be >= 0")
        if lead[key] < 0:
            raise ValueError(f"servers row {i} ({key[1]}): lead_time_weeks must be >= 0")
        if gran[key] < 1:
            raise ValueError(f"servers row {i} ({key[1]}): granularity must be a whole number >= 1")
        if max_count[key] is not None and max_count[key] < 0:
            raise ValueError(f"servers row {i} ({key[1]}): max_count must be >= 0 or blank")
        if problem.substitution == "capacity":
            capacity[key] = {r: float(row[r]) for r in CAPACITY_RESOURCES}

    req_frame = problem.required
    _require_columns(req_frame, ("week", "pool", "server_type", "required"), "required")
    n_weeks = problem.n_weeks
    if n_weeks is None:
        n_weeks = int(req_frame["week"].max()) + 1 if len(req_frame) else 1
    if n_weeks < 1:
        raise ValueError(f"n_weeks={n_weeks}: the horizon needs at least one week")
    required: dict = {}
    for i, row in enumerate(req_frame.to_dict("records")):
        key = (str(row["pool"]), str(row["server_type"]))
        week = int(row["week"])
        if key not in cpm:
            raise ValueError(
                f"required row {i}: pool {key[0]!r}, server_type {key[1]!r} is not in the servers table"
            )
        if not 0 <= week < n_weeks:
            raise ValueError(f"required row {i}: week {week} is outside the horizon 0..{n_weeks - 1}")
        value = float(row["required"])
        if not value >= 0:
            raise ValueError(f"required row {i}: required={row['required']!r} must be >= 0")
        required[(week, *key)] = required.get((week, *key), 0.0) + value

    initial: dict = {}
    if problem.initial is not None:
        _require_columns(problem.initial, ("pool", "server_type", "installed"), "initial")
        for i, row in enumerate(problem.initial.to_dict("records")):
            key = (str(row["pool"]), str(row["server_type"]))
            if key not in cpm:
                raise ValueError(
                    f"initial row {i}: pool {key[0]!r}, server_type {key[1]!r} is not in the servers table"
                )
            if not float(row["installed"]) >= 0:
                raise ValueError(f"initial row {i}: installed must be >= 0")
            initial[key] = initial.get(key, 0.0) + float(row["installed"])

    if problem.budget is not None and not problem.budget >= 0:
        raise ValueError(f"budget={problem.budget!r}: must be >= 0 or None")
    return _Data(
        weeks=tuple(range(n_weeks)),
        keys=tuple(sorted(cpm)),
        cost_per_month=cpm,
        capex=capex,
        lead=lead,
        gran=gran,
        max_count=max_count,
        capacity=capacity,
        required=required,
        initial=initial,
        budget=None if problem.budget is None else float(problem.budget),
        substitution=problem.substitution,
    )


def _order_cost(data: _Data, key, order_week: int) -> float:
    """Cost over the horizon of one server ordered in ``order_week``: capex + running cost from arrival."""
    arrival = order_week + data.lead[key]
    weeks_in_service = len(data.weeks) - arrival
    return data.capex[key] + data.cost_per_month[key] * MONTHS_PER_WEEK * weeks_in_service


def _initial_run_cost(data: _Data) -> float:
    n = len(data.weeks)
    return sum(data.initial.get(k, 0.0) * data.cost_per_month[k] * MONTHS_PER_WEEK * n for k in data.keys)


def _default_penalty(data: _Data) -> float:
    """1000 × the dearest order block, so an avoidable shortfall never pays."""
    # a block arriving in week 0 is in service the whole horizon: the dearest an order can be
    worst = max((data.gran[k] * _order_cost(data, k, -data.lead[k]) for k in data.keys), default=1.0)
    return 1000.0 * max(worst, 1.0)


# ---------------------------------------------------------------------------------------------
# model build: variables -> constraints -> objective
# ---------------------------------------------------------------------------------------------


@dataclass
class _Model:
    lp: object
    order: dict  # (week, pool, type) -> integer var: blocks of `granularity` servers ordered
    short: dict  # cover key -> continuous var
    cover_names: dict  # cover key -> readable constraint name
    constraints: dict  # readable name -> LpConstraint
    penalty: dict  # cover key -> penalty per unit
    messages: list


def _new_var(pulp, lp, name: str, low, up, cat: str):
    """A variable owned by ``lp`` (PuLP ≥ 3.3 way; plain LpVariable on older PuLP)."""
    if hasattr(lp, "add_variable"):
        return lp.add_variable(name, lowBound=low, upBound=up, cat=cat)
    return pulp.LpVariable(name, lowBound=low, upBound=up, cat=cat)


def _add_order_vars(pulp, data: _Data, model: _Model) -> None:
    # order[o, p, t] ∈ ℤ≥0: blocks of granularity[p, t] servers ordered in week o, arriving o + lead;
    # only orders that arrive inside the horizon exist (orders before week 0 are impossible).
    for key in data.keys:
        last_order = len(data.weeks) - 1 - data.lead[key]
        for o in range(0, last_order + 1):
            ub = None
            if data.max_count[key] is not None:
                room = max(0.0, data.max_count[key] - data.initial.get(key, 0.0))
                ub = math.floor(room / data.gran[key])
            model.order[(o, *key)] = _new_var(pulp, model.lp, _name("order", o, *key), 0, ub, "Integer")


def _installed_expr(pulp, data: _Data, model: _Model, week: int, key):
    """installed[w, p, t] = initial[p, t] + Σ_{o + lead ≤ w} granularity · order[o, p, t] (never decreases)."""
    arrived = [
        data.gran[key] * model.order[(o, *key)]
        for o in range(0, week - data.lead[key] + 1)
        if (o, *key) in model.order
    ]
    return data.initial.get(key, 0.0) + pulp.lpSum(arrived)


def _add_cover_constraints(pulp, data: _Data, model: _Model, penalty_unit: float) -> None:
    lp = model.lp
    if data.substitution == "none":
        # cover[w, p, t]: installed[w, p, t] + short[w, p, t] ≥ required[w, p, t]
        for w in data.weeks:
            for key in data.keys:
                need = data.required.get((w, *key), 0.0)
                if need <= data.initial.get(key, 0.0):
                    continue  # covered by the initial fleet whatever we buy (installed never decreases)
                ckey = (w, key[0], key[1], "servers")
                name = _name("cover", w, *key)
                short = _new_var(pulp, lp, _name("short", w, *key), 0, None, "Continuous")
                con = _installed_expr(pulp, data, model, w, key) + short >= need
                lp.addConstraint(con, name)
                model.short[ckey], model.cover_names[ckey], model.penalty[ckey] = short, name, penalty_unit
                model.constraints[name] = con
        return
    # cover[w, p, r]: Σ_t capacity[t, r] · installed[w, p, t] + short[w, p, r] ≥ Σ_t capacity[t, r] · required[w, p, t]
    pools = sorted({p for p, _ in data.keys})
    for w in data.weeks:
        for pool in pools:
            keys = [k for k in data.keys if k[0] == pool]
            for r in CAPACITY_RESOURCES:
                need = sum(data.capacity[k][r] * data.required.get((w, *k), 0.0) for k in keys)
                have = sum(data.capacity[k][r] * data.initial.get(k, 0.0) for k in keys)
                if need <= have:
                    continue
                ckey = (w, pool, "*", r)
                name = _name("cover", w, pool, r)
                short = _new_var(pulp, lp, _name("short", w, pool, r), 0, None, "Continuous")
                supply = pulp.lpSum(data.capacity[k][r] * _installed_expr(pulp, data, model, w, k) for k in keys)
                con = supply + short >= need
                lp.addConstraint(con, name)
                # a unit of capacity costs at most penalty_unit / (smallest capacity of the pool)
                smallest = min((data.capacity[k][r] for k in keys if data.capacity[k][r] > 0), default=1.0)
                model.short[ckey], model.cover_names[ckey] = short, name
                model.penalty[ckey] = penalty_unit / smallest
                model.constraints[name] = con


def _add_max_count_constraints(pulp, data: _Data, model: _Model) -> None:
    # max_count[p, t]: initial[p, t] + Σ_o granularity · order[o, p, t] ≤ max_count[p, t]
    # (installed never decreases, so the last week's fleet is the largest; an initial fleet already
    # above the limit is kept and nothing more is bought)
    for key in data.keys:
        if data.max_count[key] is None:
            continue
        orders = [v for (o, p, t), v in model.order.items() if (p, t) == key]
        if not orders:
            continue
        room = max(0.0, data.max_count[key] - data.initial.get(key, 0.0))
        name = _name("max_count", *key)
        con = pulp.lpSum(data.gran[key] * v for v in orders) <= room
        model.lp.addConstraint(con, name)
        model.constraints[name] = con


def _add_budget_constraint(pulp, data: _Data, model: _Model) -> None:
    # budget: run cost of the initial fleet + Σ order cost ≤ budget (the initial fleet is sunk: if it
    # alone exceeds the budget, no order is allowed and the result says so).
    if data.budget is None:
        return
    sunk = _initial_run_cost(data)
    allowance = data.budget - sunk
    if allowance < 0:
        model.messages.append(
            f"budget {data.budget:,.2f} is below the running cost of the initial fleet "
            f"({sunk:,.2f}); no purchase is possible"
        )
        allowance = 0.0
    con = _order_spend(pulp, data, model) <= allowance
    model.lp.addConstraint(con, "budget")
    model.constraints["budget"] = con


def _order_spend(pulp, data: _Data, model: _Model):
    """Σ_{o,p,t} granularity · order_cost(o, p, t) · order[o, p, t] (currency over the horizon)."""
    return pulp.lpSum(
        data.gran[(p, t)] * _order_cost(data, (p, t), o) * var for (o, p, t), var in model.order.items()
    )


def _set_objective(pulp, data: _Data, model: _Model) -> None:
    # minimise Σ order cost + Σ penalty · short (the initial fleet's running cost is a constant, left out)
    penalty = pulp.lpSum(model.penalty[k] * v for k, v in model.short.items())
    model.lp.setObjective(_order_spend(pulp, data, model) + penalty)


def _build(pulp, data: _Data, options: ProcurementOptions) -> _Model:
    lp = pulp.LpProblem("procurement", pulp.LpMinimize)
    model = _Model(lp=lp, order={}, short={}, cover_names={}, constraints={}, penalty={}, messages=[])
    penalty_unit = options.shortfall_penalty if options.shortfall_penalty is not None else _default_penalty(data)
    _add_order_vars(pulp, data, model)
    _add_cover_constraints(pulp, data, model, penalty_unit)
    _add_max_count_constraints(pulp, data, model)
    _add_budget_constraint(pulp, data, model)
    _set_objective(pulp, data, model)
    return model


# ---------------------------------------------------------------------------------------------
# solve
# ---------------------------------------------------------------------------------------------


def _pick_backend(pulp, backend: str) -> str:
    if backend == "auto":
        return "highs" if pulp.HiGHS().available() else "cbc"
    if backend == "highs" and not pulp.HiGHS().available():
        raise ValueError("backend='highs' needs the highspy package; install it or use backend='cbc'")
    return backend


def _run_solver(pulp, lp, options: ProcurementOptions, backend: str, time_limit: float, messages: list):
    """One solver call on ``lp``; return (status, best bound or None, runtime in seconds)."""
    if backend == "highs":
        if not options.msg:
            silence_highs_banner()
        solver = pulp.HiGHS(msg=options.msg, timeLimit=time_limit, gapRel=options.mip_gap, random_seed=0)
    else:
        with warnings.catch_warnings():
            # PuLP 3.3 deprecates the bundled CBC for 4.0; it is still the fallback that ships with PuLP
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.PULP_CBC_CMD(
                msg=options.msg, timeLimit=time_limit, gapRel=options.mip_gap, options=["randomSeed 0"]
            )
    start = time.perf_counter()
    try:
        lp.solve(solver)
    except pulp.PulpSolverError as exc:
        messages.append(f"solver error: {exc}")
        return ProcurementStatus.ERROR, None, time.perf_counter() - start
    runtime = time.perf_counter() - start
    has_sol = lp.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    bound = None
    if backend == "highs":
        import highspy

        ms = lp.solverModel.getModelStatus()
        if ms == highspy.HighsModelStatus.kOptimal:
            status = ProcurementStatus.OPTIMAL
        elif ms == highspy.HighsModelStatus.kInfeasible:
            status = ProcurementStatus.INFEASIBLE
        elif has_sol:
            status = ProcurementStatus.FEASIBLE
        elif ms == highspy.HighsModelStatus.kTimeLimit:
            status = ProcurementStatus.TIMED_OUT
        else:
            status = ProcurementStatus.ERROR
        if ms == highspy.HighsModelStatus.kTimeLimit:
            messages.append("time limit reached: " + ("best plan found so far" if has_sol else "no plan found"))
        if status.has_solution:
            bound = float(lp.solverModel.getInfo().mip_dual_bound)
    else:
        if lp.sol_status == pulp.LpSolutionOptimal:
            status = ProcurementStatus.OPTIMAL
        elif lp.sol_status == pulp.LpSolutionIntegerFeasible:
            status = ProcurementStatus.FEASIBLE
        elif lp.sol_status == pulp.LpSolutionInfeasible:
            status = ProcurementStatus.INFEASIBLE
        elif runtime >= 0.95 * time_limit:
            status = ProcurementStatus.TIMED_OUT
        else:
            status = ProcurementStatus.ERROR
    return status, bound, runtime


def _solve(pulp, data: _Data, model: _Model, options: ProcurementOptions, backend: str):
    """Solve; return (status, bound of the combined objective or None, runtime in seconds).

    Without a budget, one solve of  min spend + penalty · short.  With a budget the trade-off between
    shortfall and cost is a knapsack whose penalty-dominated objective makes a relative gap useless,
    so it is solved lexicographically: phase 1  z1 = min penalty · short;  phase 2  min spend  subject
    to  shortfall_cap: penalty · short ≤ z1 (+ tolerance).  Both phases share the time limit.
    """
    lp = model.lp
    if not model.order and not model.short:
        return ProcurementStatus.OPTIMAL, 0.0, 0.0  # nothing to decide: the initial fleet covers all
    if data.budget is None or not model.short or not model.order:
        return _run_solver(pulp, lp, options, backend, options.time_limit_s, model.messages)

    penalty = pulp.lpSum(model.penalty[k] * v for k, v in model.short.items())
    spend = _order_spend(pulp, data, model)
    lp.setObjective(penalty)
    # phase 1 gets most of the time; phase 2 the rest (and at least a second)
    status1, bound1, t1 = _run_solver(pulp, lp, options, backend, 0.7 * options.time_limit_s, model.messages)
    if not status1.has_solution:
        return status1, None, t1
    z1 = float(pulp.value(penalty) or 0.0)
    phase1_values = {v.name: v.varValue for v in lp.variables()}
    tolerance = 1e-7 * abs(z1) + 1e-6 * min(model.penalty.values())
    cap = penalty <= z1 + tolerance
    lp.addConstraint(cap, "shortfall_cap")
    model.constraints["shortfall_cap"] = cap
    lp.setObjective(spend)
    remaining = max(1.0, options.time_limit_s - t1)
    status2, bound2, t2 = _run_solver(pulp, lp, options, backend, remaining, model.messages)
    lp.setObjective(spend + penalty)  # leave the model as documented, e.g. for LP dumps
    if not status2.has_solution:
        # keep phase 1's plan: least shortfall found, cost not polished
        for v in lp.variables():
            v.varValue = phase1_values.get(v.name)
        model.messages.append("cost not minimised after the shortfall phase (time limit); plan is feasible")
        return ProcurementStatus.FEASIBLE, bound1, t1 + t2
    optimal = status1 is ProcurementStatus.OPTIMAL and status2 is ProcurementStatus.OPTIMAL
    status = ProcurementStatus.OPTIMAL if optimal else ProcurementStatus.FEASIBLE
    if status1 is ProcurementStatus.OPTIMAL and bound2 is not None:
        bound = z1 + bound2
    else:
        bound = bound1  # spend ≥ 0, so the penalty's bound also bounds spend + penalty
    return status, bound, t1 + t2


# ---------------------------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------------------------


def _value(var) -> float:
    v = var.value() if hasattr(var, "value") else var
    return 0.0 if v is None else float(v)


def _extract(data: _Data, model: _Model, status: ProcurementStatus):
    """Turn variable values into the purchases, installed and shortfall tables."""
    if not status.has_solution or any(v.value() is None for v in model.order.values()):
        return (
            pd.DataFrame(columns=list(PURCHASE_COLUMNS)),
            pd.DataFrame(columns=list(INSTALLED_COLUMNS)),
            pd.DataFrame(columns=list(SHORTFALL_COLUMNS)),
            0.0,
        )
    bought = {k: data.gran[k[1:]] * int(round(_value(v))) for k, v in model.order.items()}
    purchases = [
        (o, p, t, n, o + data.lead[(p, t)], n * _order_cost(data, (p, t), o))
        for (o, p, t), n in sorted(bought.items())
        if n > 0
    ]
    rows = []
    for key in data.keys:
        installed = data.initial.get(key, 0.0)
        for w in data.weeks:
            arrived = bought.get((w - data.lead[key], *key), 0)
            installed += arrived
            capex_paid = data.capex[key] * bought.get((w, *key), 0)
            run = installed * data.cost_per_month[key] * MONTHS_PER_WEEK
            rows.append((w, key[0], key[1], data.required.get((w, *key), 0.0), arrived, installed, run + capex_paid))
    shortfall = []
    for ckey, var in model.short.items():
        amount = _value(var)
        if amount > 1e-6:
            shortfall.append((ckey[0], ckey[1], ckey[2], ckey[3], amount, model.cover_names[ckey]))
    purchase_cost = float(sum(r[5] for r in purchases))
    installed_frame = pd.DataFrame(rows, columns=list(INSTALLED_COLUMNS)).sort_values(
        ["week", "pool", "server_type"], kind="stable", ignore_index=True
    )
    return (
        pd.DataFrame(purchases, columns=list(PURCHASE_COLUMNS)),
        installed_frame,
        pd.DataFrame(shortfall, columns=list(SHORTFALL_COLUMNS)).sort_values(
            ["week", "pool", "server_type", "resource"], kind="stable", ignore_index=True
        ),
        purchase_cost,
    )


def _explain_shortfall(data: _Data, shortfall: pd.DataFrame, messages: list) -> None:
    """Say why each (pool, type) is short: lead time, fleet limit, or budget."""
    if shortfall.empty:
        return
    for (pool, stype, resource), part in shortfall.groupby(["pool", "server_type", "resource"], sort=True):
        first = int(part["week"].min())
        reasons = []
        keys = [(pool, stype)] if stype != "*" else [k for k in data.keys if k[0] == pool]
        if all(first < data.lead[k] for k in keys):
            reasons.append(f"orders placed in week 0 arrive only in week {min(data.lead[k] for k in keys)}")
        if any(data.max_count[k] is not None for k in keys):
            reasons.append("max_count limits the fleet")
        if data.budget is not None:
            reasons.append("the budget cap may bind")
        unit = "server" if resource == "servers" else resource
        what = f"type {stype!r}" if stype != "*" else "any type"
        messages.append(
            f"shortfall in pool {pool!r}, {what}: {part['shortfall'].sum():.6g} {unit}-weeks over "
            f"{len(part)} week(s) from week {first}" + (f" ({'; '.join(reasons)})" if reasons else "")
        )


def solve_procurement(
    problem: ProcurementProblem, options: ProcurementOptions | None = None
) -> ProcurementResult:
    """Decide the least-cost orders per week, pool and server type for ``problem``.

    Minimises order cost + a heavy penalty on shortfall; with a budget, solves lexicographically
    (least shortfall first, then least cost; see ``docs/procurement.md``).

    Args:
        problem: servers, weekly requirement, initial fleet, horizon, budget, substitution rule.
        options: backend, time limit, gap and shortfall penalty; defaults to :class:`ProcurementOptions`.

    Returns:
        A :class:`ProcurementResult`. Status is data: a shortfall or a time-out is reported, not raised.

    Raises:
        ValueError: a table misses a column, names an unknown server type or holds a negative value
            (the message names the table, row and column).
    """
    import pulp  # heavy import kept out of module scope

    options = options or ProcurementOptions()
    data = _prepare(problem)
    backend = _pick_backend(pulp, options.backend)
    model = _build(pulp, data, options)
    status, bound, runtime = _solve(pulp, data, model, options, backend)
    purchases, installed, shortfall, purchase_cost = _extract(data, model, status)
    messages = list(dict.fromkeys(model.messages))  # once each, in order
    _explain_shortfall(data, shortfall, messages)

    objective = gap = None
    if status.has_solution and not installed.empty:
        penalty = sum(model.penalty[k] * _value(v) for k, v in model.short.items())
        objective = purchase_cost + penalty
        if bound is None and status is ProcurementStatus.OPTIMAL:
            bound = objective
        if bound is not None:
            bound = min(bound, objective)
            gap = 0.0 if abs(objective) < 1e-9 else abs(objective - bound) / abs(objective)
    return ProcurementResult(
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        total_cost=(_initial_run_cost(data) + purchase_cost) if objective is not None else float("nan"),
        purchase_cost=purchase_cost,
        purchases=purchases,
        installed=installed,
        shortfall=shortfall,
        backend=backend,
        runtime_s=runtime,
        messages=tuple(messages),
    )
