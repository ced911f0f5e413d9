"""Small sweep files for the tests."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

BASE = """
[study]
name = "{name}"
n_trials = {n_trials}
seed = 0
{study_extra}

[data]
source = "moons"
n_samples = 200
noise = 0.2
val_fraction = 0.25
seed = 1

[model]
hidden = [8]

[train]
epochs = {epochs}

[search]
optimizer = ["gd", "momentum", "rmsprop", "adam"]
batch_size = {{ low = 16, high = 64, full = true }}
lr = {{ low = 1e-3, high = 0.3 }}
momentum_beta = {{ low = 0.8, high = 0.99 }}
beta1 = {{ low = 0.8, high = 0.99 }}
beta2 = {{ low = 0.99, high = 0.9999 }}
rmsprop_beta = {{ low = 0.8, high = 0.99 }}

[execution]
n_jobs = {n_jobs}
report = false
"""


def write_sweep(
    tmp: Path,
    name: str = "t",
    *,
    n_trials: int = 8,
    epochs: int = 10,
    n_jobs: int = 1,
    study_extra: str = "",
    text: str | None = None,
) -> Path:
    """Write a sweep file into ``tmp`` and return its path."""
    p = tmp / f"{name}.toml"
    body = (
        text
        if text is not None
        else BASE.format(
            name=name, n_trials=n_trials, epochs=epochs, n_jobs=n_jobs, study_extra=study_extra
        )
    )
    p.write_text(textwrap.dedent(body))
    return p


def subdir(tmp: Path, name: str) -> Path:
    """A new folder ``tmp/name``."""
    d = tmp / name
    d.mkdir()
    return d


def cli(*args: object) -> list[str]:
    """The command line ``python -m optsweep ARGS`` (arguments as strings)."""
    return [sys.executable, "-m", "optsweep", *map(str, args)]


def assert_pruned_trials_keep_their_last_report(results, metric: str = "val_metric") -> None:
    """Optuna gives a pruned trial the last value it reported: every pruned
    trial of ``results`` (an :class:`optsweep.Results`) has one, its metric at
    the epoch where it stopped (a report is read back by the process that
    ends the trial, whichever process made it)."""
    t, c = results.trials, results.curves
    pruned = t[t["state"] == "PRUNED"]
    assert len(pruned) > 0  # the check covers something
    last = c.sort_values(["trial", "epoch"]).groupby("trial").last()
    expected = last.loc[pruned["number"].to_numpy(), metric].to_numpy()
    assert pruned["value"].notna().all(), pruned[["number", "value", "epochs_run"]]
    assert (pruned["value"].to_numpy() == expected).all()
