"""Optuna samplers and pruners by name, seeded from the sweep file."""

from __future__ import annotations

import math
import warnings

import optuna

from .config import SweepConfig
from .errors import ConfigError
from .space import grid_space


def make_sampler(sweep: SweepConfig) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded with the study seed."""
    # group=True and QMC are flagged "experimental" by Optuna; they are what we want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(sweep)


def _sampler(sweep: SweepConfig) -> optuna.samplers.BaseSampler:
    st = sweep.study
    name, seed = st.sampler, st.seed
    s = optuna.samplers
    if name == "tpe":
        # multivariate TPE in grouped mode: conditional betas without warnings
        # (Optuna 5's default is multivariate with constant liar for one objective)
        return s.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=st.n_startup_trials
        )
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name == "grid":
        return _GridSampler(grid_space(sweep.search), seed=seed)
    if name == "nsga2":
        return s.NSGAIISampler(seed=seed)
    needs = {"qmc": ("scipy",), "cmaes": ("cmaes",), "gp": ("scipy", "torch")}[name]
    for module in needs:
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(
                f"{sweep.path}: study.sampler '{name}' needs {' and '.join(needs)} "
                f"(pip install {' '.join(needs)}) (got {name!r})"
            ) from None
    if name == "qmc":
        return s.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "cmaes":
        return s.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return s.GPSampler(seed=seed)


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``study.stop()`` at exhaustion, which
    only works inside ``study.optimize``; the runner caps the budget at the grid
    size instead (:func:`grid_size`)."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


def grid_size(sweep: SweepConfig) -> int:
    """Number of points of a grid sweep."""
    return math.prod(len(v) for v in grid_space(sweep.search).values())


#: Trials that must complete before the median and percentile pruners prune.
STARTUP_TRIALS = 5
#: Pruners that prune a trial whose best value is worse than a threshold that
#: is the same for every trial at a step (a percentile of completed trials').
THRESHOLD_PRUNERS = ("median", "percentile")


def make_pruner(sweep: SweepConfig) -> optuna.pruners.BasePruner:
    st = sweep.study
    p = optuna.pruners
    warm = st.warmup_epochs
    if st.pruner == "median":
        return p.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warm)
    if st.pruner == "percentile":
        return p.PercentilePruner(
            st.percentile, n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warm
        )
    if st.pruner == "successive_halving":
        return p.SuccessiveHalvingPruner(min_resource=max(warm, 1))
    if st.pruner == "hyperband":
        return p.HyperbandPruner(min_resource=max(warm, 1), max_resource=sweep.train.epochs)
    return p.NopPruner()


def may_prune(study: optuna.Study, sweep: SweepConfig, epoch: int, count: bool = True) -> bool:
    """False when the sweep's pruner cannot prune a trial at ``epoch`` yet, so
    that a population need not ask it member by member: the median and
    percentile pruners prune nothing before ``n_warmup_steps`` nor before
    ``n_startup_trials`` trials have completed (Optuna's documented
    behaviour). True otherwise (ask the pruner). With ``count=False`` the
    completed trials are not counted (a storage query, which the pruner makes
    again: worth it for a population's members, not for one trial)."""
    st = sweep.study
    if st.pruner not in THRESHOLD_PRUNERS:
        return st.pruner != "none"
    if epoch < st.warmup_epochs:
        return False
    if not count:
        return True
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return len(done) >= STARTUP_TRIALS
