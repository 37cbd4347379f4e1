"""planner.profile: profiles and pairs from telemetry or demand, catalog features, plots, real data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import columns as C
from planner.errors import InputDataError
from planner.profile import deadline_class, profile_functions, write_profile_outputs
from planner.telemetry import Telemetry

HUAWEI = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "huawei-dc4" / "datacentre_4.csv"


def synthetic_counts(days=14, freq="15min"):
    """Telemetry matrix [intervals x functions]: day and night (exact opposites per hour), idle, spiky."""
    index = pd.date_range("2024-01-01", periods=int(days * 86400 / pd.Timedelta(freq).total_seconds()), freq=freq)
    hour = index.hour.to_numpy()
    day = np.where((hour >= 8) & (hour < 20), 10.0, 0.0)
    night = 10.0 - day
    rng = np.random.default_rng(0)
    spiky = rng.poisson(2, len(index)).astype(float)
    spiky[::500] += 200
    counts = np.column_stack([day, night, np.zeros(len(index)), spiky])
    return index, ["day", "night", "idle", "spiky"], counts


def catalog(ids):
    n = len(ids)
    return pd.DataFrame(
        {
            C.UNIQUE_ID: ids,
            C.APP: ["web", "web", "batch", "batch", "ghost"][:n],
            C.CUSTOMER: "c1",
            C.CPU_MILLICORES: 300.0,
            C.MEMORY_MB: [128.0, 256.0, 512.0, 1024.0, 128.0][:n],
            C.DURATION_S: [0.5, 1.0, 2.0, 4.0, 1.0][:n],
            C.TRIGGER: ["http", "queue", "timer", "others", "http"][:n],
            C.GROUP_ID: ["web", "web", "batch", "batch", "ghost"][:n],
        }
    )


@pytest.fixture
def telemetry():
    index, ids, counts = synthetic_counts()
    return Telemetry(index, pd.Index(ids, name=C.UNIQUE_ID), counts.astype(np.float32))


def test_profiles_pairs_and_catalog_features(telemetry):
    cat = catalog(["day", "night", "idle", "spiky", "ghost"])  # ghost: catalog only
    res = profile_functions(telemetry, cat)
    prof = res.profiles.set_index(C.UNIQUE_ID)
    assert list(prof.index) == ["day", "night", "idle", "spiky", "ghost"]
    assert prof.loc["day", "peak_hour"] == 8 and prof.loc["day", "invocations_per_hour"] == pytest.approx(20.0)
    assert 20 <= prof.loc["night", "diurnal_phase_h"] or prof.loc["night", "diurnal_phase_h"] < 8
    assert prof.loc["day", "deadline_class"] == "interactive" and prof.loc["idle", "deadline_class"] == "batch"
    assert prof.loc["spiky", "memory_mb"] == 1024 and prof.loc["spiky", "duration_s"] == 4.0
    assert prof.loc["idle", "cluster"] == -1 and "idle" in prof.loc["idle", "note"]
    assert prof.loc["ghost", "note"] == "in the catalog but no telemetry"
    assert prof.loc["spiky", "spikes_per_day"] > 0
    assert prof.loc["day", "cluster"] != prof.loc["night", "cluster"]
    first = res.pairs.iloc[0]
    assert {first["a"], first["b"]} == {"day", "night"}
    assert first["correlation"] == pytest.approx(-1.0) and first["multiplexing_gain"] == 2.0
    assert any("idle" in n for n in res.notes) and any("no telemetry" in n for n in res.notes)


def test_unknown_functions_are_profiled_and_noted(telemetry):
    res = profile_functions(telemetry, catalog(["day", "night"]))
    prof = res.profiles.set_index(C.UNIQUE_ID)
    assert "not in the catalog" in prof.loc["spiky", "note"]
    assert np.isnan(prof.loc["spiky", "memory_mb"])
    assert any("no catalog entry" in n for n in res.notes)


def test_long_frame_and_telemetry_agree(telemetry):
    a = profile_functions(telemetry)
    b = profile_functions(telemetry.to_frame())
    pd.testing.assert_frame_equal(a.profiles, b.profiles, check_dtype=False)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)


def test_group_level_sums_members(telemetry):
    cat = catalog(["day", "night", "idle", "spiky"])
    res = profile_functions(telemetry, cat, level="group")
    prof = res.profiles.set_index(C.GROUP_ID)
    assert list(prof.index) == ["batch", "web"]
    # day + night is flat at 10 per 15 min
    assert prof.loc["web", "cv"] == pytest.approx(0.0, abs=1e-12)
    assert prof.loc["web", "n_functions"] == 2 and prof.loc["web", "deadline_class"] == "interactive"
    assert prof.loc["web", "memory_mb"] == 256


def test_demand_frame_is_accepted():
    idx = pd.date_range("2024-01-01", periods=24 * 8, freq="1h")
    hour = idx.hour.to_numpy()
    demand = pd.concat(
        [
            pd.DataFrame({C.GROUP_ID: g, C.DS: idx, C.INVOCATIONS: 3600.0, C.CPU_CORES: v})
            for g, v in [("a", 1.0 + (hour < 12)), ("b", 1.0 + (hour >= 12))]
        ]
    )
    res = profile_functions(demand, value=C.CPU_CORES)
    first = res.pairs.iloc[0]
    assert first["correlation"] == pytest.approx(-1.0) and first["multiplexing_gain"] == pytest.approx(4 / 3)
    assert (res.profiles["frequency_class"] == "per_second").all()


def test_short_series_note():
    index, ids, counts = synthetic_counts(days=3)
    res = profile_functions(Telemetry(index, pd.Index(ids), counts))
    prof = res.profiles.set_index(C.UNIQUE_ID)
    assert prof.loc["day", "profile"] == "daily" and "daily profile only" in prof.loc["day", "note"]
    assert any("fewer than 7 days" in n for n in res.notes)
    assert res.weekly.shape[1] == 168


def test_bad_input(telemetry):
    with pytest.raises(InputDataError, match="level"):
        profile_functions(telemetry, level="app")
    with pytest.raises(InputDataError, match="catalog"):
        profile_functions(telemetry, level="group")
    with pytest.raises(InputDataError, match="whole multiple"):
        profile_functions(telemetry, slot="5min")
    with pytest.raises(InputDataError, match="slot"):
        profile_functions(telemetry, slot="soon")


def test_deadline_class_from_column_or_trigger():
    cat = pd.DataFrame({C.TRIGGER: ["http", "timer", "queue", "http"], "deadline": [np.nan, 2, 7200, "batch"]})
    assert list(deadline_class(cat)) == ["interactive", "interactive", "batch", "batch"]


def test_outputs_are_written(telemetry, tmp_path):
    res = profile_functions(telemetry, catalog(["day", "night", "idle", "spiky"]))
    paths = write_profile_outputs(res, tmp_path / "out")
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert pd.read_csv(paths["pairs"]).columns.tolist() == ["a", "b", "saving", "saving_share", "correlation",
                                                             "multiplexing_gain"]
    assert paths["centroids"].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not HUAWEI.exists(), reason=f"real data not found at {HUAWEI}")
def test_huawei_dc4_profiles():
    from planner.ingest import read_huawei

    tel, cat = read_huawei(HUAWEI)
    res = profile_functions(tel, cat)
    prof = res.profiles.assign(func=lambda f: f[C.UNIQUE_ID].str.split("---").str[0]).set_index("func")
    assert len(prof) == 8 and (prof["profile"] == "weekly").all()
    # In the file's clock, 296, 415 and 431 peak at night (01-02 h), 49 around noon.
    for f in ("296", "415", "431"):
        assert prof.loc[f, "peak_hour"] in (0, 1, 2, 3)
    assert 10 <= prof.loc["49", "peak_hour"] <= 14
    assert prof.loc["296", "cluster"] == prof.loc["415", "cluster"] == prof.loc["431", "cluster"]
    assert prof.loc["49", "cluster"] != prof.loc["296", "cluster"]
    assert prof.loc["20", "peak_to_mean"] > 10  # the 21 h burst function
    assert prof.loc["49", "weekday_weekend_ratio"] < 1 < prof.loc["116", "weekday_weekend_ratio"]
    pairs = res.pairs
    assert len(pairs) == 20 and pairs["saving"].is_monotonic_decreasing
    assert (pairs["multiplexing_gain"] >= 1).all()
    # The 21 h burst function (20) saves the most capacity beside any other: its burst meets their troughs.
    assert "20---168---pool30-1800-2048" in set(pairs.iloc[0][["a", "b"]])


def test_cpu_cores_from_telemetry_uses_demand(telemetry):
    cat = catalog(["day", "night", "idle", "spiky"])
    res = profile_functions(telemetry, cat, value=C.CPU_CORES, level="group")
    prof = res.profiles.set_index(C.GROUP_ID)
    # web: day (0.5 s) + night (1 s) at 10 per 15 min -> concurrency 10/900*0.5 or 10/900*1, cpu 0.3 cores each
    assert prof.loc["web", "peak"] == pytest.approx(10 / 900 * 1.0 * 0.3)
    assert prof.loc["web", "invocations_per_hour"] == pytest.approx(40.0)
    assert res.value == C.CPU_CORES


def test_same_input_same_profile(telemetry):
    cat = catalog(["day", "night", "idle", "spiky"])
    a = profile_functions(telemetry, cat, seed=3)
    b = profile_functions(telemetry, cat, seed=3)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)
