"""planner.forecast: a group launched days before the origin is offered the ramp of the fleet's past
launches (past_launches), the report says which model it took and why, the summary counts it."""

import numpy as np
import pandas as pd

from planner.forecast import fallback_summary, forecast_long, past_launches

H = 4 * 168  # four weeks ahead keeps the test small; the ramp takes six
T0 = pd.Timestamp("2026-01-05")
N = 30 * 168  # 30 weeks of history
MODELS = ("naive", "seasonal_naive", "window_average")


def _ramp(age_h):
    return np.where(age_h < 0, 0.0, 1.0 / (1.0 + np.exp(-8.0 * (age_h / 24 / 42 - 0.5))))


def _table(rng, launch_hours, young=True, sparse=False):
    t = np.arange(N)
    daily = 1.0 + 0.4 * np.sin(2 * np.pi * (t % 24 - 8) / 24)
    rows = {}
    for i in range(3):  # established groups, flat
        rows[f"old{i}"] = 3.0 * daily * np.exp(rng.normal(0, 0.1, N))
    for i, at in enumerate(launch_hours):
        rows[f"past{i}"] = float(np.exp(rng.normal(1, 0.4))) * _ramp(t - at) * daily * np.exp(rng.normal(0, 0.1, N))
    if young:
        rows["young"] = 5.0 * _ramp(t - (N - 72)) * daily * np.exp(rng.normal(0, 0.1, N))
    if sparse:  # quiet for its first two days: an intermittent group, not a launch
        rows["sparse"] = np.where(t < 48, 0.0, rng.poisson(0.3, N).astype(float))
    ds = T0 + pd.to_timedelta(t, unit="h")
    return pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": y}) for u, y in rows.items()], ignore_index=True)


def test_young_group_takes_the_ramp_and_the_report_says_so():
    rng = np.random.default_rng(1)
    past_at = [int(x) for x in rng.integers(5 * 168, 20 * 168, 6)]  # launched in weeks 5-20: seen 10+ weeks since
    df = _table(rng, past_at, sparse=True)
    run = forecast_long(df, H, models=MODELS)
    rep = run.report.set_index("unique_id")
    assert rep.loc["young", "model"] == "launch_ramp" and rep.loc["young", "fallback"]
    assert "launch ramp of 6 past launches taken" in rep.loc["young", "notes"]
    assert (rep.drop(index="young")["model"] != "launch_ramp").all()
    summary = fallback_summary(run.report)
    assert summary["launch_ramp"] == 1
    fc = run.forecast[run.forecast["unique_id"] == "young"]
    last = fc["mean"].to_numpy()[-168:].mean()
    truth = 5.0 * _ramp(np.arange(N + H - 168, N + H) - (N - 72)).mean()
    assert abs(last - truth) / truth < 0.3  # the fourth week ahead: near the ramp's truth
    assert last > 5 * df[df.unique_id == "young"]["y"].to_numpy()[-72:].mean()  # far above the flat path


def test_only_launches_inside_the_history_are_past_launches():
    rng = np.random.default_rng(2)
    df = _table(rng, [6 * 168, 8 * 168, 10 * 168], sparse=True)
    tasks = [((u,), g["ds"].iloc[-1], g["y"].to_numpy(), g["ds"].iloc[0]) for u, g in df.groupby("unique_id", sort=True)]
    names = [t[0][0] for t in tasks]
    out = past_launches(tasks, "1h", H)
    # Only the young group is offered a ramp (the past launches are older than two horizons); it
    # borrows from the three past launches, not from the intermittent group (first two days quiet)
    # nor from the established ones.
    young = names.index("young")
    assert set(out) == {young}
    assert sorted(len(d) for d, _ in out[young]["launches"]) == sorted(N - a for a in (6 * 168, 8 * 168, 10 * 168))
    assert out[young]["launch_profile"] is not None


def test_no_past_launch_keeps_todays_path_with_a_note():
    rng = np.random.default_rng(3)
    df = _table(rng, [])
    run = forecast_long(df, H, models=MODELS)
    today = forecast_long(df, H, models=MODELS, launch_ramps=False)
    rep = run.report.set_index("unique_id")
    assert rep.loc["young", "model"] != "launch_ramp"
    assert "no launch ramp: 0 past launch(es)" in rep.loc["young", "notes"]
    pd.testing.assert_frame_equal(run.forecast, today.forecast)
    assert fallback_summary(run.report)["launch_ramp"] == 0
