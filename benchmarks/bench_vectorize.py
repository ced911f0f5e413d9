"""Vectorized trials, measured against per-trial execution in the same run.

1. Trials per second on sweeps/optimizers_moons.toml (240 trials, 300 epochs,
   TPE, median pruning), vectorized (execution.vectorize = 256) against the
   per-trial executor, both with n_jobs=2 and the worker processes already
   started; then the same with a random sampler and no pruning, where
   Optuna's own cost per trial is smallest.
2. The cost of one model update at K = 64 on the seed's experiment (moons 300,
   [2, 5, 2, 1], batch 64, Adam) against the transcription of the seed's code
   (tests/seed_reference.py), and against the engine's single-trial loop.

Each sweep runs five times (--repeat), per-trial and vectorized in turn, with
the workers started, then as many times more with each run starting its own
workers (as a command does); the medians are compared, with the CPU each
run takes in all its processes (the least wall time a run could take is that
CPU over the cores).
Run: python benchmarks/bench_vectorize.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import optuna
import psutil
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import seed_reference as ref

import optsweep
from optsweep.config import load_sweep
from optsweep.engine import ModelConfig, TrainConfig, fit, load_data, make_moons, prepare
from optsweep.engine.population import train_population
from optsweep.runner import run_sweep
from optsweep.samplers import make_sampler
from optsweep.space import suggest
from optsweep.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]


def stop_workers() -> None:
    """Stop joblib's worker processes: the next run starts its own, as a command does."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True, kill_workers=True)


def cpu_seconds() -> dict[int, float]:
    """CPU seconds (user and system) so far of this process and of each of its
    descendants (joblib's workers), by process id."""
    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            c = p.cpu_times()
            out[p.pid] = c.user + c.system
    return out


def sweep_rate(sweep, vectorize: int) -> tuple[float, float, int, float]:
    """A run's wall time, its training time summed over trials, its trials,
    and the CPU time it took in all processes (this one and the workers,
    whether started before the run or by it)."""
    with tempfile.TemporaryDirectory() as d:
        before = cpu_seconds()
        t = time.perf_counter()
        run_sweep(sweep.with_overrides(vectorize=vectorize, report=False), root=d, progress=False)
        wall = time.perf_counter() - t
        after = cpu_seconds()
        cpu = sum(c - before.get(pid, 0.0) for pid, c in after.items())
        trials = optsweep.load(Path(d) / sweep.name).trials
    return wall, float(trials["train_seconds"].sum()), len(trials), cpu


def optuna_alone(sweep, n_trials: int, storage: str | None) -> tuple[float, float]:
    """Seconds for Optuna alone to (ask, and ask and tell) ``n_trials`` trials
    of the sweep's space as a vectorized run does (all asked, then told),
    without training; in memory, or on a journal file at ``storage``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=list(sweep.study.directions),
        sampler=make_sampler(sweep),
        storage=None if storage is None else open_storage(storage),
    )
    n_train = 450  # the training rows of optimizers_moons (600 samples, a quarter held out)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        asked = []
        for _ in range(n_trials):
            trial = study.ask()
            suggest(trial, sweep.search, n_train)
            asked.append(trial)
        ask = time.perf_counter() - t
        for k, trial in enumerate(asked):
            study.tell(trial, 0.5 + 0.4 * k / n_trials)
    return ask, time.perf_counter() - t


def sweeps(n_trials: int, repeat: int, cold: bool) -> None:
    n_jobs = 2
    base = load_sweep(ROOT / "sweeps" / "optimizers_moons.toml").with_overrides(
        n_trials=n_trials, n_jobs=n_jobs
    )
    # start joblib's worker processes before timing either executor: both
    # runs then find them up (a run in the same process reuses them), so
    # that neither pays for starting Python and NumPy in them
    with tempfile.TemporaryDirectory() as d:
        tiny = replace(base, train=replace(base.train, epochs=2)).with_overrides(n_trials=n_jobs)
        run_sweep(tiny.with_overrides(report=False), root=d, progress=False)
    for label, sweep in (
        ("as shipped (TPE, median pruning)", base),
        ("random sampler, no pruning", base.with_overrides(sampler="random", pruner="none")),
    ):
        # TPE's choices, and so a per-trial run's cost, depend on the order in
        # which trials finish: repeat, and compare the medians
        runs = [(sweep_rate(sweep, 1), sweep_rate(sweep, 256)) for _ in range(repeat)]
        (w1, s1, n1, u1), (wv, sv, nv, uv) = (
            tuple(statistics.median(r[i][j] for r in runs) for j in range(4)) for i in range(2)
        )
        ratios = sorted(a[0] / b[0] for a, b in runs)
        print(
            f"optimizers_moons, {n_trials} trials, n_jobs={n_jobs} (workers started), {label};"
            f" medians of {repeat} runs"
        )
        print(f"  per-trial   {w1:6.2f} s  {n1 / w1:7.1f} trials/s  (training summed {s1:6.2f} s)")
        print(f"  vectorized  {wv:6.2f} s  {nv / wv:7.1f} trials/s  (training summed {sv:6.2f} s)")
        print(
            f"  speed-up    {w1 / wv:.1f}x in trials per second (target >= 10x; runs"
            f" {ratios[0]:.1f}x to {ratios[-1]:.1f}x); {s1 / sv:.1f}x in training time"
        )
        print(
            "  per-trial runs "
            + ", ".join(f"{a[0]:.2f} s" for a, _ in runs)
            + "; vectorized "
            + ", ".join(f"{b[0]:.2f} s" for _, b in runs)
        )
        cpu_bound("", w1, u1, wv, uv, n_jobs)
        if cold:  # again, each run starting its workers, as `optsweep run` does
            pairs = []
            for _ in range(repeat):
                stop_workers()
                c1 = sweep_rate(sweep, 1)
                stop_workers()
                pairs.append((c1, sweep_rate(sweep, 256)))
            (c1, _, _, cu1), (cv, _, _, cuv) = (
                tuple(statistics.median(p[i][j] for p in pairs) for j in range(4)) for i in range(2)
            )
            cold_ratios = sorted(a[0] / b[0] for a, b in pairs)
            print(
                f"  each run starting its workers, medians of {repeat}: per-trial {c1:.2f} s,"
                f" vectorized {cv:.2f} s, {c1 / cv:.1f}x (runs {cold_ratios[0]:.1f}x to"
                f" {cold_ratios[-1]:.1f}x; vectorized "
                + ", ".join(f"{b[0]:.2f} s" for _, b in pairs)
                + ")"
            )
            cpu_bound("    starting its workers: ", c1, cu1, cv, cuv, n_jobs)
        _, memory = optuna_alone(sweep, n_trials, None)
        with tempfile.TemporaryDirectory() as d:
            ask, journal = optuna_alone(sweep, n_trials, str(Path(d) / "study.journal"))
        print(
            f"  Optuna alone, ask and tell, no training: {memory / n_trials * 1e3:.1f} ms a trial"
            f" in memory, {journal / n_trials * 1e3:.1f} ms on a journal file"
        )
        # the populations train only once their trials are asked, and their
        # training cannot take less than its CPU time spread over the workers
        bound = ask + sv / n_jobs
        print(
            f"  lower bound for the vectorized run: asking the trials on the journal {ask:.2f} s"
            f" + the populations' training over {n_jobs} cores {sv / n_jobs:.2f} s"
            f" = {bound:.2f} s, at most {w1 / bound:.1f}x"
        )


def cpu_bound(lead: str, w1: float, u1: float, wv: float, uv: float, n_jobs: int) -> None:
    """Print the CPU each executor took, in every process: a run cannot end
    before its CPU time spread over the cores, so the per-trial run's wall
    time over that is the most the vectorized run could gain as it is."""
    print(
        f"  {lead}CPU in all processes, medians: per-trial {u1:.2f} s ({u1 / w1 / n_jobs:.0%}"
        f" of {n_jobs} cores), vectorized {uv:.2f} s ({uv / wv / n_jobs:.0%}); the vectorized"
        f" run's CPU over {n_jobs} cores {uv / n_jobs:.2f} s: at most {w1 / (uv / n_jobs):.1f}x"
    )


def per_update(epochs: int) -> None:
    X, Y = ref.load_dataset(make_moons)
    data = prepare(*load_data("moons", n_samples=300, noise=0.2, seed=3, legacy=True))
    model, K = ModelConfig(hidden=(5, 2)), 64
    updates = epochs * 5
    t = time.perf_counter()
    ref.model(X, Y, [2, 5, 2, 1], "adam", num_epochs=epochs)
    t_ref = (time.perf_counter() - t) / updates
    cfg = TrainConfig(optimizer="adam", epochs=epochs, batch_size=64)
    t = time.perf_counter()
    fit(model, data, cfg)
    t_one = (time.perf_counter() - t) / updates
    configs = [
        TrainConfig(optimizer="adam", lr=0.0007 * (1 + k / K), epochs=epochs, seed=k)
        for k in range(K)
    ]
    t = time.perf_counter()
    train_population(model, data, configs, shuffle_seed=0)
    t_pop = (time.perf_counter() - t) / updates / K
    print(f"\nseed's experiment, Adam, {epochs} epochs ({updates} updates), per model update:")
    print(f"  seed's code                {t_ref * 1e6:7.1f} us")
    print(f"  optsweep, one trial        {t_one * 1e6:7.1f} us  ({t_ref / t_one:.1f}x)")
    print(
        f"  optsweep, K={K} population {t_pop * 1e6:7.2f} us  ({t_ref / t_pop:.1f}x the seed's"
        f" code, target >= 20x; {t_one / t_pop:.1f}x the single-trial loop)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials and epochs, one run")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each sweep (default 5)")
    args = ap.parse_args()
    with threadpool_limits(1):
        per_update(200 if args.quick else 1000)
    sweeps(64 if args.quick else 240, 1 if args.quick else args.repeat, not args.quick)


if __name__ == "__main__":
    main()
