"""Time the greedies of models/packing/heuristics.py alone on captured packing instances, and check
that another version of the code returns the same packings bit for bit.

    python benchmarks/pack_capture.py capture DIR SCENARIO          # pickles every solve call of a run
    python benchmarks/greedy_speed.py DIR --save ref.pkl            # time each greedy, keep its packings
    PYTHONPATH=/path/to/other/checkout python benchmarks/greedy_speed.py DIR --check ref.pkl

For each captured ``heuristic``/``cpsat``/``milp`` call (``--largest N``: the N with the most items;
``--slowest N``: the N of most CPU when captured), runs every greedy that ``best_heuristic`` runs,
in its order and with one memo per pass as it shares one, and ``peak_ffd``, ``--repeat`` passes,
and prints the median CPU seconds per greedy and per instance. ``--save`` pickles each greedy's
packing (``item_worker``, ``worker_kind``) or the text of its failure; ``--check`` compares with
such a file and prints the greedies that differ.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time
from pathlib import Path


def greedies(instance):
    """The runs of best_heuristic (same order, same labels, one memo shared by the shape_fill calls
    where the code has it) and the peak-based baseline."""
    import inspect

    from models.packing.heuristics import peak_ffd, shape_balance, shape_ffd, shape_fill

    kw = {"memo": {}} if "memo" in inspect.signature(shape_fill).parameters else {}
    runs = [("balance", lambda: shape_balance(instance)), ("fill-dot", lambda: shape_fill(instance, "dot", **kw)),
            ("fill-size", lambda: shape_fill(instance, "size", **kw)), ("ffd", lambda: shape_ffd(instance))]
    if len(instance.server_types) > 1:
        for k in range(len(instance.server_types)):
            runs += [(f"balance-{k}", lambda k=k: shape_balance(instance, types=[k])),
                     (f"fill-dot-{k}", lambda k=k: shape_fill(instance, "dot", types=[k], **kw))]
    runs.append(("peak", lambda: peak_ffd(instance)))
    return runs


def run_one(fn):
    from models.packing.heuristics import HeuristicFailure

    try:
        p = fn()
        return (p.item_worker.tobytes(), p.worker_kind.tobytes())
    except HeuristicFailure as exc:
        return ("failure", str(exc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("--largest", type=int, default=None, help="only the N calls with the most items")
    ap.add_argument("--slowest", type=int, default=None, help="only the N calls of most CPU when captured")
    ap.add_argument("--only", default=None, help="comma-separated call numbers")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--check", type=Path, default=None)
    args = ap.parse_args()

    recs = []
    for f in sorted(args.src.glob("*.pkl")):
        rec = pickle.loads(f.read_bytes())
        if rec["backend"] != "peak":
            recs.append((f.stem, rec["instance"], rec["cpu"]))
    if args.only:
        keep = set(args.only.split(","))
        recs = [r for r in recs if r[0] in keep or str(int(r[0])) in keep]
    if args.largest:
        recs = sorted(recs, key=lambda r: -len(r[1].items()))[: args.largest]
    if args.slowest:
        recs = sorted(recs, key=lambda r: -r[2])[: args.slowest]
    recs.sort(key=lambda r: r[0])
    ref = pickle.loads(args.check.read_bytes()) if args.check else None
    out, per_greedy, total, differ = {}, {}, 0.0, []
    for name, inst, _ in recs:
        row = []
        cpus, res = {}, {}
        for _ in range(args.repeat):  # each repetition runs the sequence afresh (a new memo)
            for label, fn in greedies(inst):
                c0 = time.process_time()
                res[label] = run_one(fn)
                cpus.setdefault(label, []).append(time.process_time() - c0)
        for label in cpus:
            med = statistics.median(cpus[label])
            out[(name, label)] = res[label]
            per_greedy[label] = per_greedy.get(label, 0.0) + med
            total += med
            same = "" if ref is None else (" ok" if ref.get((name, label)) == res[label] else " DIFF")
            if same == " DIFF":
                differ.append((name, label))
            row.append(f"{label} {med:.2f}{same}")
        print(f"{name} items {len(inst.items()):4d}: " + ", ".join(row), flush=True)
    print("per greedy (s): " + ", ".join(f"{k} {v:.2f}" for k, v in per_greedy.items()))
    print(f"total {total:.2f} s CPU (medians of {args.repeat}) over {len(recs)} instances")
    if ref is not None:
        print(f"packings different from {args.check}: {len(differ)} {differ[:10]}")
    if args.save:
        args.save.write_bytes(pickle.dumps(out))


if __name__ == "__main__":
    main()
