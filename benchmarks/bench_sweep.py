"""Sweep speed, measured in one run (ratios, not seconds).

1. Parallel speed-up: the quickstart sweep with n_jobs=2 against n_jobs=1
   (random sampler and no pruner, so both runs train the same trials).
2. The framework's own overhead per trial, everything but training (asking
   the sampler, storage writes, dispatch, tables), on a 500-trial study of
   trials that train for a single epoch: (wall time - training time) / trials.

Run: python benchmarks/bench_sweep.py [--quick]
"""

from __future__ import annotations

import argparse
import re
import resource
import tempfile
import time
from pathlib import Path

from joblib.externals.loky import get_reusable_executor

import optsweep
from optsweep.config import load_sweep
from optsweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def timed_run(sweep, root: Path) -> float:
    t = time.perf_counter()
    run_sweep(sweep, root=root, progress=False)
    return time.perf_counter() - t


def cpu_seconds(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def speedup(trials: int) -> None:
    base = load_sweep(ROOT / "sweeps" / "quickstart.toml").with_overrides(
        sampler="random", pruner="none", n_trials=trials, report=False
    )
    with tempfile.TemporaryDirectory() as d:
        t1 = timed_run(base.with_overrides(n_jobs=1), Path(d) / "one")
        main0, workers0 = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
        t2 = timed_run(base.with_overrides(n_jobs=2), Path(d) / "two")
        main = cpu_seconds(resource.RUSAGE_SELF) - main0
        get_reusable_executor().shutdown(wait=True)  # a child's CPU counts once it exits
        workers = cpu_seconds(resource.RUSAGE_CHILDREN) - workers0
        a = optsweep.load(Path(d) / "one" / "quickstart").trials
        b = optsweep.load(Path(d) / "two" / "quickstart").trials
        same = a["lr"].tolist() == b["lr"].tolist()
        train1, train2 = a["train_seconds"].sum(), b["train_seconds"].sum()
    print(f"quickstart, {trials} trials (random sampler, no pruning; same trials: {same})")
    print(
        f"  n_jobs=1 {t1:6.2f} s   n_jobs=2 {t2:6.2f} s   speed-up {t1 / t2:.2f}x (target >= 1.8x)"
    )
    print(
        f"  training summed over trials: {train1:.2f} s with 1 job, {train2:.2f} s with 2"
        f" (each trial {train2 / train1:.2f}x slower when two share the machine)"
    )
    print(
        f"  CPU of the n_jobs=2 run: workers {workers:.2f} s (their training, and starting"
        f" them), main process {main:.2f} s; on 2 cores at best {(main + workers) / 2:.2f} s,"
        f" a speed-up of at most {t1 / ((main + workers) / 2):.2f}x"
    )


def overhead(trials: int) -> None:
    text = (ROOT / "sweeps" / "quickstart.toml").read_text()
    text = re.sub(r"(?m)^epochs = \d+", "epochs = 1", text)
    text = re.sub(r"(?m)^n_samples = \d+", "n_samples = 64", text)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "overhead.toml"
        p.write_text(text.replace('name = "quickstart"', 'name = "overhead"'))
        sweep = load_sweep(p).with_overrides(n_trials=trials, n_jobs=1, pruner="none", report=False)
        wall = timed_run(sweep, Path(d) / "r")
        t = optsweep.load(Path(d) / "r" / "overhead").trials
        train = float(t["train_seconds"].sum())
    per = (wall - train) / trials * 1e3
    print(f"framework overhead, {trials} one-epoch trials, TPE, journal storage, n_jobs=1")
    print(f"  wall {wall:6.2f} s, training {train:5.2f} s: {per:.1f} ms per trial (target < 20 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials")
    args = ap.parse_args()
    speedup(16 if args.quick else 40)
    overhead(100 if args.quick else 500)


if __name__ == "__main__":
    main()
