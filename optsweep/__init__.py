"""optsweep: hyperparameter sweeps for NumPy neural networks.

The engine (:mod:`optsweep.engine`) is pure NumPy; the sweep layer wraps it
as an Optuna objective run in joblib worker processes, with every trial and
every epoch in pandas tables::

    import optsweep
    res = optsweep.load("results/quickstart")
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
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'optsweep' has no attribute {name!r}")


def run_sweep(sweep: str | SweepConfig, **kwargs: Any):
    """Run (or resume) a sweep from a path or a :class:`SweepConfig`; see
    :func:`optsweep.runner.run_sweep`."""
    from .config import SweepConfig, load_sweep
    from .runner import run_sweep as _run

    return _run(load_sweep(sweep) if not isinstance(sweep, SweepConfig) else sweep, **kwargs)


__all__ = [
    "ConfigError",
    "Model",
    "OptsweepError",
    "Results",
    "SweepConfig",
    "load",
    "load_sweep",
    "load_weights",
    "run_sweep",
]
