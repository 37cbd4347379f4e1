"""The terminal's keep-alive line: with no keep-alive every invocation is a cold start by definition,
which the line says as such (it read "none: cold starts 100.00%", like an alarm, on every default run)."""

from planner.commands.run import keep_alive_text


def test_no_keep_alive_says_what_it_means_not_a_rate():
    text = keep_alive_text({"policy": "none", "cold_start_rate": 1.0, "cold_start_rate_p75_app": 1.0})
    assert "100" not in text and "every invocation starts cold" in text and "hybrid" in text


def test_a_policy_reports_its_cold_starts_and_fallbacks():
    text = keep_alive_text({"policy": "hybrid", "cold_start_rate": 0.0123, "cold_start_rate_p75_app": 0.05,
                            "fallbacks": {"too_few_gaps": 3}})
    assert text == "hybrid: cold starts 1.23% of invocations (75th-percentile app 5.0%); fallbacks 3 too few gaps"
