"""The search space: turn a sweep's parameter specs into Optuna suggestions.

Conditional parameters exist only where they apply: the betas only for the
optimizers that use them (``momentum_beta`` for momentum, ``rmsprop_beta``
for rmsprop, ``beta1``/``beta2`` for adam), ``eps`` for rmsprop and adam,
``decay_rate`` for decaying schedules, ``interval`` for the staircase and
``k`` for the inverse square root. With TPE this needs ``group=True``
(Optuna 5), which the runner sets.

Two encodings follow the course's advice (deeplearning.ai, *Improving Deep
Neural Networks*, week 3, "Using an appropriate scale to pick
hyperparameters"):

- batch sizes are powers of two: Optuna samples the exponent
  ``log2_batch_size`` (an integer; ``suggest_int(log=True)`` cannot take a
  step of 2), and one more exponent than ``high`` stands for the full batch
  when the spec allows it;
- a beta is sampled as ``1 - beta`` on a log scale (parameter
  ``one_minus_<name>``), since ``beta`` from 0.9 to 0.999 averages over 10 to
  1000 steps: the sensitive end is near 1.

The trial's user attribute ``task`` records, as ``hparams``, the values the engine used.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)

from .config import HPARAMS, USED_BY, ParamSpec


def applies(name: str, hp: dict[str, Any]) -> bool:
    """Whether hyperparameter ``name`` matters given the choices made so far
    (:data:`~.config.USED_BY`)."""
    if name not in USED_BY:
        return True
    key, users = USED_BY[name]
    return hp[key] in users


def optuna_name(spec: ParamSpec) -> str:
    """The name Optuna stores for ``spec`` (see the module docstring)."""
    if spec.kind == "pow2":
        return "log2_batch_size"
    if spec.kind == "beta" and spec.log:
        return f"one_minus_{spec.name}"
    return spec.name


def distribution(spec: ParamSpec) -> BaseDistribution | None:
    """The distribution Optuna samples ``spec`` from, under :func:`optuna_name`
    (None for a fixed value)."""
    if spec.kind == "fixed":
        return None
    if spec.kind == "choice":
        return CategoricalDistribution(list(spec.choices))
    if spec.kind == "pow2":  # the exponent; one more stands for the full batch
        lo, hi = int(math.log2(spec.low)), int(math.log2(spec.high))
        return IntDistribution(lo, hi + (1 if spec.full else 0))
    if spec.kind == "beta" and spec.log:
        return FloatDistribution(1.0 - spec.high, 1.0 - spec.low, log=True)
    return FloatDistribution(spec.low, spec.high, log=spec.log)  # float, or a linear beta


def _suggest(trial: optuna.Trial, spec: ParamSpec, n_train: int) -> Any:
    name, dist = optuna_name(spec), distribution(spec)
    if dist is None:
        value = spec.value
    elif isinstance(dist, CategoricalDistribution):
        value = trial.suggest_categorical(name, list(dist.choices))
    elif isinstance(dist, IntDistribution):
        k = trial.suggest_int(name, dist.low, dist.high)
        value = "full" if spec.full and k == dist.high else 2**k
    else:
        value = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        if spec.kind == "beta" and spec.log:
            value = 1.0 - value
    if spec.name == "batch_size":  # the full batch, or one larger: the training set
        value = n_train if value == "full" else min(value, n_train)
    return value


def batch_sizes_above(spec: ParamSpec, n_train: int) -> list[int]:
    """The batch sizes ``spec`` (``batch_size``'s) can take that are larger
    than the ``n_train`` training samples: each trains on the full batch."""
    if spec.kind == "pow2":
        sizes = [2**k for k in range(int(math.log2(spec.low)), int(math.log2(spec.high)) + 1)]
    else:
        sizes = list(spec.values())
    return [b for b in sizes if b != "full" and b > n_train]


def check_stored(
    trials: list[optuna.trial.FrozenTrial], search: dict[str, ParamSpec]
) -> tuple[str, str] | None:
    """Whether ``search`` can go on sampling a study with these ``trials``:
    Optuna refuses a parameter whose distribution changes kind or log scale,
    or a choice whose list changes (its own rule,
    :func:`optuna.distributions.check_distribution_compatibility`). The
    first parameter it refuses and why, or None."""
    stored: dict[str, BaseDistribution] = {}
    for t in trials:  # the latest trial's distribution of each parameter
        stored.update(t.distributions)
    for name in HPARAMS:
        spec = search[name]
        dist, old = distribution(spec), stored.get(optuna_name(spec))
        if dist is None or old is None:
            continue
        try:
            check_distribution_compatibility(old, dist)
        except ValueError as e:
            return name, f"{str(e).rstrip('.')} (stored {_describe(old)}, now {_describe(dist)})"
    return None


def _describe(dist: BaseDistribution) -> str:
    if isinstance(dist, CategoricalDistribution):
        return f"choices {list(dist.choices)}"
    log = ", log scale" if getattr(dist, "log", False) else ""
    return f"{type(dist).__name__} from {dist.low} to {dist.high}{log}"


def suggest(trial: optuna.Trial, search: dict[str, ParamSpec], n_train: int) -> dict[str, Any]:
    """Sample one configuration; parameters that do not apply are ``None``.

    ``batch_size`` is resolved to an integer (the full batch is ``n_train``,
    and so is a larger one: the engine trains on the whole set).
    """
    hp: dict[str, Any] = {}
    for name in HPARAMS:  # optimizer and schedule come before what depends on them
        hp[name] = _suggest(trial, search[name], n_train) if applies(name, hp) else None
    return hp


def grid_space(search: dict[str, ParamSpec]) -> dict[str, list]:
    """The grid of a sweep whose searched parameters are all lists."""
    return {optuna_name(s): list(s.choices) for s in search.values() if s.kind == "choice"}


def searched(search: dict[str, ParamSpec]) -> list[str]:
    """Names of the hyperparameters that the sweep searches (not fixed)."""
    return [n for n in HPARAMS if search[n].searched]
