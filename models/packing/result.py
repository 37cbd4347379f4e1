"""Solve outcomes: status as data, a frozen result, and the solver options."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["SolveStatus", "Placement", "PackingResult", "SolveOptions", "relative_gap"]


class SolveStatus(str, enum.Enum):
    """Outcome of a solve, the same for every backend.

    ``optimal``: proven optimal (within the relative gap asked for). ``feasible``: a verified plan,
    optimality not proven. ``infeasible``: proven that no plan exists. ``timed_out``: the time limit
    passed before any plan was found. ``error``: the solver failed.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIMED_OUT = "timed_out"
    ERROR = "error"

    @property
    def has_solution(self) -> bool:
        """True when the result carries a plan."""
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Placement:
    """One shard of a group on one worker (a row of the Assignment table)."""

    group_id: str
    shard: int
    fraction: float
    worker_id: str
    server_type: str


@dataclass(frozen=True)
class SolveOptions:
    """Options shared by every backend.

    Args:
        time_limit_s: wall-clock limit for the whole solve (heuristic included).
        workers: threads the solver may use.
        seed: random seed (CP-SAT ``random_seed``, HiGHS ``random_seed``, LNS neighbourhoods).
        mip_gap: relative gap at which a solve counts as optimal.
        exact_max_items: above this many items the exact model is replaced by heuristic +
            large-neighbourhood search with the backend on subsets of workers.
        lns_workers: workers re-packed together per neighbourhood in the large-neighbourhood search.
        lns_step_s: time limit of one neighbourhood solve.
        lns_max_iterations: stop the search after this many neighbourhoods (``None``: time only).
        lns_stall: stop the search after this many neighbourhoods in a row that were not accepted
            (``None``: never).
        deterministic: every budget is counted, not timed: CP-SAT steps stop on its deterministic
            time (``lns_step_s`` units), a step's cover-cut rounds and the fleet-shrinking search's
            moves (``shrink_max_moves``, no budget doubling) are counted, so with ``workers=1`` and
            ``lns_max_iterations`` set the same input gives the same plan on any machine. The overall
            ``time_limit_s`` stays a ceiling; a phase it cuts short is listed in the result's
            ``stats["clock_stops"]`` (the plan may then differ between runs).
        shrink_share: share of the time left after the greedy that goes to the fleet-shrinking
            search (:mod:`models.packing.shrink`) before the neighbourhood search with the backend;
            0 skips it. On instances small enough for the exact model it only improves the hint
            (it stops when its candidates run out, within this share).
        shrink_moves: repair moves the fleet-shrinking search spends on one change before it tries
            another (doubled each time every candidate has failed, unless ``deterministic``).
        shrink_max_moves: with ``deterministic``, the fleet-shrinking search's whole budget of repair
            moves (it replaces ``shrink_share`` of the time).
        shrink_stall: the fleet-shrinking search gives a change up after this many repair moves in a
            row that did not lower its overflow (``None``: only ``shrink_moves`` ends it).
        balance_moves: moves of the final load-balancing pass (:mod:`models.packing.balance`:
            same fleet and cost, less load above ``balance_ceiling`` of each worker's capacity);
            0 skips it.
        balance_ceiling: share of a worker's capacity above which the balancing pass counts load.
        balance_share: share of ``time_limit_s`` kept for the balancing pass (the searches stop
            that much earlier).
        chord_exact_items: above this many items the chord bound takes its class-aggregated form
            (:func:`models.packing.bounds.chord_bound`); ``None``: always the exact programme.
        peak_reference: the other backends also pack peak-based (first fit decreasing on each
            group's peak) for ``stats["peak_cost"]``; False skips it (a caller that packs its own
            baseline: the planner's pipeline, where it was half the packing at 20,000 functions).
    """

    time_limit_s: float = 30.0
    workers: int = 1
    seed: int = 0
    mip_gap: float = 1e-4
    exact_max_items: int = 40
    lns_workers: int = 3
    lns_step_s: float = 2.0
    lns_max_iterations: int | None = None
    lns_stall: int | None = None
    deterministic: bool = False
    shrink_share: float = 0.75
    shrink_moves: int = 1000
    shrink_max_moves: int = 4000
    shrink_stall: int | None = None
    balance_moves: int = 2000
    balance_ceiling: float = 0.9
    balance_share: float = 0.1
    chord_exact_items: int | None = None
    peak_reference: bool = True

    def __post_init__(self) -> None:
        if not (self.time_limit_s > 0):
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not (0 <= self.mip_gap < 1):
            raise ValueError(f"mip_gap must be in [0, 1), got {self.mip_gap}")
        if self.lns_workers < 2:
            raise ValueError(f"lns_workers must be >= 2, got {self.lns_workers}")
        if not (0 <= self.shrink_share <= 1):
            raise ValueError(f"shrink_share must be in [0, 1], got {self.shrink_share}")
        if self.shrink_moves < 1:
            raise ValueError(f"shrink_moves must be >= 1, got {self.shrink_moves}")
        if self.shrink_max_moves < 0:
            raise ValueError(f"shrink_max_moves must be >= 0, got {self.shrink_max_moves}")
        if self.shrink_stall is not None and self.shrink_stall < 1:
            raise ValueError(f"shrink_stall must be >= 1 or None, got {self.shrink_stall}")
        if self.balance_moves < 0:
            raise ValueError(f"balance_moves must be >= 0, got {self.balance_moves}")
        if not (0 < self.balance_ceiling <= 1):
            raise ValueError(f"balance_ceiling must be in (0, 1], got {self.balance_ceiling}")
        if not (0 <= self.balance_share < 1):
            raise ValueError(f"balance_share must be in [0, 1), got {self.balance_share}")


@dataclass(frozen=True)
class PackingResult:
    """What a solve returns: status, cost, best bound, gap and time, and the plan itself.

    ``objective`` is the total server cost (``nan`` without a plan); ``bound`` the best proven lower
    bound on the cost; ``gap = (objective - bound) / objective``. ``placements`` lists every shard;
    ``workers`` maps worker id to server type.
    """

    status: SolveStatus
    backend: str
    objective: float
    bound: float
    runtime_s: float
    placements: tuple[Placement, ...] = ()
    workers: tuple[tuple[str, str], ...] = ()
    message: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap between cost and bound (``nan`` without a plan)."""
        return relative_gap(self.objective, self.bound)

    def assignment_frame(self) -> pd.DataFrame:
        """Assignment table: ``group_id, shard, fraction, worker_id, server_type``."""
        cols = ["group_id", "shard", "fraction", "worker_id", "server_type"]
        return pd.DataFrame([vars(p) for p in self.placements], columns=cols)

    def workers_frame(self) -> pd.DataFrame:
        """Worker table: ``worker_id, server_type``."""
        return pd.DataFrame(list(self.workers), columns=["worker_id", "server_type"])


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / objective``, clipped at 0; ``nan`` when undefined."""
    if not (math.isfinite(objective) and math.isfinite(bound)) or objective <= 0:
        return math.nan
    return max(0.0, (objective - bound) / objective)
