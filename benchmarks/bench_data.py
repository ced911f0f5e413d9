"""Reading a CSV data file: NumPy's parser (``np.loadtxt``, what
``optsweep.engine.load_csv`` tries first) against the field-by-field reader
(Python's csv module and ``float``, which it falls back to for the error
messages), in the same run, on the same file.

The file: 20,000 rows of 200 numeric features and an integer label
(4 million fields, 30 MB); --rows and --features change it.
Each reader runs --repeat times (alternating); the medians are compared.
Run: python benchmarks/bench_data.py [--rows 20000] [--features 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import optsweep.engine.data as data


def write_csv(path: Path, rows: int, features: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features)).round(4)
    y = rng.integers(0, 10, rows)
    with path.open("w") as f:
        f.write(",".join([f"f{j}" for j in range(features)] + ["label"]) + "\n")
        for x, label in zip(X, y):
            f.write(",".join(map(str, x)) + f",{label}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--features", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    loadtxt = data._loadtxt
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "data.csv"
        write_csv(path, args.rows, args.features)
        mb = path.stat().st_size / 1e6
        times: dict[str, list[float]] = {"numpy": [], "fields": []}
        results = {}
        for _ in range(args.repeat):
            for name, reader in (("numpy", loadtxt), ("fields", lambda *a: None)):
                data._loadtxt = reader
                t = time.perf_counter()
                results[name] = data.load_csv(path, "label")
                times[name].append(time.perf_counter() - t)
        data._loadtxt = loadtxt
    same = all(np.array_equal(a, b) for a, b in zip(results["numpy"][:2], results["fields"][:2]))
    fast, slow = statistics.median(times["numpy"]), statistics.median(times["fields"])
    size = f"{args.rows} rows x {args.features} features + label ({mb:.0f} MB)"
    print(f"CSV of {size}, medians of {args.repeat}")
    print(f"  field by field (csv module, float)  {slow:6.2f} s")
    print(f"  NumPy's parser (np.loadtxt)         {fast:6.2f} s")
    print(f"  speed-up {slow / fast:.1f}x; the same arrays: {same}")


if __name__ == "__main__":
    main()
