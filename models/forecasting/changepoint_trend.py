"""The seasonal-trend model with Prophet's trend: many potential changes of growth, few kept.

    log(D_d + c) = a + b·d + Σ_k s_k·[d ≥ τ_k] + Σ_j g_j·(d − κ_j)⁺ + weekday_d + yearly(d) + h·holiday_d + e_d

Everything but the trend is :class:`SeasonalTrend`'s (days, weekday, yearly order by BIC, holidays,
level shifts s_k by its forward selection, deviations, intra-day profile, trend variants). The
changes of growth are not chosen one by one: κ_j is a fixed grid of up to ``n_changepoints``
days spread over the first ``changepoint_range`` of the history (Prophet: 25 over the first
80 %), and the slope changes g_j carry an L1 penalty λ·Σ|g_j| (the MAP of Prophet's Laplace
prior), so most are exactly zero and the rest are shrunk. λ is chosen on the lasso path by the
same information criterion as the level shifts (``penalty``·log n per non-zero change; the
number of non-zeros is the lasso's degrees of freedom, Zou, Hastie & Tibshirani 2007). The
growth carried forward is the last segment's, b + Σ g_j, read from at least the last
``1 − changepoint_range`` of the history, so a slope is never read from a few weeks.
"""

from __future__ import annotations

import math

import numpy as np

from models.forecasting._util import quiet
from models.forecasting.seasonal_trend import SeasonalTrend

__all__ = ["ChangepointTrend", "lasso_path_choice"]


class ChangepointTrend(SeasonalTrend):
    """:class:`SeasonalTrend` whose changes of growth are an L1-penalised grid of changepoints.

    Args:
        n_changepoints: most potential changes of growth (fewer on a short history: one per
            ``min_spacing`` days at most).
        changepoint_range: share of the history (from its start) the changepoints spread over.
        min_spacing: fewest days between two changepoints.
        penalty: information-criterion cost of one non-zero change, in units of log n.
        The rest as :class:`SeasonalTrend`.
    """

    def __init__(self, steps_per_day: int = 24, trend: str = "damped", start=None, step=None, holidays=None,
                 n_changepoints: int = 25, changepoint_range: float = 0.8, min_spacing: int = 14,
                 penalty: float = 3.0, **kwargs):
        super().__init__(steps_per_day, trend, start, step, holidays, **kwargs)
        self.n_changepoints = n_changepoints
        self.changepoint_range = changepoint_range
        self.min_spacing = min_spacing
        self.penalty = penalty

    @property
    def name(self):
        return "changepoint_trend"

    def _find_breaks(self, z, d, base, order) -> list[tuple[str, int]]:
        """The level shifts :class:`SeasonalTrend` finds (its growth changes dropped) and the grid
        of changepoints (as hinges, after the steps)."""
        steps = [br for br in super()._find_breaks(z, d, base, order) if br[0] == "step"]
        n = len(z)
        span = int(self.changepoint_range * n)
        k = min(self.n_changepoints, span // self.min_spacing)
        grid = np.unique(np.linspace(0, span - 1, k + 1).round().astype(int)[1:]) if k > 0 else []
        self.cp_grid_ = [int(b) for b in grid]
        self.n_steps_ = len(steps)
        return steps + [("hinge", b) for b in self.cp_grid_]

    def _choose_order(self, z, d, base, breaks, orders) -> int:
        # The yearly order against the level shifts alone: unpenalised, the grid of changepoints
        # would bend the trend through every season and leave the yearly term too little.
        return super()._choose_order(z, d, base, [br for br in breaks if br[0] == "step"], orders)

    def _solve(self, X: np.ndarray, z: np.ndarray) -> np.ndarray:
        # Columns of the final design: base (kept ones), breaks in order (steps, then the grid), yearly.
        offset = int(self.keep_[:self._n_base_].sum())
        pen = np.zeros(X.shape[1], bool)
        first = offset + self.n_steps_
        pen[first:first + len(self.cp_grid_)] = True
        beta, self.lambda_, self.active_ = lasso_path_choice(X, z, pen, self.penalty)
        return beta

    def describe(self) -> str:
        """The parent's account with only the changes of growth the penalty kept."""
        grid = self.breaks_
        self.breaks_ = [br for br in grid if br[0] == "step"] + \
            [("hinge", b) for b, on in zip(self.cp_grid_, self.active_) if on]
        try:
            text = super().describe()
        finally:
            self.breaks_ = grid
        return text + f"; {int(np.count_nonzero(self.active_))} of {len(self.cp_grid_)} changepoints kept"


def lasso_path_choice(X: np.ndarray, z: np.ndarray, penalised: np.ndarray, penalty: float):
    """Least squares of z on X with an L1 penalty λ·Σ|β_j| on the ``penalised`` columns, λ chosen
    on the whole lasso path by n·log(SSE/n) + ``penalty``·log n·(non-zeros).

    The unpenalised columns are projected out first (their coefficients are the least-squares
    ones given the penalised), and the path of the rest is followed exactly by the LARS-lasso
    homotopy on their small Gram matrix (a knot per variable entering or leaving; between knots
    the SSE falls and the count stays, so the criterion's minimum is at a knot). Returns (β, λ,
    mask of the penalised columns that are non-zero)."""
    U, H = X[:, ~penalised], X[:, penalised]
    n = len(z)
    with quiet():
        Q, _ = np.linalg.qr(U)
    Hr = H - Q @ (Q.T @ H)
    zr = z - Q @ (Q.T @ z)
    g, lam = _lars_lasso(Hr.T @ Hr, Hr.T @ zr, float(zr @ zr), n, penalty)
    with quiet():
        b, *_ = np.linalg.lstsq(U, z - H @ g, rcond=None)
    beta = np.empty(X.shape[1])
    beta[~penalised], beta[penalised] = b, g
    return beta, lam, g != 0


def _lars_lasso(G: np.ndarray, c: np.ndarray, zz: float, n: int, penalty: float) -> tuple[np.ndarray, float]:
    """The knot of the lasso path of min ½‖r − Hg‖² + λ‖g‖₁ (G = H'H, c = H'r, zz = r'r) with
    the lowest n·log(SSE/n) + penalty·log n·‖g‖₀."""
    p = len(c)
    g = np.zeros(p)
    diag = np.diag(G)
    usable = diag > 1e-12 * max(1.0, float(diag.max(initial=0.0)))
    corr = np.where(usable, c, 0.0)
    lam = float(np.abs(corr).max(initial=0.0))
    best_crit = n * math.log(max(zz, 1e-300) / n)
    best = (g.copy(), lam)
    if lam <= 0:
        return best
    active = [int(np.argmax(np.abs(corr)))]
    for _ in range(4 * p):
        A = np.array(active)
        s = np.sign(corr[A])
        with quiet():
            w = np.linalg.lstsq(G[np.ix_(A, A)], s, rcond=None)[0]
        a = G[:, A] @ w
        gamma, join, drop = lam, None, None  # down to λ = 0 (least squares) at most
        inactive = np.flatnonzero(usable & ~np.isin(np.arange(p), A))
        for j in inactive:
            for num, den in ((lam - corr[j], 1.0 - a[j]), (lam + corr[j], 1.0 + a[j])):
                if den > 1e-12 and 1e-12 < num / den < gamma:
                    gamma, join, drop = num / den, int(j), None
        for i, j in enumerate(A):
            if w[i] != 0 and 1e-12 < -g[j] / w[i] < gamma:
                gamma, join, drop = -g[j] / w[i], None, int(j)
        g[A] += gamma * w
        lam -= gamma
        if drop is not None:
            g[drop] = 0.0
            active.remove(drop)
        corr = np.where(usable, c - G @ g, 0.0)
        sse = max(zz - 2 * c @ g + g @ G @ g, 1e-300)
        crit = n * math.log(sse / n) + penalty * math.log(n) * np.count_nonzero(g)
        if crit < best_crit - 1e-9:
            best_crit, best = crit, (g.copy(), lam)
        if join is not None:
            active.append(join)
        elif drop is None or not active:
            break  # reached λ = 0
    return best
