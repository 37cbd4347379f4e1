"""The run's outputs written in this process alone against with 2 local worker processes
(planner.export.files): wall time of ``write_run`` on the default run's plan, median of repeats
(alternating), and whether the files are the same (every file byte for byte but plan.xlsx, whose
zip holds its creation time: its sheets' cells instead).

    python benchmarks/write_outputs.py                  # plans the default (about 5 minutes), then times
    python benchmarks/write_outputs.py --save run.pkl   # keep the plan for later runs: --load run.pkl
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from pathlib import Path


def cells(path: Path) -> dict:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def same_files(a: Path, b: Path) -> list[str]:
    """Names of the files that differ between the two folders (or exist in one only)."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    diff = []
    for n in names:
        pa, pb = a / n, b / n
        if not (pa.exists() and pb.exists()):
            diff.append(n)
        elif pa.is_dir():
            diff += [f"{n}/{m}" for m in same_files(pa, pb)]
        elif n == "plan.xlsx":
            if cells(pa) != cells(pb):
                diff.append(n)
        elif pa.read_bytes() != pb.read_bytes():
            diff.append(n)
    return diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=Path, help="a pickled PlanRun (from --save)")
    ap.add_argument("--save", type=Path, help="pickle the planned run here")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from planner.parallel import LocalExecutor, ProcessExecutor
    from planner.export.run_files import write_run
    from planner.pipeline import run_plan
    from planner.scenarios import default_scenario

    if args.load:
        run = pickle.loads(args.load.read_bytes())
    else:
        run = run_plan(default_scenario(), executor=ProcessExecutor(2))
        if args.save:
            args.save.write_bytes(pickle.dumps(run, protocol=5))
    executors = {"this process": LocalExecutor(), "2 worker processes": ProcessExecutor(2)}
    times = {k: [] for k in executors}
    with tempfile.TemporaryDirectory() as tmp:
        ProcessExecutor(2).map(abs, [1, 2])  # the workers started before any timing
        for i in range(args.repeats):
            for name, ex in executors.items():
                out = Path(tmp) / f"{name.split()[0]}-{i}"
                t0 = time.perf_counter()
                write_run(run, out, executor=ex)
                times[name].append(time.perf_counter() - t0)
        diff = same_files(Path(tmp) / "this-0", Path(tmp) / "2-0")
    base = statistics.median(times["this process"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:>20}: median {med:6.2f} s over {len(ts)} ({', '.join(f'{t:.2f}' for t in ts)}); "
              f"ratio to this process {med / base:.2f}")
    print("files: the same" if not diff else f"files differ: {diff}")


if __name__ == "__main__":
    main()
