"""Write data/greedy_reference.json: the packings of the greedies as they were before the issue-18
speed-up (models/packing/heuristics.py at REFERENCE_REV, read from git, never kept as a copy), on the
instances of test_packing_greedy_speed.py. Run from the checkout: python tests/unit/models/make_greedy_reference.py
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
REFERENCE_REV = "2c9460b"  # main before the greedies were made faster
OUT = HERE / "data" / "greedy_reference.json"


def reference_module():
    source = subprocess.run(["git", "show", f"{REFERENCE_REV}:models/packing/heuristics.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "heuristics_reference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("heuristics_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    sys.path[:0] = [str(ROOT), str(HERE)]
    from test_packing_greedy_speed import CASES, calls, case_instance, outcome

    ref = reference_module()
    out = {}
    for case in CASES:
        inst, affinity = case_instance(case)
        out[case] = {name: outcome(fn) for name, fn in calls(ref, inst, affinity)}
    OUT.write_text(json.dumps({"rev": REFERENCE_REV, "cases": out}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({len(out)} instances)")


if __name__ == "__main__":
    main()
