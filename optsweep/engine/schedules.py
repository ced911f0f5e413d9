"""Learning-rate schedules: pure functions of the epoch.

A :class:`Schedule` holds only its coefficients; ``schedule(lr0, epoch)``
gives the learning rate of an epoch (counted from 0) from the initial rate.
It has no state, pickles, accepts arrays of epochs (and of ``lr0``) for
plotting, and is evaluated once per epoch by the training loop.

Formulas (the seed's course, *Improving Deep Neural Networks*, week 2,
"Learning rate decay"; the seed writes the first as
``alpha = 1 / (1 + decay_rate * epoch_num) * alpha0``)::

    constant       lr0
    inverse_time   lr0 * 1 / (1 + decay_rate * epoch)
    staircase      lr0 * 1 / (1 + decay_rate * floor(epoch / interval))
    exponential    lr0 * decay_rate ** epoch
    inverse_sqrt   lr0 * k / sqrt(epoch + 1)

``inverse_sqrt`` counts epochs from 1 inside the root so that epoch 0 is
defined and starts at ``lr0 * k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("constant", "inverse_time", "staircase", "exponential", "inverse_sqrt")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; see the module docstring for the formulas.

    Parameters
    ----------
    kind : str
        One of ``constant``, ``inverse_time``, ``staircase``, ``exponential``,
        ``inverse_sqrt``.
    decay_rate : float
        ``>= 0`` for ``inverse_time`` and ``staircase``; in ``(0, 1]`` for
        ``exponential`` (the factor per epoch).
    interval : int
        Epochs per step of ``staircase``.
    k : float
        Scale of ``inverse_sqrt``.
    """

    kind: str = "constant"
    decay_rate: float = 0.0
    interval: int = 1
    k: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"schedule must be one of {', '.join(KINDS)} (got {self.kind!r})")
        d = self.decay_rate
        if self.kind in ("inverse_time", "staircase") and not (np.isfinite(d) and d >= 0):
            raise ValueError(f"decay_rate must be >= 0 for {self.kind} (got {d!r})")
        if self.kind == "exponential" and not 0 < d <= 1:
            raise ValueError(f"decay_rate must be in (0, 1] for exponential (got {d!r})")
        if self.kind == "staircase" and (int(self.interval) != self.interval or self.interval < 1):
            raise ValueError(f"interval must be an integer >= 1 (got {self.interval!r})")
        if self.kind == "inverse_sqrt" and not self.k > 0:
            raise ValueError(f"k must be > 0 for inverse_sqrt (got {self.k!r})")

    def factor(self, epoch):
        """Multiplier of ``lr0`` at ``epoch`` (int or array)."""
        e = np.asarray(epoch, dtype=np.float64)
        if self.kind == "constant":
            f = np.ones_like(e)
        elif self.kind == "inverse_time":
            f = 1 / (1 + self.decay_rate * e)
        elif self.kind == "staircase":
            f = 1 / (1 + self.decay_rate * np.floor(e / self.interval))
        elif self.kind == "exponential":
            f = self.decay_rate**e
        else:  # inverse_sqrt
            f = self.k / np.sqrt(e + 1)
        return float(f) if f.ndim == 0 else f

    def __call__(self, lr0, epoch):
        """Learning rate at ``epoch`` from the initial rate ``lr0``."""
        return self.factor(epoch) * lr0
