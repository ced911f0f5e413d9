"""optsweep: hyperparameter sweeps for NumPy neural networks.

The engine (:mod:`optsweep.engine`) is pure NumPy; the sweep layer wraps it
as an Optuna objective run in joblib worker processes, with every trial and
every epoch in pandas tables::

    import optsweep
    res = optsweep.run("sweeps/quickstart.toml", n_trials=20)  # or optsweep.load(...)
    res.trials, res.curves

Names that need NumPy, pandas or Optuna are imported on first use, so that
the command line answers at once and worker processes, which only train,
start quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, OptsweepError

if TYPE_CHECKING:
    from .config import SweepConfig

__version__ = "0.1.0"

_LAZY = {
    "SweepConfig": "config",
    "load_sweep": "config",
    "load": "results",
    "load_weights": "results",
    "Results": "results",
    "Model": "results",
    "run": "api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'optsweep' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "Model",
    "OptsweepError",
    "Results",
    "SweepConfig",
    "load",
    "load_sweep",
    "load_weights",
    "run",
]
