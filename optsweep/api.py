"""``optsweep.run``: a sweep from Python (a notebook), as ``optsweep run`` does it.

Above the runner and the report in the order of imports, beside the command
line.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from .config import load_sweep
from .results import Results, load

log = logging.getLogger(__name__)


def run(
    sweep: str | Path,
    *,
    root: str | Path = "results",
    progress: bool = True,
    **settings: Any,
) -> Results:
    """Run (or resume) the study of the sweep file ``sweep`` and load its results.

    What ``optsweep run SWEEP`` does, from Python: the trials in parallel
    worker processes, the tables and (unless ``report=False``) the report
    under ``root/NAME/``. An interrupted run (the notebook's stop button)
    keeps its finished trials, as on the command line, and the same call
    resumes it.

    Parameters
    ----------
    sweep
        A sweep file (TOML).
    root
        Where studies go (``results/NAME/``).
    progress
        A progress bar of the trials.
    **settings
        Keys of the file's [study] and [execution] sections to replace, checked
        as in the file: ``n_trials=20``, ``n_jobs=2``, ``vectorize=64``,
        ``sampler="random"``, ``report=False``, ...

    Returns
    -------
    Results
        As :func:`optsweep.load` gives them: ``.trials``, ``.curves``, ``.meta``.

    Raises
    ------
    ConfigError
        On a bad sweep file or setting: one line naming the file, the key and
        the value.
    """
    with warnings.catch_warnings():
        # Optuna imports tqdm.auto, which warns in a notebook without ipywidgets
        # ("IProgress not found") and draws the text bar, which does as well
        warnings.filterwarnings("ignore", message="IProgress not found")
        from .report import write_report
        from .runner import budget_met, nothing_to_run, run_sweep

    config = load_sweep(sweep, settings=settings)
    summary = run_sweep(config, root=root, progress=progress)
    if (done := budget_met(summary, config)) is not None:
        log.warning("%s: %s", sweep, nothing_to_run(config, done, "n_trials={}"))
    if summary.interrupted:
        log.warning("%s: interrupted; finished trials are kept, and the same call resumes", sweep)
    elif config.execution.report:
        ex = config.execution
        write_report([summary.directory], None, -1 if ex.backend == "dask" else ex.n_jobs)
    return load(summary.directory)
