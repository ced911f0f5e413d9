"""Optimizers: gd, momentum, rmsprop and adam, each a small class with state.

An optimizer is given parameter arrays and their gradients; one call to
:meth:`Optimizer.step` updates the parameters in place. The learning rate is
an argument of ``step``: the schedule chooses it, not the optimizer. State is
allocated on the first step with ``zeros_like`` (the seed's
``initialize_velocity`` and ``initialize_adam``).

The engine hands each optimizer one flat buffer (see :mod:`.network`), so a
whole network updates in a dozen NumPy calls with one scratch array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Arrays = np.ndarray | Sequence[np.ndarray]

#: Moments are cleaned of tiny values every this many updates (:func:`flush_tiny`).
FLUSH_EVERY = 32


def flush_tiny(x: np.ndarray, scratch: np.ndarray) -> None:
    """Set the entries of ``x`` below ``2**40`` times the smallest normal number
    of its dtype (about 2e-296 in float64, 1e-26 in float32) to zero, in place.

    A moment whose gradient entry is exactly zero (a dead ReLU unit) decays
    geometrically (``u = beta * u``) into the subnormal numbers, on which
    x86 arithmetic is tens of times slower: a population's optimizer
    step on the seed's network grew a third slower as they accumulated. Called every
    :data:`FLUSH_EVERY` updates, it keeps the moments normal (``beta >= 0.5``
    cannot take a value from the threshold to below the smallest normal
    number in 32 updates); values this small change no update.
    """
    np.abs(x, out=scratch)
    mask = scratch < np.finfo(x.dtype).tiny * 2.0**40
    if mask.any():
        x[mask] = 0


def check_beta(name: str, value: float) -> float:
    """Return ``value`` as a float after checking ``0 <= value < 1``."""
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (got {value!r})")
    return v


def check_eps(value: float) -> float:
    v = float(value)
    if not v > 0:
        raise ValueError(f"eps must be > 0 (got {value!r})")
    return v


def _as_list(x: Arrays) -> list[np.ndarray]:
    return [x] if isinstance(x, np.ndarray) else list(x)


class Optimizer:
    """Base class: keeps per-array state, applies :meth:`_update` to each array."""

    name = ""
    n_state = 0  # state arrays per parameter array

    def __init__(self) -> None:
        self.t = 0  # updates applied so far
        self.state: list[list[np.ndarray]] | None = None

    def step(self, params: Arrays, grads: Arrays, lr: float) -> None:
        """Update ``params`` in place from ``grads`` with learning rate ``lr``."""
        if self.state is None:
            # the last array of each state list is scratch space
            self.state = [
                [np.zeros_like(p) for _ in range(self.n_state + 1)] for p in _as_list(params)
            ]
        self.t += 1
        if isinstance(params, np.ndarray):  # the engine's one flat buffer
            self._update(params, grads, self.state[0], lr)
        else:
            for p, g, st in zip(params, grads, self.state):
                self._update(p, g, st, lr)
        if self.n_state and self.t % FLUSH_EVERY == 0:
            for st in self.state:
                for moment in st[:-1]:
                    flush_tiny(moment, st[-1])

    def _update(self, p: np.ndarray, g: np.ndarray, st: list[np.ndarray], lr: float) -> None:
        raise NotImplementedError


class GD(Optimizer):
    """Plain (mini-batch) gradient descent: ``W -= lr * dW`` (the seed's
    ``update_parameters_with_gd``)."""

    name = "gd"

    def _update(self, p, g, st, lr):
        (tmp,) = st
        np.multiply(g, lr, out=tmp)
        p -= tmp


class Momentum(Optimizer):
    """Gradient descent with momentum, the seed's form (an exponentially
    weighted average of the gradients)::

        v = beta * v + (1 - beta) * dW
        W -= lr * v

    Stored as ``u = v / (1 - beta)``, which obeys ``u = beta * u + dW`` and
    gives ``W -= lr * (1 - beta) * u``: the same numbers, one pass over the
    parameters fewer (the seed's values to rounding, 1e-15 relative).
    """

    name = "momentum"
    n_state = 1

    def __init__(self, beta: float = 0.9) -> None:
        super().__init__()
        self.beta = check_beta("beta", beta)

    def _update(self, p, g, st, lr):
        u, tmp = st
        u *= self.beta
        u += g
        np.multiply(u, lr * (1 - self.beta), out=tmp)
        p -= tmp


class RMSprop(Optimizer):
    """RMSprop (Hinton, *Neural Networks for Machine Learning*, lecture 6e; the
    seed's course, week 2)::

        s = beta * s + (1 - beta) * dW^2
        W -= lr * dW / (sqrt(s) + eps)

    Stored as ``w = s / (1 - beta)`` (``w = beta * w + dW^2``), so that with
    ``c = sqrt(1 - beta)``: ``W -= (lr / c) * dW / (sqrt(w) + eps / c)``.
    """

    name = "rmsprop"
    n_state = 1

    def __init__(self, beta: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__()
        self.beta = check_beta("beta", beta)
        self.eps = check_eps(eps)

    def _update(self, p, g, st, lr):
        w, tmp = st
        c = math.sqrt(1 - self.beta)
        w *= self.beta
        np.square(g, out=tmp)
        w += tmp
        np.sqrt(w, out=tmp)
        tmp += self.eps / c
        np.divide(g, tmp, out=tmp)
        tmp *= lr / c
        p -= tmp


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015, Algorithm 1), the seed's form: bias-corrected
    moments, ``t`` counting updates from 1, epsilon added after the root::

        v = beta1 * v + (1 - beta1) * dW        v_hat = v / (1 - beta1^t)
        s = beta2 * s + (1 - beta2) * dW^2      s_hat = s / (1 - beta2^t)
        W -= lr * v_hat / (sqrt(s_hat) + eps)

    Stored as ``u = v / (1 - beta1)`` and ``w = s / (1 - beta2)``, which obey
    ``u = beta1 * u + dW`` and ``w = beta2 * w + dW^2``. With
    ``c = sqrt((1 - beta2) / (1 - beta2^t))`` the update is
    ``W -= lr * (1 - beta1) / ((1 - beta1^t) c) * u / (sqrt(w) + eps / c)``:
    the same quantity (the bias corrections folded into two scalars, as in
    Kingma and Ba, section 2), in ten passes over the parameters instead of
    twelve; equal to the seed's to rounding (1e-15 relative).
    """

    name = "adam"
    n_state = 2

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__()
        self.beta1 = check_beta("beta1", beta1)
        self.beta2 = check_beta("beta2", beta2)
        self.eps = check_eps(eps)

    def _update(self, p, g, st, lr):
        u, w, tmp = st
        b1, b2, t = self.beta1, self.beta2, self.t
        u *= b1
        u += g
        w *= b2
        np.square(g, out=tmp)
        w += tmp
        c = math.sqrt((1 - b2) / (1 - b2**t))
        np.sqrt(w, out=tmp)
        tmp += self.eps / c
        np.divide(u, tmp, out=tmp)
        tmp *= lr * (1 - b1) / ((1 - b1**t) * c)
        p -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {c.name: c for c in (GD, Momentum, RMSprop, Adam)}


def make_optimizer(
    name: str,
    *,
    beta: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> Optimizer:
    """Build an optimizer by name, passing it only the coefficients it uses.

    ``beta`` is the momentum coefficient for ``momentum`` and the decay of
    the squared-gradient average for ``rmsprop``.
    """
    if name == "gd":
        return GD()
    if name == "momentum":
        return Momentum(beta)
    if name == "rmsprop":
        return RMSprop(beta, eps)
    if name == "adam":
        return Adam(beta1, beta2, eps)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {name!r})")
