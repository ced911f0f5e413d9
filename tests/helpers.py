"""Small sweep files for the tests."""

from __future__ import annotations

import subprocess
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


#: The data lines of :data:`BASE` that :func:`file_sweep` replaces.
MOONS = 'source = "moons"\nn_samples = 200\nnoise = 0.2'


def file_sweep(tmp: Path, name: str, source: object, label: str | None = None, **kwargs) -> Path:
    """:func:`write_sweep` with its data read from a file (``label``: a CSV's
    label column)."""
    p = write_sweep(tmp, name, **kwargs)
    data = f'source = "{source}"' + (f'\nlabel = "{label}"' if label else "")
    p.write_text(p.read_text().replace(MOONS, data))
    return p


def subdir(tmp: Path, name: str) -> Path:
    """A new folder ``tmp/name``."""
    d = tmp / name
    d.mkdir()
    return d


def cli(*args: object) -> list[str]:
    """The command line ``python -m optsweep ARGS`` (arguments as strings)."""
    return [sys.executable, "-m", "optsweep", *map(str, args)]


def assert_values_match_curves(results, metric: str = "val_metric") -> None:
    """Each finished trial's value is its metric at its last epoch: a complete
    trial's final metric, and (Optuna's rule) a pruned trial's last report,
    which is the epoch where it stopped. Every pruned trial has one, whichever
    process made its reports. ``results`` is an :class:`optsweep.Results`;
    ``metric`` a classification accuracy (a ratio of counts, exact)."""
    t, c = results.trials, results.curves
    last = c.sort_values(["trial", "epoch"]).groupby("trial").last()
    for state in ("COMPLETE", "PRUNED"):
        done = t[t["state"] == state]
        assert len(done) > 0, state  # the check covers both
        expected = last.loc[done["number"].to_numpy(), metric].to_numpy()
        assert done["value"].notna().all(), done[["number", "value", "epochs_run"]]
        assert (done["value"].to_numpy() == expected).all(), state


def hide_import(monkeypatch, package: str) -> None:
    """Make ``import package`` (and its submodules) fail for the rest of the
    test, as on a machine where it is not installed."""
    import builtins

    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"no {package}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """``code`` run by a fresh interpreter (this one's), with ``args``; its
    output captured as text, an error if it fails."""
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
