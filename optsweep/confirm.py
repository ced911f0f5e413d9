"""Confirmation runs: retrain the top configurations with fresh seeds, so that
a ranking is not an accident of one seed.

``optsweep confirm RESULTS --top K --seeds S`` writes ``RESULTS/confirm``
(one row per retraining) and the report shows each configuration's mean,
standard deviation and 95% confidence interval
(:func:`optsweep.analysis.confirmation_summary`).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from .analysis import complete, confirmation_summary, metric_range
from .config import HPARAMS, load_sweep
from .errors import ConfigError
from .objective import TrialTask, data_digest, evaluate, load_dataset, ready
from .pool import PoolStart, parallel
from .results import load, write_table

#: Mixed into the seed sequence so that confirmation seeds never equal a trial's.
_CONFIRM_KEY = 7919


def confirm_seed(study_seed: int, number: int, k: int) -> int:
    """The k-th fresh training seed of trial ``number``'s configuration."""
    ss = np.random.SeedSequence([study_seed, number, _CONFIRM_KEY, k])
    return int(ss.generate_state(1)[0])


def _hparams(row: pd.Series) -> dict:
    hp = {}
    for p in HPARAMS:
        v = row[p]
        hp[p] = None if pd.isna(v) else (int(v) if p in ("batch_size", "interval") else v)
    return hp


def confirm(directory: str | Path, top: int, seeds: int, n_jobs: int = 1) -> pd.DataFrame:
    """Retrain the ``top`` best complete trials with ``seeds`` fresh seeds each,
    in parallel; write and return the runs table (``number``, ``seed``,
    ``value``, final losses and metrics, ``status``)."""
    if top < 1 or seeds < 2:
        raise ConfigError(f"confirm needs top >= 1 and seeds >= 2 (got top={top}, seeds={seeds})")
    res = load(directory)
    sweep_path = res.path / "sweep.toml"
    if not sweep_path.exists():
        raise FileNotFoundError(f"{res.path}: no sweep.toml to retrain from")
    # the data the study used: meta.json holds their source as resolved then
    # (a relative path in the copied sweep file meant the original's folder)
    # and their digest
    sweep = load_sweep(sweep_path, data_source=res.meta["data"].get("source"))
    minimize = res.meta["directions"][0] == "minimize"
    best = complete(res.trials).sort_values(["value", "number"], ascending=[minimize, True])
    best = best.head(top)
    if best.empty:
        raise ConfigError(f"{res.path}: no complete trial to confirm")
    # the workers start as the data load, with Ctrl-C left to this process:
    # started by joblib's call itself, they would take one pressed during the
    # retraining too and die, and loky, cleaning up after them, prints tracebacks
    with PoolStart(n_jobs, "loky", ready):
        data = load_dataset(sweep.data, sweep.model.head)
        kept, now = res.meta["data"].get("digest"), data_digest(data)  # kept: not in old results
    if kept is not None and now != kept:
        raise ConfigError(
            f"{res.path}: the data at {sweep.data.source} differ from those the study "
            "trained on (changed since?): retraining on them would not confirm its trials "
            f"(got digest {now}, meta.json has {kept})"
        )
    tasks = [
        TrialTask(
            int(r["number"]), -1, confirm_seed(sweep.study.seed, int(r["number"]), k), _hparams(r)
        )
        for _, r in best.iterrows()
        for k in range(seeds)
    ]
    outs = parallel(n_jobs)(joblib.delayed(evaluate)(t, data, sweep) for t in tasks)
    rows = []
    for t, o in zip(tasks, outs, strict=True):
        rows.append(
            {
                "number": t.number,
                "seed": t.seed,
                "status": o.status,
                "value": o.values[0] if o.values else np.nan,
                **{
                    k: o.final.get(k, np.nan)
                    for k in ("train_loss", "train_metric", "val_loss", "val_metric")
                },
                "train_seconds": o.seconds,
            }
        )
    runs = pd.DataFrame(rows)
    write_table(runs, res.path, "confirm", res.meta.get("format", "auto"))
    return runs


def summary_text(runs: pd.DataFrame, trials: pd.DataFrame, meta: dict) -> str:
    """The command's table: each configuration, what its trial found, and its
    retrainings' mean, sd and 95% interval (within the metric's range)."""
    s = confirmation_summary(runs, trials, metric_range(meta["metrics"][0], meta))
    lines = ["trial  optimizer  found     n    mean      std       95% interval"]
    for r in s.itertuples(index=False):
        lines.append(
            f"{int(r.number):<6} {r.optimizer:<10} {r.search_value:<9.4g} {int(r.n):<4} "
            f"{r.mean:<9.4g} {r.std:<9.3g} [{r.ci_low:.4g}, {r.ci_high:.4g}]"
        )
    return "\n".join(lines)
