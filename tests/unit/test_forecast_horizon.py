"""Issue 13's asks at the edges: a year-ahead horizon, the run-level warning when the yearly term
is dropped, and holiday calendars that are wrong in a scenario or on the command line."""

import sys

import numpy as np
import pandas as pd
import pytest

from models.forecasting._util import single_blas_thread
from models.forecasting.auto import forecast_array
from planner.errors import InputDataError, PlannerError, ScenarioError
from planner.forecast import forecast_long, read_holidays
from planner.scenarios import load_scenario

START = pd.Timestamp("2023-01-02")  # a Monday


def _yearly_growing(weeks, seed=0):
    """Hourly counts: level 30 growing 20 % a year, a yearly cycle (±30 %, peak in February),
    a daily cycle and quieter weekends."""
    t = np.arange(weeks * 168)
    days = t / 24
    shape = (1 + 0.5 * np.sin(2 * np.pi * (t - 9) / 24)) * np.where((t % 168) < 120, 1.1, 0.75)
    mean = 30 * 1.2 ** (days / 365.25) * (1 + 0.3 * np.cos(2 * np.pi * (days - 45) / 365.25)) * shape
    return np.random.default_rng(seed).poisson(mean).astype(float), mean


def test_a_52_week_horizon_from_two_and_a_half_years_is_calibrated_at_every_lead_time():
    y, mean = _yearly_growing(130 + 52)
    train, future = y[:130 * 168], mean[130 * 168:]
    h = 52 * 168
    with single_blas_thread():
        f = forecast_array(train, h, "1h", start=START)
    assert f.fallback is None and f.h_backtest == h and f.n_windows >= 3, f.notes
    assert f.mean.shape == (h,) and np.isfinite(f.quantiles).all() and (f.quantiles >= 0).all()
    buckets = {r["bucket"] for r in f.calibration}
    assert buckets == {"w1-2", "w3-6", "w7-13", "w14-52"}
    # The yearly cycle and the growth are carried a year ahead: weekly means follow the truth.
    weekly = f.mean.reshape(52, 168).mean(axis=1)
    truth = future.reshape(52, 168).mean(axis=1)
    assert np.corrcoef(weekly, truth)[0, 1] > 0.9
    assert np.abs(weekly / truth - 1).mean() < 0.12
    # The q99 band widens (never narrows) from the first weeks to the last.
    spread = (f.quantiles[-1] - f.quantiles[1]).reshape(52, 168).mean(axis=1) / weekly
    assert spread[-4:].mean() >= spread[:2].mean()


def test_the_run_warns_once_when_series_are_too_short_for_a_yearly_term():
    y, _ = _yearly_growing(20, seed=3)
    ds = pd.date_range(START, periods=len(y), freq="h")
    long = pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": y * k}) for u, k in (("a", 1), ("b", 2))])
    with pytest.warns(UserWarning, match=r"2 of 2 series forecast without a yearly cycle: they hold 20 weeks .* needs 52"):
        run = forecast_long(long, 13 * 168, freq="1h", n_jobs=1)
    assert run.report["notes"].str.contains("yearly cycle not modelled").all()
    assert np.isfinite(run.forecast[["mean", "q99"]].to_numpy()).all()


@pytest.mark.parametrize("content,match", [
    ("", "no holiday dates"),
    ("date\n2024-07-04\n2024-13-45\n", r"row 3.*not a date: '2024-13-45'"),
    ("\n\n", "no holiday dates"),
])
def test_a_bad_holiday_file_names_the_file_and_row(tmp_path, content, match):
    p = tmp_path / "hol.csv"
    p.write_text(content)
    with pytest.raises(InputDataError, match=match) as info:
        read_holidays(p, range(2024, 2025))
    assert str(p) in str(info.value)


def test_holidays_in_a_scenario_are_checked_when_it_is_loaded(tmp_path):
    (tmp_path / "hol.csv").write_text("ds\n2027-01-01\nsoon\n")
    s = tmp_path / "s.yaml"
    s.write_text("forecast: {holidays: hol.csv}\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml: forecast\.holidays: .*hol\.csv, row 3.*'soon'"):
        load_scenario(s)
    s.write_text("forecast: {holidays: missing-file.csv}\n")
    with pytest.raises(ScenarioError, match=r"forecast\.holidays: holidays 'missing-file.csv': neither an existing file"):
        load_scenario(s)
    (tmp_path / "hol.csv").write_text("2027-01-01\n2027-12-25\n")
    s.write_text("forecast: {holidays: hol.csv}\n")
    assert load_scenario(s).forecast.holidays == str((tmp_path / "hol.csv").resolve())


def test_a_country_calendar_without_the_holidays_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "holidays", None)  # import holidays -> ImportError
    with pytest.raises(PlannerError, match=r"pip install 'planner\[holidays\]'"):
        read_holidays("US", range(2024, 2025))
    s = tmp_path / "s.yaml"
    s.write_text("forecast: {holidays: US}\n")
    with pytest.raises(PlannerError, match=r"s\.yaml: forecast\.holidays: .*needs the holidays package"):
        load_scenario(s)


def _daily_fleet(groups, end="2026-02-14", seed=0):
    """Daily demand of ``groups`` {name: (days of history, level, yearly peak day)}: a yearly
    cycle (±30 % around its peak day), weekday shape, Poisson noise; all end on ``end``. Returns
    (history, truth of the next 91 days)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(end=pd.Timestamp(end), periods=2 * 365 + 91, freq="D")
    ds_all = ds.append(pd.date_range(ds[-1] + pd.Timedelta("1D"), periods=91, freq="D"))
    hist, truth = [], {}
    for name, (days, level, peak) in groups.items():
        doy = ds_all.day_of_year.to_numpy()
        mean = level * (1 + 0.3 * np.cos(2 * np.pi * (doy - peak) / 365.25)) * np.where(ds_all.day_of_week < 5, 1.1, 0.75)
        y = rng.poisson(mean).astype(float)
        n = len(ds)
        hist.append(pd.DataFrame({"unique_id": name, "ds": ds[n - days:], "y": y[n - days:n]}))
        truth[name] = mean[n:]
    return pd.concat(hist, ignore_index=True), truth


def test_a_young_group_borrows_its_categorys_yearly_season():
    """Five months of a queue-triggered group, from late October over its season's peak in
    mid-February to March 20: the category's mature groups (two years, peak in February) lend
    their season, the http groups (peak in August) do not, the backtest takes it, and the
    quarter ahead follows the fall of the season."""
    groups = {f"q{i}": (730, 50 + 10 * i, 45) for i in range(4)}
    groups |= {f"h{i}": (730, 300, 225) for i in range(4)}  # larger: the fleet's season is theirs
    groups["new"] = (150, 100, 45)
    history, truth = _daily_fleet(groups, end="2026-03-20")
    cats = {g: ("queue" if g.startswith("q") or g == "new" else "http") for g in groups}
    with single_blas_thread():
        run = forecast_long(history, 91, freq="1D", categories=cats, n_jobs=1)
        plain = forecast_long(history, 91, freq="1D", borrow_seasons=False, n_jobs=1)
    rep = run.report.set_index("unique_id")
    # Both seasons offered; the category's (peak in February) wins the backtest over the fleet's (August).
    assert ",borrowed-category" in rep.loc["new", "model"], rep.loc["new", "candidates"]
    assert "yearly season of category 'queue' (4 mature series" in rep.loc["new", "notes"]
    assert "and the fleet's (8 mature series" in rep.loc["new", "notes"]
    assert "the backtest took the category's" in rep.loc["new", "notes"]
    assert (rep.drop(index="new")["model"].str.contains("borrowed")).sum() == 0  # mature groups keep their own
    err = {}
    for name, r in (("borrowed", run), ("plain", plain)):
        f = r.forecast[r.forecast["unique_id"] == "new"]["mean"].to_numpy()
        err[name] = np.abs(f - truth["new"]).mean() / truth["new"].mean()
    assert err["borrowed"] < 0.12 and err["borrowed"] < 0.7 * err["plain"], err
    # Without categories only the fleet's season (mostly the http groups', peak in August) is offered.
    with single_blas_thread():
        fleet = forecast_long(history, 91, freq="1D", n_jobs=1)
    assert "yearly season of the fleet (8 mature series" in fleet.report.set_index("unique_id").loc["new", "notes"]


def test_a_fleet_without_mature_series_borrows_no_season_and_says_so():
    history, _ = _daily_fleet({"a": (100, 40, 45), "b": (150, 60, 200)})
    with single_blas_thread(), pytest.warns(UserWarning, match="2 of 2 series forecast without a yearly cycle"):
        run = forecast_long(history, 91, freq="1D", categories={"a": "queue", "b": "queue"}, n_jobs=1)
    assert run.report["notes"].str.contains("no borrowed yearly season: no established series of 52 weeks").all()
    assert not run.report["model"].str.contains("borrowed").any()
    assert np.isfinite(run.forecast[["mean", "q99"]].to_numpy()).all()


def test_group_categories_take_each_groups_most_common_trigger():
    from planner.forecast import group_categories

    catalog = pd.DataFrame({"unique_id": list("abcdef"), "group_id": ["g1", "g1", "g1", "g2", "g2", "g3"],
                            "trigger": ["queue", "http", "queue", "timer", "http", "event"]})
    assert group_categories(catalog) == {"g1": "queue", "g2": "http", "g3": "event"}  # a tie: the first by name
    assert group_categories(catalog.drop(columns="trigger")) is None
