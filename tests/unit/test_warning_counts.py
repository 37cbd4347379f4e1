"""A warning said several times is listed once, where it was first said, with its count (×N):
in summary.json ``warnings``, the Summary page's Warnings and report.html alike."""

import warnings

import pandas as pd

from planner.errors import counted, own_warnings
from planner.export.review import warnings_of


def _caught(*messages, category=UserWarning):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for m in messages:
            warnings.warn(m, category, stacklevel=1)
    return caught


def test_own_warnings_keep_order_and_count_repeats():
    caught = _caught("no yearly cycle for g1", "gap repaired", "no yearly cycle for g1", "no yearly cycle for g1")
    caught += _caught("old API", category=DeprecationWarning)  # a library's note: left out
    assert own_warnings(caught) == ["no yearly cycle for g1 (×3)", "gap repaired"]


def test_counted_adds_counts_already_given():
    assert counted(["a (×2)", "b", "a", "b", "c"]) == ["a (×3)", "b (×2)", "c"]
    assert counted([]) == []
    # a count must be the message's last words in brackets to be read as one
    assert counted(["fell back ×2", "fell back ×2"]) == ["fell back ×2 (×2)"]


def _plan():
    return pd.DataFrame({"week": [0, 1], "pool": "p", "server_type": "a", "required": [1, 1], "installed": [1, 1],
                         "purchased": [0, 0], "cost": [1.0, 1.0], "cpu_utilisation": 0.5, "memory_utilisation": 0.5,
                         "headroom": 0.2, "risk": 0.0})


def test_summary_page_warnings_are_listed_once_each():
    summary = {"packing_notes": ["week 1 cut short", "week 1 cut short"],
               "warnings": ["customers.tiers names 'nobody' (×2)", "customers.tiers names 'nobody'"]}
    assert warnings_of(_plan(), summary) == ["packing: week 1 cut short (×2)", "customers.tiers names 'nobody' (×3)"]


def test_launch_ramp_count_reads_the_same_on_the_terminal_and_the_summary_page():
    from planner.commands.run import fallback_text
    from planner.export.review import launch_ramp_text

    fb = {"series": 10, "fallbacks": 3, "share": 0.3, "reasons": {"history too short": 3}, "launch_ramp": 2}
    words = launch_ramp_text(fb)
    assert "2 of them launched inside the history" in words
    assert fallback_text(fb).endswith(words)
    page = [w for w in warnings_of(_plan(), {"forecast_fallbacks": fb}) if w.startswith("forecast:")]
    assert len(page) == 1 and page[0].endswith(words)
    assert launch_ramp_text({**fb, "launch_ramp": 0}) == "" and not fallback_text({**fb, "launch_ramp": 0}).endswith(";")
