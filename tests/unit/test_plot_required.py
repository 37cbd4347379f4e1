"""servers_by_type.png: the required line covers every week's bar and stays inside the axes (on the
default run it sat on the top edge from week 10, hidden by the frame, and missed half of weeks 0 and 12)."""

import numpy as np
import pandas as pd

from planner.export.plots import servers_by_type_figure


def test_required_line_spans_every_week_below_the_top_edge():
    plan = pd.DataFrame([(w, t, n, n) for w in range(4) for t, n in (("c-32", 1), ("m-64", 3 if w < 2 else 4))],
                        columns=["week", "server_type", "installed", "required"])
    fig = servers_by_type_figure(plan)
    ax = fig.axes[0]
    line = next(a for a in ax.patches if a.get_label() == "required")
    values, edges = line.get_data()[:2]
    assert list(values) == [4, 4, 5, 5]
    np.testing.assert_allclose(edges, [-0.5, 0.5, 1.5, 2.5, 3.5])  # whole bars, first to last
    assert ax.get_ylim()[1] > values.max()
