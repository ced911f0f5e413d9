"""optsweep: hyperparameter sweeps for NumPy neural networks.

The engine (:mod:`optsweep.engine`) is pure NumPy; the sweep layer wraps it
as an Optuna objective run in joblib worker processes, with every trial and
every epoch in pandas tables::

    import optsweep
    res = optsweep.load("results/quickstart")
    res.trials, res.curves
"""

from .config import SweepConfig, load_sweep
from .errors import ConfigError, OptsweepError
from .results import Results, load, load_weights

__version__ = "0.1.0"


def run_sweep(sweep, **kwargs):
    """Run (or resume) a sweep from a path or a :class:`SweepConfig`; see
    :func:`optsweep.runner.run_sweep`."""
    from .runner import run_sweep as _run

    return _run(load_sweep(sweep) if not isinstance(sweep, SweepConfig) else sweep, **kwargs)


__all__ = [
    "ConfigError",
    "OptsweepError",
    "Results",
    "SweepConfig",
    "load",
    "load_sweep",
    "load_weights",
    "run_sweep",
]
