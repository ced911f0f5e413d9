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

from .config import BETAS, HPARAMS, ParamSpec

_DECAYING = ("inverse_time", "staircase", "exponential")
_USES_EPS = ("rmsprop", "adam")


def applies(name: str, hp: dict[str, Any]) -> bool:
    """Whether hyperparameter ``name`` matters given the choices made so far."""
    if name in BETAS:
        return hp["optimizer"] in BETAS[name]
    if name == "eps":
        return hp["optimizer"] in _USES_EPS
    if name == "decay_rate":
        return hp["schedule"] in _DECAYING
    if name == "interval":
        return hp["schedule"] == "staircase"
    if name == "k":
        return hp["schedule"] == "inverse_sqrt"
    return True


def optuna_name(spec: ParamSpec) -> str:
    """The name Optuna stores for ``spec`` (see the module docstring)."""
    if spec.kind == "pow2":
        return "log2_batch_size"
    if spec.kind == "beta" and spec.log:
        return f"one_minus_{spec.name}"
    return spec.name


def _suggest(trial: optuna.Trial, spec: ParamSpec, n_train: int) -> Any:
    name = optuna_name(spec)
    if spec.kind == "fixed":
        value = spec.value
    elif spec.kind == "choice":
        value = trial.suggest_categorical(name, list(spec.choices))
    elif spec.kind == "pow2":
        lo, hi = int(math.log2(spec.low)), int(math.log2(spec.high))
        k = trial.suggest_int(name, lo, hi + (1 if spec.full else 0))
        value = "full" if k > hi else 2**k
    elif spec.kind == "beta" and spec.log:
        value = 1.0 - trial.suggest_float(name, 1.0 - spec.high, 1.0 - spec.low, log=True)
    else:  # float, or a beta on a linear scale
        value = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    if spec.name == "batch_size" and value == "full":
        value = n_train
    return value


def suggest(trial: optuna.Trial, search: dict[str, ParamSpec], n_train: int) -> dict[str, Any]:
    """Sample one configuration; parameters that do not apply are ``None``.

    ``batch_size`` is resolved to an integer (the full batch is ``n_train``).
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
