"""Horizon-true model for weeks to a year ahead: daily levels with trend, level shifts, weekday,
yearly cycle and holidays, times an intra-day profile by hour of the week.

    y(t) = D(day of t) × P(position of t in its week)                       (two levels)
    log(D_d + c) = a + b·d + Σ_k s_k·[d ≥ τ_k] + Σ_k g_k·(d − κ_k)⁺ + weekday_d + Σ_j yearly_j(d)
                   + h·holiday_d + e_d

* D_d is the mean of day d's slots; P, the ratio of the slots to their day's mean, averaged over
  the last ``profile_weeks`` weeks (a ratio of sums, so each weekday's profile averages 1).
* The trend b is one slope; level shifts τ_k (a launch, a migration) get steps of their own and
  changes of growth κ_k (a business that stops growing) hinges, found by forward selection with a
  BIC-type penalty, so a jump is read as a jump and not as growth that goes on for ever, and the
  growth carried forward is the latest segment's (b + Σ g_k). Asymmetric near the end (issue
  13): a step up may sit a week before the end, a step down needs four weeks after it
  (``down_step_days``), and in the last four weeks days far below the fit are clipped while the
  breaks are chosen (``dip_days``), so that a few days' dip (weather, an outage) does not pull in
  an earlier step or hinge instead. An under-forecast quarter under-buys; an over-forecast one
  costs a server too many for a while.
* The yearly cycle is a Fourier series in the day number whose order (0 = none) is chosen by BIC;
  it needs a year of history (two for more than three harmonics).
* e_d = slow + fast deviations from the fitted level: the last four weeks' mean residual fades
  with the AR(1) coefficient of weekly mean residuals (a level that wanders stays where it went),
  the rest with the AR(1) coefficient of daily residuals.
* A series too young for its own yearly term (under 52 weeks) may be given a borrowed one
  (``yearly_offset``: log effect by day of the year, learnt elsewhere, e.g. from mature series of
  its category): it enters log(D + c) as a fixed offset (coefficient 1), so the trend and level
  shifts are fitted on the seasonally adjusted level, and comes back in the forecast. The plain
  fit stays; the borrowed one adds the variants ``"<trend>,borrowed"`` (one per season offered:
  ``"<trend>,borrowed-<name>"``) for the backtest to choose from.
* The fit is one least-squares solve per candidate design on a few hundred daily rows, so one fit
  costs about a millisecond; ``predict_variants`` extrapolates the slope three ways (``flat``,
  ``linear``, ``damped``) from the same fit, and the backtest chooses among them.

Everything is on log(D + c), c = 10 % of the mean daily level: growth and seasons multiply.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.forecasting._util import quiet
from models.forecasting.base import ArrayForecaster, ModelUnavailableError

__all__ = ["SeasonalTrend", "TRENDS", "YEAR_DAYS"]

MAX_GROWTH = math.log(3.0)  # cap of the carried-forward slope, log per year
# The first is preferred when the backtest cannot tell them apart; "local" is the last resort.
TRENDS = ("damped", "linear", "flat", "local")
DIP_DAYS = 28  # days before the end in which dips are clipped when breaks are chosen (``dip_days``)
DOWN_STEP_DAYS = 28  # fewest days after a level shift down (``down_step_days``; 7 = as a shift up)
DIP_SDS = 3.0  # how far below the fit (robust SDs) a late day counts at most
LOCAL_DAYS = 365  # days of seasonally adjusted level the local trend is fitted on
YEAR_DAYS = 365.25


class SeasonalTrend(ArrayForecaster):
    """Two-level seasonal model with a growth trend, level shifts, yearly cycle and holidays.

    Args:
        steps_per_day: slots per day (24 hourly, 1 daily, 288 at 5 min).
        trend: extrapolation of the slope: ``"damped"`` (the slope fades with a half-life of
            ``damping_days``), ``"linear"`` or ``"flat"`` (level only).
        start: timestamp of the first observation; aligns days and weeks with the calendar and is
            needed for holidays. Without it days are counted back from the end of the series.
        step: spacing of the observations (a Timedelta); needed with ``start``.
        holidays: dates (anything ``pd.DatetimeIndex`` takes) that get a holiday effect.
        profile_weeks: weeks of history the intra-day profile is averaged over (variant ``recent``:
            ``recent_weeks``; variant ``ly``: the same eight weeks one and two years earlier).
        max_breaks: level shifts and growth changes allowed (in total).
        down_step_days: fewest days of history after a level shift down (a shift up needs 7): a
            drop is carried over the whole horizon only once four weeks confirm it; until then the
            recent residual carries it (clipped like the breaks' residual, see ``dip_days``).
        dip_days: in the last ``dip_days`` days, a day more than ``DIP_SDS`` robust standard
            deviations below the fit counts as only that far below when level shifts and growth
            changes are chosen: a few days' dip before the end (weather, an outage, a holiday week)
            read as a new level would under-forecast the whole horizon, while a drop that every day
            shows is still found. Days above the fit are not clipped: a launch is taken at once.
        yearly_orders: candidate numbers of yearly harmonics (BIC picks one; 0 = no yearly cycle).
        damping_days: half-life of the damped slope, in days.
        yearly_offset: borrowed yearly season, 366 log effects indexed by day of the year − 1
            (mean about 0) for a series too short for its own yearly term; with ``start`` known
            it adds the ``",borrowed"`` variants, fitted with it in place of the yearly term (see
            the module's docstring). A mapping {name: season} offers each (``",borrowed-<name>"``).
    """

    _offset = None  # the log yearly offset fitted with (set on the borrowed fit only)

    def __init__(self, steps_per_day: int = 24, trend: str = "damped", start=None, step=None, holidays=None,
                 profile_weeks: int = 52, recent_weeks: int = 8, max_breaks: int = 4, yearly_orders=(0, 1, 2, 3, 5, 8, 12),
                 damping_days: float = 91.0, yearly_offset=None, dip_days: int = DIP_DAYS,
                 down_step_days: int = DOWN_STEP_DAYS):
        self.steps_per_day = steps_per_day
        self.trend = trend
        self.start = start
        self.step = step
        self.holidays = holidays
        self.profile_weeks = profile_weeks
        self.recent_weeks = recent_weeks
        self.max_breaks = max_breaks
        self.yearly_orders = tuple(yearly_orders)
        self.damping_days = damping_days
        self.yearly_offset = yearly_offset
        self.dip_days = dip_days
        self.down_step_days = down_step_days

    @property
    def name(self):
        return "seasonal_trend"

    def min_length(self):
        return 14 * self.steps_per_day + self.steps_per_day - 1  # two whole weeks of days

    # -- calendar -----------------------------------------------------------------------------
    def _offsets(self, n: int) -> tuple[int, int]:
        """(slots before the first whole day, position of slot 0 in its week)."""
        spd = self.steps_per_day
        if self.start is not None and self.step is not None:
            start = pd.Timestamp(self.start)
            into_day = int(round((start - start.normalize()) / pd.Timedelta(self.step))) % spd if spd > 1 else 0
            first = (spd - into_day) % spd
            week_pos = (start.day_of_week * spd + into_day) % (7 * spd)
            return first, week_pos
        first = n % spd  # whole days counted back from the end
        return first, (-n) % (7 * spd) if spd > 1 else (-n) % 7

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, y):
        spd = self.steps_per_day
        n = len(y)
        first, week_pos = self._offsets(n)
        n_days = (n - first) // spd
        if n_days < 14:
            raise ModelUnavailableError(f"{self.name}: needs two whole weeks of days, got {n_days}")
        days = y[first:first + n_days * spd].reshape(n_days, spd)
        D = days.mean(axis=1)
        if np.ptp(D) == 0 and np.ptp(y) == 0:
            raise ModelUnavailableError(f"{self.name}: constant series")
        self.c_ = 0.1 * float(np.mean(np.abs(D))) + 1e-9
        d = np.arange(n_days, dtype=float)
        dow0 = (week_pos + first) // spd % 7  # weekday of day 0 (0 = Monday when start is known)
        self.dow0_, self.first_, self.week_pos_, self.n_days_, self.tail_ = dow0, first, week_pos, n_days, n - first - n_days * spd
        self.day0_ = (pd.Timestamp(self.start) + first * pd.Timedelta(self.step)).normalize() \
            if self.start is not None and self.step is not None else None
        z = np.log(D + self.c_) - self._log_offset(d)
        base = self._base_design(d)
        years = n_days / YEAR_DAYS
        max_order = 0 if years < 52 * 7 / YEAR_DAYS - 1e-9 else (3 if years < 2 else max(self.yearly_orders))
        if self._offset is not None:
            max_order = 0  # the borrowed season stands for the yearly term
        orders = [k for k in self.yearly_orders if k <= max_order] or [0]
        self.yearly_capped_ = max_order < max(self.yearly_orders)
        order = self._choose_order(z, d, base, [], orders)
        breaks = self._find_breaks(z, d, base, order)
        order = self._choose_order(z, d, base, breaks, orders)
        X = self._design(d, base, breaks, order)
        self.keep_ = self._informative(X)  # the same columns in the future design
        X = X[:, self.keep_]
        beta = self._solve(X, z)
        resid = z - X @ beta
        self.recent_ = float(self._clip_dips(resid)[-28:].mean())  # a late dip's days clipped here too
        self.phi_week_ = _ar1(_weekly_means(resid), 0.99)
        self.phi_ = _ar1(resid, 0.95)
        self.last_fast_ = float(resid[-1]) - self.recent_
        self.beta_, self.breaks_, self.order_ = beta, breaks, order
        self.sigma_ = float(np.std(resid))
        self.days_, self.D_ = days, D
        self.profile_ = self._profile(n_days - 7 * self.profile_weeks, n_days)
        self.profile_recent_ = self._profile(n_days - 7 * self.recent_weeks, n_days)
        # Growth carried forward: the slope plus every change of growth (all hinges are active at the end).
        hinge_cols = [i for i, (kind, _) in enumerate(breaks) if kind == "hinge"]
        offset = int(self.keep_[:self._n_base_].sum())
        # Capped at ×3 (÷3) a year: a slope read off a launch ramp must not be carried over a quarter.
        self.raw_slope_ = float(beta[1] + sum(beta[offset + i] for i in hinge_cols))
        self.slope_ = float(np.clip(self.raw_slope_, -MAX_GROWTH, MAX_GROWTH))
        seasonal = self._seasonal_mask(len(self.keep_), order)[self.keep_]
        self.local_ = _holt_damped(z[-LOCAL_DAYS:] - X[-LOCAL_DAYS:, seasonal] @ beta[seasonal])
        self.seasonal_cols_ = seasonal
        # A second fit with the borrowed season as offset. Made whenever a season is given (the
        # caller gives one to series too young for their own), so that a backtest window and the
        # final fit on either side of a year of history offer the same variants.
        self.borrowed_ = {}
        if self._offset is None and self.yearly_offset is not None and self.day0_ is not None:
            self.borrowed_ = {suffix: _BorrowedSeasonalTrend(self, off).fit_array(y) for suffix, off in self._offsets_given().items()}

    def _offsets_given(self) -> dict[str, np.ndarray]:
        """Variant suffix -> borrowed season: ``borrowed`` for one season, ``borrowed-<name>`` for each of a mapping."""
        if isinstance(self.yearly_offset, dict):
            return {f"borrowed-{name}": np.asarray(off, float) for name, off in self.yearly_offset.items()}
        return {"borrowed": np.asarray(self.yearly_offset, float)}

    def _log_offset(self, d: np.ndarray):
        """The borrowed log yearly effect on days ``d`` (0 on the plain fit)."""
        if self._offset is None:
            return 0.0
        doy = (self.day0_ + pd.to_timedelta(d, unit="D")).day_of_year.to_numpy() - 1
        return self._offset[doy]

    def yearly_effect(self, day_of_year) -> np.ndarray:
        """The fitted yearly term (log) on each day of the year (1–366); 0 without one. This is
        what a young series can borrow (``yearly_offset``)."""
        t = np.asarray(day_of_year, float) - 1
        if not self.order_:
            return np.zeros_like(t)
        cols = np.column_stack([f(2 * np.pi * k * t / YEAR_DAYS) for k in range(1, self.order_ + 1) for f in (np.sin, np.cos)])
        yearly = np.zeros(len(self.keep_), bool)
        yearly[len(self.keep_) - 2 * self.order_:] = True
        return cols[:, self.keep_[yearly]] @ self.beta_[yearly[self.keep_]]

    def _solve(self, X: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Coefficients of the final design (least squares; a subclass may penalise some)."""
        with quiet():
            beta, *_ = np.linalg.lstsq(X, z, rcond=None)
        return beta

    def _seasonal_mask(self, n_cols: int, order: int) -> np.ndarray:
        """Columns of the full design that are seasons (weekday, holiday, yearly), not level,
        trend or level shifts."""
        mask = np.zeros(n_cols, bool)
        mask[2:self._n_base_] = True  # weekdays and the holiday flag
        mask[n_cols - 2 * order:] = True
        return mask

    def _base_design(self, d: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(d), (d - self.n_days_ + 1) / YEAR_DAYS]  # slope per year, 0 on the last day
        dow = (self.dow0_ + d.astype(int)) % 7
        if self.steps_per_day >= 1:
            cols += [(dow == k).astype(float) for k in range(1, 7)]
        hol = self._holiday(d)
        if hol is not None:
            cols.append(hol)
        return np.column_stack(cols)

    def _holiday(self, d: np.ndarray):
        if self.holidays is None or self.day0_ is None:
            return None
        dates = self.day0_ + pd.to_timedelta(d, unit="D")
        hol = pd.DatetimeIndex(pd.to_datetime(list(self.holidays))).normalize()
        flag = np.asarray(dates.isin(hol), float)
        return flag

    def _yearly(self, d: np.ndarray, order: int) -> list[np.ndarray]:
        # Phase from the calendar when known, so that the same day of the year gets the same value.
        t = d + (self.day0_.day_of_year - 1 if self.day0_ is not None else 0)
        cols = []
        for k in range(1, order + 1):
            w = 2 * np.pi * k * t / YEAR_DAYS
            cols += [np.sin(w), np.cos(w)]
        return cols

    def _design(self, d, base, breaks, order) -> np.ndarray:
        self._n_base_ = base.shape[1]
        cols = [base]
        if breaks:
            cols.append(np.column_stack([_break_column(kind, b, d) for kind, b in breaks]))
        yr = self._yearly(d, order)
        if yr:
            cols.append(np.column_stack(yr))
        return np.column_stack(cols) if len(cols) > 1 else base

    @staticmethod
    def _informative(X) -> np.ndarray:
        """Columns that vary (a weekday never seen or a holiday never met would be all zero);
        the intercept and the slope always stay, at positions 0 and 1."""
        return (X.std(axis=0) > 0) | (np.arange(X.shape[1]) < 2)

    def _sse(self, X, z) -> float:
        X = X[:, self._informative(X)]
        with quiet():
            beta, *_ = np.linalg.lstsq(X, z, rcond=None)
        r = z - X @ beta
        return float(r @ r)

    def _choose_order(self, z, d, base, breaks, orders) -> int:
        n = len(z)
        best, best_bic = 0, np.inf
        for k in orders:
            X = self._design(d, base, breaks, k)
            bic = n * math.log(self._sse(X, z) / n + 1e-300) + X.shape[1] * math.log(n)
            if bic < best_bic - 1e-9:
                best, best_bic = k, bic
        return best

    def _find_breaks(self, z, d, base, order) -> list[tuple[str, int]]:
        """Level shifts (steps) and changes of growth (hinges) by forward selection: the column
        that lowers the SSE most, kept while the drop beats a penalty of 3·log(n) in BIC terms
        (stricter than BIC: daily errors are autocorrelated, and a spurious break would eat into
        the trend). Steps up may sit up to a week before the end, steps down need
        ``down_step_days`` after them; hinges need half a year after them (a slope read from a few
        weeks would be extrapolated over the whole horizon). Candidates are scored on the residual
        with the last ``dip_days`` days' dips clipped (``_clip_dips``); a step down the unclipped
        residual would have taken instead is listed in ``refused_steps_``.

        A candidate column s lowers the SSE by (s'r)² / (s's − ‖Q's‖²), r the residual and Q an
        orthonormal basis of the current design; for steps and hinges every s'v is a suffix sum
        of v, so all candidates are scored in O(n·p) per round."""
        n = len(z)
        every = 7 if n > 120 else 1
        steps = np.arange(7, n - 6, every)  # whole weeks apart; at least a week each side
        hinges = np.arange(28, n - 182, 28)  # every four weeks; half a year of slope after each
        cand = [("step", int(b)) for b in steps] + [("hinge", int(b)) for b in hinges]
        self.refused_steps_: list[int] = []
        if not cand or self.max_breaks <= 0:
            return []
        m_h = (n - 1 - hinges).astype(float)
        ss = np.r_[(n - steps).astype(float), m_h * (m_h + 1) * (2 * m_h + 1) / 6 / YEAR_DAYS ** 2]
        taken = np.zeros(len(cand), bool)
        breaks: list[tuple[str, int]] = []
        for _ in range(self.max_breaks):
            X = self._design(d, base, breaks, order)
            X = X[:, self._informative(X)]
            with quiet():
                Q, _ = np.linalg.qr(X)
            r = z - Q @ (Q.T @ z)
            rc = self._clip_dips(r)
            rc = rc - Q @ (Q.T @ rc)  # clipping moved it off the residual space
            sr = _candidate_products(np.column_stack([rc, r]), steps, hinges)
            proj = _candidate_products(Q, steps, hinges)
            den = ss - np.einsum("ij,ij->i", proj, proj)
            ok = (den > 1e-9) & ~taken
            short = np.r_[steps > n - self.down_step_days, np.zeros(len(hinges), bool)] & (sr[:, 0] < 0)
            gain = np.where(ok & ~short, sr[:, 0] ** 2 / np.maximum(den, 1e-12), 0.0)
            j = int(np.argmax(gain))
            sse = float(rc @ rc)
            if gain[j] <= 0 or n * math.log(sse / max(sse - gain[j], 1e-300)) < 3 * math.log(n):
                j = -1
            # What the unclipped residual would have taken: reported when it is a step down.
            raw = np.where(ok, sr[:, 1] ** 2 / np.maximum(den, 1e-12), 0.0)
            k = int(np.argmax(raw))
            if k != j and k < len(steps) and sr[k, 1] < 0 and int(steps[k]) not in self.refused_steps_ \
                    and n * math.log(float(r @ r) / max(float(r @ r) - raw[k], 1e-300)) >= 3 * math.log(n):
                self.refused_steps_.append(int(steps[k]))
            if j < 0:
                break
            breaks.append(cand[j])
            taken[j] = True
        # A step down taken within a week of it stands for the same drop: not refused.
        self.refused_steps_ = [b for b in self.refused_steps_ if not any(k == "step" and abs(c - b) <= 7 for k, c in breaks)]
        return breaks

    def _clip_dips(self, r: np.ndarray) -> np.ndarray:
        """``r`` with its last ``dip_days`` values raised to at least −``DIP_SDS`` robust SDs
        (1.4826 × the median absolute deviation of all of ``r``)."""
        if self.dip_days <= 0:
            return r
        floor = -DIP_SDS * 1.4826 * float(np.median(np.abs(r - np.median(r))))
        out = r.copy()
        out[-self.dip_days:] = np.maximum(out[-self.dip_days:], floor)
        return out

    def _profile(self, lo: int, hi: int) -> np.ndarray:
        """Ratio of each slot of the week to its day's mean over whole days [lo, hi) (a ratio of
        sums, so each weekday's slots average 1); 1 where the window never saw the slot."""
        spd = self.steps_per_day
        week = 7 * spd
        lo, hi = max(0, lo), min(self.n_days_, hi)
        if spd == 1 or hi <= lo:
            return np.ones(week)
        flat = self.days_[lo:hi].ravel()
        level = np.repeat(self.D_[lo:hi], spd)
        pos = (self.week_pos_ + self.first_ + np.arange(lo * spd, hi * spd)) % week
        num = np.bincount(pos, weights=flat, minlength=week)
        den = np.bincount(pos, weights=level, minlength=week)
        return np.divide(num, den, out=np.ones(week), where=den > 0)

    def _year_ago_profiles(self, n_future_days: int) -> np.ndarray | None:
        """Profile of each future week from the same eight weeks one and two years earlier (the
        daily shape moves with the seasons: summer evenings are not spring's); None without a year
        and four weeks of history."""
        spd = self.steps_per_day
        if spd == 1 or self.n_days_ < 364 + 28:
            return None
        out = []
        for w in range(-(-n_future_days // 7)):
            start = self.n_days_ + 7 * w
            num = np.zeros(7 * spd)
            den = np.zeros(7 * spd)
            for back in (364, 728):
                lo, hi = max(0, start - back - 28), min(self.n_days_, start - back + 35)
                if hi - lo < 28:
                    continue
                flat = self.days_[lo:hi].ravel()
                pos = (self.week_pos_ + self.first_ + np.arange(lo * spd, hi * spd)) % (7 * spd)
                num += np.bincount(pos, weights=flat, minlength=7 * spd)
                den += np.bincount(pos, weights=np.repeat(self.D_[lo:hi], spd), minlength=7 * spd)
            out.append(np.divide(num, den, out=self.profile_.copy(), where=den > 0))
        return np.stack(out)

    # -- forecasting --------------------------------------------------------------------------
    def _daily_forecast(self, n_future_days: int) -> dict[str, np.ndarray]:
        d_last = self.n_days_ - 1
        d = np.arange(self.n_days_, self.n_days_ + n_future_days, dtype=float)
        X = self._design(d, self._base_design(d), self.breaks_, self.order_)[:, self.keep_]
        k = d - d_last
        # Steps are on in the future; the slope and hinge terms grow past the last day at the
        # fitted (uncapped) slope, so that is what comes off; the trend variants below then add
        # their own extrapolation of the capped slope (subtracting the capped one left a launch
        # ramp's slope, 36 a year in log on a group two weeks old, compounding over the quarter).
        base = X @ self.beta_ - self.raw_slope_ * k / YEAR_DAYS
        ar = self.recent_ * self.phi_week_ ** (k / 7.0) + self.last_fast_ * self.phi_ ** k
        slope = self.slope_ / YEAR_DAYS
        rho = 0.5 ** (1.0 / self.damping_days)
        damped = rho * (1 - rho ** k) / (1 - rho)
        out = {"damped": base + ar + slope * damped, "linear": base + ar + slope * k, "flat": base + ar}
        # Local: the seasons of the fit plus the damped Holt forecast of the seasonally adjusted
        # level (what MSTL + ETS does), which follows the latest slope where the global one lags.
        level, trend, phi = self.local_
        out["local"] = X[:, self.seasonal_cols_] @ self.beta_[self.seasonal_cols_] + level + trend * phi * (1 - phi ** k) / (1 - phi)
        off = self._log_offset(d)
        out = {key: v + off for key, v in out.items()}
        return {key: np.maximum(np.exp(np.minimum(v, 700.0)) - self.c_, 0.0) for key, v in out.items()}

    def predict_variants(self, h: int) -> dict[str, np.ndarray]:
        """Point forecasts of the next ``h`` steps for every trend extrapolation (``TRENDS``), each
        with the long intra-day profile (``"<trend>"``), the recent one (``"<trend>,recent"``)
        and, with a year of history, the year-ago one (``"<trend>,ly"``); daily data have no
        intra-day profile, so only the trends."""
        spd = self.steps_per_day
        # Slots after the last whole day: the rest of a partial day, then whole days.
        idx = self.tail_ + np.arange(h)  # slot index counted from the end of the last whole day
        n_future_days = int(idx[-1] // spd) + 1
        daily = self._daily_forecast(n_future_days)
        day_of = idx // spd
        pos = (self.week_pos_ + self.first_ + self.n_days_ * spd + idx) % (7 * spd)
        out = {k: v[day_of] * self.profile_[pos] for k, v in daily.items()}
        if spd > 1:
            out.update({f"{k},recent": v[day_of] * self.profile_recent_[pos] for k, v in daily.items()})
        year_ago = self._year_ago_profiles(n_future_days)
        if year_ago is not None:
            prof = year_ago[day_of // 7, pos]
            out.update({f"{k},ly": v[day_of] * prof for k, v in daily.items()})
        for suffix, fit in self.borrowed_.items():
            out.update({f"{k},{suffix}": v for k, v in fit.predict_variants(h).items()})
        return out

    def _predict(self, h):
        return self.predict_variants(h)[self.trend]

    def _day_text(self, b: int) -> str:
        return str((self.day0_ + pd.Timedelta(days=b)).date()) if self.day0_ is not None else f"day {b}"

    def describe(self) -> str:
        """Short account of the fit for the report: yearly order, level shifts, slope per year."""
        parts = [f"yearly {self.order_}" + (" (capped by history)" if self.yearly_capped_ and self.order_ else "")]
        for kind, label in (("step", "level shifts"), ("hinge", "growth changes")):
            when = [self._day_text(b) for k, b in self.breaks_ if k == kind]
            if when:
                parts.append(f"{label} " + ", ".join(when))
        if getattr(self, "refused_steps_", None):
            parts.append("late dip not read as a level shift (" + ", ".join(self._day_text(b) for b in self.refused_steps_) + ")")
        parts.append(f"growth {math.expm1(self.slope_):+.0%}/yr")
        for suffix, fit in self.borrowed_.items():
            parts.append(f"{suffix.replace('-', ' ')} yearly season ±{np.ptp(fit._offset) / 2:.0%} "
                         f"(its fit: growth {math.expm1(fit.slope_):+.0%}/yr)")
        return "; ".join(parts)


class _BorrowedSeasonalTrend(SeasonalTrend):
    """The fit of a young series with a borrowed yearly season as a fixed offset in the log
    (its variants come back through the plain model's ``predict_variants`` as ``",borrowed"``)."""

    def __init__(self, plain: SeasonalTrend, offset: np.ndarray):
        super().__init__(plain.steps_per_day, plain.trend, plain.start, plain.step, plain.holidays, plain.profile_weeks,
                         plain.recent_weeks, plain.max_breaks, plain.yearly_orders, plain.damping_days,
                         dip_days=plain.dip_days, down_step_days=plain.down_step_days)
        self._offset = offset


_ALPHA = np.array([0.02, 0.05, 0.1, 0.2, 0.35, 0.5])
_BETA = np.array([0.01, 0.05, 0.15, 0.4])  # share of alpha
_PHI = np.array([0.9, 0.95, 0.98, 0.99])
_GRID = np.array(np.meshgrid(_ALPHA, _BETA, _PHI, indexing="ij")).reshape(3, -1)


def _holt_damped(a: np.ndarray, burn: int = 14) -> tuple[float, float, float]:
    """Damped Holt on daily values ``a``: (level, slope, phi) at the end, the smoothing weights
    chosen on a grid by one-step squared error (all grid points run at once, one pass). The slope
    is capped at ±``MAX_GROWTH`` a year like the global one."""
    alpha, beta, phi = _GRID[0], _GRID[0] * _GRID[1], _GRID[2]
    n0 = min(7, len(a))
    level = np.full(alpha.shape, float(np.mean(a[:n0])))
    slope = np.zeros(alpha.shape)
    sse = np.zeros(alpha.shape)
    for t in range(n0, len(a)):
        f = level + phi * slope
        e = a[t] - f
        if t >= burn:
            sse += e * e
        level = f + alpha * e
        slope = phi * slope + beta * e
    j = int(np.argmin(sse))
    cap = MAX_GROWTH / YEAR_DAYS
    return float(level[j]), float(np.clip(slope[j], -cap, cap)), float(phi[j])


def _break_column(kind: str, b: int, d: np.ndarray) -> np.ndarray:
    """A level shift at day b (0 before, 1 from b) or a change of growth (years since b, from b)."""
    if kind == "step":
        return (d >= b).astype(float)
    return np.maximum(d - b, 0.0) / YEAR_DAYS


def _weekly_means(r: np.ndarray) -> np.ndarray:
    """Means of whole weeks counted back from the end."""
    k = len(r) // 7
    return r[len(r) - 7 * k:].reshape(k, 7).mean(axis=1) if k else r[-1:]


def _ar1(r: np.ndarray, cap: float) -> float:
    """Lag-1 autocorrelation of ``r`` (about its mean zero), clipped to [0, cap]."""
    if len(r) < 3:
        return 0.0
    r0, r1 = r[:-1], r[1:]
    den = float(r0 @ r0)
    return float(np.clip((r0 @ r1) / den, 0.0, cap)) if den > 0 else 0.0


def _candidate_products(V: np.ndarray, steps: np.ndarray, hinges: np.ndarray) -> np.ndarray:
    """s'V for every step column [d ≥ b] (b in ``steps``) and hinge column (d − b)⁺ / year (b in
    ``hinges``), as rows, by suffix sums of V and d·V."""
    d = np.arange(len(V), dtype=float)[:, None]
    t0 = np.cumsum(V[::-1], axis=0)[::-1]  # t0[b] = Σ_{d≥b} V_d
    t1 = np.cumsum((d * V)[::-1], axis=0)[::-1]  # t1[b] = Σ_{d≥b} d·V_d
    hb = hinges[:, None].astype(float)
    return np.vstack([t0[steps], (t1[hinges] - hb * t0[hinges]) / YEAR_DAYS])
