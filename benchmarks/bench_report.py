"""The report: its figures drawn by worker processes against drawn one by one
in the main process, in the same run.

Two studies are swept first (quickstart, and optimizers_moons vectorized),
then each one's report is written

1. as the command `optsweep report RESULTS --n-jobs N` does, a fresh Python
   each time (its imports and its workers' start included), N = 1 and 2;
2. as `optsweep run` does at the end of a sweep, in the sweep's process, its
   worker processes already up.

Each measurement is repeated (--repeat, alternating the two), medians compared.
Run: python benchmarks/bench_report.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from optsweep.config import load_sweep
from optsweep.report import write_report
from optsweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[1]
N_JOBS = 2


def command(directory: Path, n_jobs: int) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "optsweep", "-q", "report", str(directory), "--n-jobs", str(n_jobs)],
        check=True,
    )
    return time.perf_counter() - t


def in_process(directory: Path, n_jobs: int) -> float:
    t = time.perf_counter()
    write_report([directory], n_jobs=n_jobs)
    return time.perf_counter() - t


def compare(label: str, measure, directory: Path, repeat: int) -> None:
    runs = [(measure(directory, 1), measure(directory, N_JOBS)) for _ in range(repeat)]
    one, par = (statistics.median(r[i] for r in runs) for i in range(2))
    ratios = sorted(a / b for a, b in runs)
    print(
        f"  {label}: one process {one:.2f} s, {N_JOBS} workers {par:.2f} s:"
        f" {one / par:.2f}x (runs {ratios[0]:.2f}x to {ratios[-1]:.2f}x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        studies = [
            ("quickstart (40 trials)", "quickstart", {}),
            ("optimizers_moons (240 trials)", "optimizers_moons", {"vectorize": 256}),
        ]
        for label, name, extra in studies:
            sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml").with_overrides(
                n_jobs=N_JOBS, report=False, **extra
            )
            run_sweep(sweep, root=d, progress=False)  # leaves its worker processes up
            directory = Path(d) / name
            print(f"{label}, its report, medians of {args.repeat}:")
            compare("at the end of `optsweep run` (workers up)", in_process, directory, args.repeat)
            compare("`optsweep report` (a fresh process)", command, directory, args.repeat)
            print(f"  {len(list(directory.glob('report/*.png')))} figures")


if __name__ == "__main__":
    main()
