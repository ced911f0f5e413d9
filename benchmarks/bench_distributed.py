"""A shared PostgreSQL study, measured in one run (ratios, not seconds).

1. Throughput on the quickstart sweep (random sampler, no pruning) with a
   PostgreSQL storage: one `optsweep worker` process against two on the same
   study (n_jobs=1 each), same trial budget.
2. The storage's cost per trial: the framework's time per trial (everything
   but training) on one-epoch trials with PostgreSQL against the journal file,
   and as a share of an average quickstart trial.

Needs a PostgreSQL URL in OPTSWEEP_TEST_POSTGRES_URL (.ci/run shows how to
start the local server). Run: python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import cli

import optsweep
from optsweep.config import load_sweep
from optsweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("OPTSWEEP_TEST_POSTGRES_URL", "")


def sweep_file(d: Path, name: str, trials: int, tiny: bool) -> Path:
    text = (ROOT / "sweeps" / "quickstart.toml").read_text()
    text = text.replace('name = "quickstart"', f'name = "{name}"')
    text = re.sub(r"(?m)^n_trials = \d+", f"n_trials = {trials}", text)
    text = text.replace('pruner = "median"', 'pruner = "none"').replace(
        'sampler = "tpe"', 'sampler = "random"'
    )
    if tiny:
        text = re.sub(r"(?m)^epochs = \d+", "epochs = 1", text)
        text = re.sub(r"(?m)^n_samples = \d+", "n_samples = 64", text)
    p = d / f"{name}.toml"
    p.write_text(text)
    return p


def workers(path: Path, d: Path, n: int) -> float:
    cmd = cli("worker", path, "--storage", PG, "--n-jobs", 1, "-q", "--no-report")
    t = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--results-root", str(d / f"w{i}")]) for i in range(n)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t


def overhead(path: Path, root: Path, storage: str) -> tuple[float, int]:
    sweep = load_sweep(path).with_overrides(
        n_jobs=1, report=False, **({"storage": storage} if storage else {})
    )
    t = time.perf_counter()
    run_sweep(sweep, root=root, progress=False)
    wall = time.perf_counter() - t
    tr = optsweep.load(root / sweep.name).trials
    return (wall - float(tr["train_seconds"].sum())) / len(tr), len(tr)


def optuna_alone(trials: int) -> float:
    """Seconds a trial for Optuna alone on the PostgreSQL storage: ask, the
    quickstart's four parameters (random sampler), tell; no attributes, no
    heartbeats, no training. The floor for any framework built on it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=f"b{uuid.uuid4().hex[:8]}",
        storage=optuna.storages.RDBStorage(PG),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    t = time.perf_counter()
    for k in range(trials):
        trial = study.ask()
        trial.suggest_categorical("optimizer", ["gd", "momentum", "rmsprop", "adam"])
        trial.suggest_int("log2_batch_size", 3, 8)
        trial.suggest_float("lr", 1e-4, 0.3, log=True)
        trial.suggest_float("one_minus_beta1", 0.01, 0.2, log=True)
        study.tell(trial, k / trials)
    return (time.perf_counter() - t) / trials


def main() -> None:
    if not PG:
        sys.exit("set OPTSWEEP_TEST_POSTGRES_URL to a PostgreSQL URL (see .ci/run)")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        p1 = sweep_file(d, f"b{uuid.uuid4().hex[:8]}", 40, tiny=False)
        p2 = sweep_file(d, f"b{uuid.uuid4().hex[:8]}", 40, tiny=False)
        t1 = workers(p1, d / "one", 1)
        t2 = workers(p2, d / "two", 2)
        print("quickstart, 40 trials (random sampler, no pruning), PostgreSQL storage")
        print(f"  one worker {t1:6.2f} s   two workers {t2:6.2f} s   speed-up {t1 / t2:.2f}x")
        trial = optsweep.load(d / "one" / "w0" / p1.stem).trials["train_seconds"].mean()
        tiny_pg = sweep_file(d, f"b{uuid.uuid4().hex[:8]}", 200, tiny=True)
        tiny_j = sweep_file(d, f"b{uuid.uuid4().hex[:8]}", 200, tiny=True)
        pg, n = overhead(tiny_pg, d / "pg", PG)
        jf, _ = overhead(tiny_j, d / "journal", "")
        print(f"framework time per trial, {n} one-epoch trials, random sampler, n_jobs=1")
        print(f"  PostgreSQL {pg * 1e3:6.1f} ms   journal file {jf * 1e3:6.1f} ms")
        print(
            f"  an average quickstart trial trains {trial * 1e3:.0f} ms: the PostgreSQL storage"
            f" costs {pg / trial:.0%} of it (target < 10%)"
        )
        alone = optuna_alone(100)
        print(
            f"  Optuna alone on this server (ask, four parameters, tell): {alone * 1e3:.1f} ms"
            f" a trial, {alone / trial:.0%} of a quickstart trial"
        )


if __name__ == "__main__":
    main()
