"""CPU time of building the CP-SAT model of a run's sub-problems: the proto written directly
(``models.packing.cpsat.build_model``) against the per-row API builder it replaced (kept as the
reference in tests/unit/models/test_packing_cpsat_model.py), on the sub-problems the solves of
captured instances (benchmarks/pack_capture.py) send to CP-SAT; both models are checked to
serialise to the same bytes.

    python benchmarks/cpsat_build.py DIR [--only 4,10] [--steps 200] [--repeat 5]

Each captured ``cpsat`` solve of DIR is replayed with a spy that records its first ``--steps``
sub-problems (the spy builds nothing itself); then each builder builds every recorded model,
``--repeat`` times, alternating, and the median CPU seconds per model are printed with the ratio.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "models"))


def record(files: list[Path], steps: int) -> list:
    import models.packing.cpsat as cpsat_mod
    from models.packing.solve import solve_packing

    original = cpsat_mod.solve_subproblem_cpsat
    subs: list = []

    def spy(instance, sub, *args, **kwargs):
        if len(subs) < steps:
            subs.append((instance, sub))
        return original(instance, sub, *args, **kwargs)

    cpsat_mod.solve_subproblem_cpsat = spy
    try:
        for f in files:
            rec = pickle.loads(f.read_bytes())
            if rec["backend"] != "cpsat":
                continue
            n0 = len(subs)
            solve_packing(rec["instance"], rec["backend"], rec["options"])
            print(f"{f.stem}: {len(subs) - n0} sub-problems recorded ({rec['items']} items)", flush=True)
            if len(subs) >= steps:
                break
    finally:
        cpsat_mod.solve_subproblem_cpsat = original
    return subs


def serialised(model, path: Path) -> bytes:
    from ortools.sat.python import cp_model_helper as cmh

    assert cmh.CpSatHelper.write_model_to_file(model.proto, str(path))
    return path.read_bytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--only", default=None)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from models.packing.cpsat import build_model
    from test_packing_cpsat_model import api_model

    files = sorted(args.dir.glob("*.pkl"))
    if args.only:
        keep = {int(x) for x in args.only.split(",")}
        files = [f for f in files if int(f.stem) in keep]
    subs = record(files, args.steps)
    rows = sum(len(build_model(i, s)[0].proto.constraints) for i, s in subs)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.pb", Path(tmp) / "b.pb"
        same = sum(serialised(build_model(i, s)[0], a) == serialised(api_model(i, s), b) for i, s in subs)
    times: dict[str, list[float]] = {"api": [], "direct": []}
    for _ in range(args.repeat):
        for label, build in (("api", api_model), ("direct", lambda i, s: build_model(i, s)[0])):
            c0 = time.process_time()
            for inst, sub in subs:
                build(inst, sub)
            times[label].append(time.process_time() - c0)
    api, direct = statistics.median(times["api"]), statistics.median(times["direct"])
    n = len(subs)
    print(f"{n} sub-problems, {rows} constraints; {same} of {n} models byte-identical")
    print(f"API builder    {1e3 * api / n:7.2f} ms CPU per model (median of {args.repeat})")
    print(f"direct builder {1e3 * direct / n:7.2f} ms CPU per model; ratio {direct / api:.2f}")


if __name__ == "__main__":
    main()
