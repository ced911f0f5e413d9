"""Activations and output heads, forward and derivative side by side.

Every array here is laid out one sample per row: ``z`` and ``a`` are
``(batch, units)``. Each activation writes into a caller-owned buffer (``out``)
so that the training loop allocates nothing per batch.

Sources
-------
- ReLU, tanh, sigmoid and their derivatives: deeplearning.ai, *Improving Deep
  Neural Networks* (the seed's course), week 1 helpers ``relu_backward`` and
  ``sigmoid_backward``.
- Leaky ReLU: Maas, Hannun and Ng (2013), "Rectifier nonlinearities improve
  neural network acoustic models", slope 0.01 for ``z < 0``.
- Binary cross-entropy on a sigmoid, categorical cross-entropy on a softmax and
  mean squared error on a linear output all give ``dL/dz = (a - y) / batch``
  (times 2 / outputs for the squared error): Bishop (2006), *Pattern
  Recognition and Machine Learning*, section 5.2; the seed's ``backward_propagation``
  starts from ``dz3 = 1/m * (a3 - Y)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_SLOPE = 0.01
_ONE = {np.dtype(t): np.ones((), t) for t in ("float32", "float64")}

Array = np.ndarray


# --- hidden activations: forward(z, out) -> out ; backward(da, z, a, out) -> out ---


def _relu(z: Array, out: Array) -> Array:
    return np.maximum(z, 0, out=out)


def _relu_backward(da: Array, z: Array, a: Array, out: Array) -> Array:
    # f'(z) = 1 for z > 0, else 0 (the seed: ``np.int64(a > 0)``); sign(a) is
    # that mask already in floating point, which saves a cast
    np.sign(a, out=out)
    return np.multiply(da, out, out=out)


def _relu_calls(z: Array, out: Array) -> list[tuple]:
    # maximum's out= must be a keyword; 0 as a 0-d array of z's dtype (a
    # Python number is converted at every call)
    return [(functools.partial(np.maximum, out=out), (z, np.zeros((), z.dtype)))]


def _relu_backward_calls(da: Array, z: Array, a: Array, out: Array) -> list[tuple]:
    return [(np.sign, (a, out)), (np.multiply, (da, out, out))]


def _leaky_relu(z: Array, out: Array) -> Array:
    np.multiply(z, LEAKY_SLOPE, out=out)
    return np.maximum(z, out, out=out)


def _leaky_relu_backward(da: Array, z: Array, a: Array, out: Array) -> Array:
    return np.multiply(da, np.where(z > 0, 1.0, LEAKY_SLOPE).astype(da.dtype, copy=False), out=out)


def _tanh(z: Array, out: Array) -> Array:
    return np.tanh(z, out=out)


def _tanh_backward(da: Array, z: Array, a: Array, out: Array) -> Array:
    # f'(z) = 1 - tanh(z)^2
    np.multiply(a, a, out=out)
    np.subtract(1, out, out=out)
    return np.multiply(da, out, out=out)


def _sigmoid(z: Array, out: Array) -> Array:
    # 1 / (1 + exp(-z)), written as the seed writes it so that legacy runs match
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1
    return np.divide(1, out, out=out)


def _sigmoid_backward(da: Array, z: Array, a: Array, out: Array) -> Array:
    # f'(z) = a (1 - a)
    np.subtract(1, a, out=out)
    out *= a
    return np.multiply(da, out, out=out)


@dataclass(frozen=True)
class Activation:
    """A hidden-layer nonlinearity: ``forward`` and its derivative.

    ``one`` is an input that ``forward`` maps to exactly 1 (1 for the
    rectifiers; infinity for tanh and the sigmoid): a population keeps the
    row of ones that carries the next layer's bias in its pre-activations,
    so that its activations are computed over whole contiguous blocks.
    """

    name: str
    forward: Callable[[Array, Array], Array]
    backward: Callable[[Array, Array, Array, Array], Array]
    one: float = 1.0
    #: ``forward`` and ``backward`` as NumPy calls on given arrays,
    #: ``(function, args)`` pairs, for a population's update plans (where
    #: each Python call counts); None: one call of the function
    forward_calls: Callable[[Array, Array], list[tuple]] | None = None
    backward_calls: Callable[[Array, Array, Array, Array], list[tuple]] | None = None

    def plan_forward(self, z: Array, out: Array) -> list[tuple]:
        """:attr:`forward` into ``out`` as ``(function, args)`` pairs."""
        if self.forward_calls is None:
            return [(self.forward, (z, out))]
        return self.forward_calls(z, out)

    def plan_backward(self, da: Array, z: Array, a: Array, out: Array) -> list[tuple]:
        """:attr:`backward` into ``out`` as ``(function, args)`` pairs."""
        if self.backward_calls is None:
            return [(self.backward, (da, z, a, out))]
        return self.backward_calls(da, z, a, out)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_backward, 1.0, _relu_calls, _relu_backward_calls),
    "leaky_relu": Activation("leaky_relu", _leaky_relu, _leaky_relu_backward),
    "tanh": Activation("tanh", _tanh, _tanh_backward, one=np.inf),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_backward, one=np.inf),
}


# --- output heads: output activation, loss, dL/dz, and an additive metric ---


class Head:
    """Output activation with its loss.

    ``loss`` and ``score`` take the logits ``z`` (pre-activations of the
    output layer), so the training loop can keep a whole epoch's logits and
    evaluate both once per epoch instead of once per batch; the values are the
    same as the per-batch ones, weighted by batch size.

    Subclasses define ``forward`` (output activation), ``loss`` (mean over the
    rows), ``grad`` (``dL/dz`` of the mean loss, from the output ``a``),
    ``encode`` (labels to targets) and ``score`` (the number of correct
    predictions, summed; the metric follows from it).
    """

    name: str = ""
    task: str = ""
    metric: str = ""

    def check_outputs(self, n_out: int) -> None:  # pragma: no cover - overridden
        """Raise ``ValueError`` when ``n_out`` output units do not suit the head."""

    def forward(self, z: Array, out: Array) -> Array:
        raise NotImplementedError

    def loss(self, z: Array, y: Array) -> float:
        raise NotImplementedError

    def grad(self, a: Array, y: Array, out: Array) -> Array:
        # (a - y) / batch for the matching loss (see module docstring); rows of
        # the batch and outputs are the last two axes (a may carry a member axis)
        np.subtract(a, y, out=out)
        out *= self.grad_scale(a.shape[-2], a.shape[-1])
        return out

    def grad_scale(self, batch: int, n_out: int) -> float:
        """The factor ``s`` in ``dL/dz = s (a - y)`` for a batch (``1 / batch``)."""
        return 1.0 / batch

    #: whether :meth:`grad_from_logits` can keep what :meth:`losses_kept` needs
    keeps: bool = False

    def grad_from_logits(
        self, z: Array, y_scaled: Array, scale: float, out: Array, keep: Array | None = None
    ) -> Array:
        """``dL/dz = scale * a - y_scaled`` from the logits ``z``, with
        ``scale`` from :meth:`grad_scale` and ``y_scaled = scale * y`` (made
        once an epoch): :meth:`forward` and :meth:`grad` in fewer passes.
        Where :attr:`keeps`, ``keep`` (shaped as ``z``) receives what
        :meth:`losses_kept` computes the losses from."""
        self.forward(z, out)
        out *= scale
        out -= y_scaled
        return out

    def encode(self, y: Array, n_out: int, dtype: np.dtype) -> Array:
        raise NotImplementedError

    def score(self, z: Array, y: Array) -> float:
        raise NotImplementedError

    def losses(self, Z: Array, y: Array) -> Array:
        """:meth:`loss` of each member of a stack ``Z`` of shape ``(K, n, out)``."""
        raise NotImplementedError

    def losses_kept(self, kept: Array, Z: Array, y: Array) -> Array:
        """:meth:`losses` helped by what :meth:`grad_from_logits` kept (where :attr:`keeps`)."""
        return self.losses(Z, y)

    def scores(self, Z: Array, y: Array) -> Array:
        """:meth:`score` of each member of a stack ``Z`` of shape ``(K, n, out)``."""
        raise NotImplementedError

    def metric_from(self, score_sum: float, loss_mean: float, n: int, y_var: float) -> float:
        """Epoch metric from the summed scores (accuracy by default)."""
        return score_sum / n


def softplus(z: Array) -> Array:
    """``log(1 + e^z)``, a new array: ``max(z, 0) + log1p(e^-|z|)``, the formula
    of NumPy's ``logaddexp(0, z)`` (equal to it to rounding, infinities and NaN
    included) in plain ufunc passes, which NumPy vectorizes: six times faster."""
    out = np.abs(z)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(z, 0)
    return out


class SigmoidBCE(Head):
    """Sigmoid output with binary cross-entropy (the seed's head).

    ``L = -mean(y log a + (1 - y) log(1 - a))`` with ``a = sigmoid(z)``,
    evaluated as ``mean(log(1 + exp(z)) - y z)`` so that a saturated output
    gives a large finite loss rather than ``log(0)``. A sample is predicted 1
    when ``a > 0.5``, that is ``z > 0`` (the seed's ``predict``).
    """

    name, task, metric = "sigmoid", "binary", "accuracy"

    def check_outputs(self, n_out: int) -> None:
        if n_out != 1:
            raise ValueError(f"head 'sigmoid' needs 1 output unit (got layer size {n_out})")

    def forward(self, z: Array, out: Array) -> Array:
        return _sigmoid(z, out)

    def loss(self, z: Array, y: Array) -> float:
        # mean(log(1 + e^z) - y z), z and y (n, 1): each sample's loss before
        # the sum, so that it is >= 0 as computed (a sum of the first terms
        # less a sum of the second cancels: -1e-6 for confident float32
        # logits)
        per = softplus(z)
        per -= y * z
        return float(per.sum() / max(z.shape[0], 1))

    keeps = True

    def grad_from_logits(
        self, z: Array, y_scaled: Array, scale: float, out: Array, keep: Array | None = None
    ) -> Array:
        # scale * sigmoid(z) as scale / (1 + exp(-z)): one pass fewer; the
        # denominators 1 + exp(-z) go to ``keep`` when given (losses_kept)
        np.negative(z, out)
        np.exp(out, out)
        d = out if keep is None else keep
        np.add(out, _ONE[out.dtype], d)
        np.divide(scale, d, out)
        out -= y_scaled
        return out

    def losses_kept(self, D: Array, Z: Array, y: Array) -> Array:
        """:meth:`losses` from the denominators ``D = 1 + exp(-z)`` that
        :meth:`grad_from_logits` kept: ``log D + (1 - y) z`` per sample (for
        ``y = 0``, ``log(1 + e^-z) + z = log(1 + e^z)``), one logarithm where
        the stable formula takes an exponential and a logarithm. A member
        whose ``exp(-z)`` overflowed (``z < -709``) gets the stable formula.
        A fitted model's loss is then a difference of two sums that agree to
        their rounding, which can fall below 0 (-2e-6 in float32): it is
        taken as at least 0, at no cost (a sample's loss before the sums
        would cost three passes over the samples, and be no more precise:
        for ``y = 0`` and ``z`` far below 0, ``log D`` and ``-z`` agree to
        their rounding too)."""
        # einsum, not a matrix product: a member's sum must not depend on how
        # many members there are (BLAS blocks by the number of rows)
        zy = np.einsum("kn,n->k", Z[..., 0], 1 - y[:, 0])
        out = (np.log(D).sum(axis=(1, 2)) + zy) / max(Z.shape[1], 1)
        np.maximum(out, 0, out=out)  # NaN stays NaN
        redo = ~np.isfinite(out)
        if redo.any():
            out[redo] = self._stable_losses(Z[redo], y)
        return out

    def encode(self, y: Array, n_out: int, dtype: np.dtype) -> Array:
        labels = np.asarray(y)
        values = np.unique(labels)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"head 'sigmoid' needs labels 0 and 1 (got {values[:5].tolist()})")
        return labels.astype(dtype).reshape(-1, 1)

    def score(self, z: Array, y: Array) -> float:
        return int(np.count_nonzero((z > 0) == y))  # y holds 0.0 and 1.0

    def losses(self, Z: Array, y: Array) -> Array:
        # as losses_kept, from 1 + exp(-z) made here
        D = np.exp(np.negative(Z))
        return self.losses_kept(np.add(D, 1, out=D), Z, y)

    def _stable_losses(self, Z: Array, y: Array) -> Array:
        per = softplus(Z)
        per -= Z * y  # each sample's loss, >= 0 (see :meth:`loss`)
        return per.sum(axis=(1, 2)) / max(Z.shape[1], 1)

    def scores(self, Z: Array, y: Array) -> Array:
        # positives predicted positive plus negatives predicted negative,
        # (z > 0) . (2y - 1) + #negatives: a matrix product, where counting
        # per member ((Z > 0) == y) takes twice as long
        predicted = np.greater(Z[..., 0], 0).astype(Z.dtype)  # (K, n)
        return predicted @ (2 * y[:, 0] - 1) + np.count_nonzero(y == 0)


class SoftmaxCE(Head):
    """Softmax output with categorical cross-entropy.

    ``L = mean(logsumexp(z) - z[label])``, shifted by ``max(z)`` for
    stability: each sample's loss as ``(max(z) - z[label]) + log(sum(exp(z -
    max(z))))``, two terms >= 0 (the form of PyTorch's ``log_softmax`` and
    ``nll_loss``), so that a loss is never below 0 as computed (a sum of
    ``logsumexp`` less a sum of ``z[label]`` cancels: in float32 a fitted
    model's loss came out as -3e-6).
    """

    name, task, metric = "softmax", "multiclass", "accuracy"

    def check_outputs(self, n_out: int) -> None:
        if n_out < 2:
            raise ValueError(f"head 'softmax' needs at least 2 output units (got {n_out})")

    def forward(self, z: Array, out: Array) -> Array:
        np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=-1, keepdims=True)
        return out

    def loss(self, z: Array, y: Array) -> float:
        return float(self.losses(z[None], y)[0])

    def encode(self, y: Array, n_out: int, dtype: np.dtype) -> Array:
        labels = np.asarray(y)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError("head 'softmax' needs integer class labels of shape (n,)")
        if labels.size and (labels.min() < 0 or labels.max() >= n_out):
            raise ValueError(
                f"head 'softmax' has {n_out} outputs but labels span {labels.min()}..{labels.max()}"
            )
        onehot = np.zeros((labels.size, n_out), dtype=dtype)
        onehot[np.arange(labels.size), labels] = 1
        return onehot

    def score(self, z: Array, y: Array) -> float:
        return int(np.count_nonzero(z.argmax(axis=1) == y.argmax(axis=1)))

    def losses(self, Z: Array, y: Array) -> Array:
        zmax = Z.max(axis=-1, keepdims=True)
        per = np.log(np.exp(Z - zmax).sum(axis=-1))  # (K, n), >= 0
        per += zmax[..., 0] - np.einsum("kno,no->kn", Z, y)  # >= 0: y is one-hot
        return per.sum(axis=1) / max(Z.shape[1], 1)

    def scores(self, Z: Array, y: Array) -> Array:
        return np.count_nonzero(Z.argmax(axis=-1) == y.argmax(axis=-1), axis=1)


class LinearMSE(Head):
    """Linear output with mean squared error, ``L = mean((a - y)^2)``.

    The metric is the coefficient of determination pooled over outputs,
    ``R^2 = 1 - MSE / mean(var(y))``.
    """

    name, task, metric = "linear", "regression", "r2"

    def check_outputs(self, n_out: int) -> None:
        if n_out < 1:
            raise ValueError(f"head 'linear' needs at least 1 output unit (got {n_out})")

    def forward(self, z: Array, out: Array) -> Array:
        np.copyto(out, z)
        return out

    def loss(self, z: Array, y: Array) -> float:
        d = z - y
        return float(np.mean(d * d)) if d.size else 0.0

    def grad_scale(self, batch: int, n_out: int) -> float:
        # d/dz mean((a - y)^2) over batch * outputs entries
        return 2.0 / (batch * n_out)

    def grad_from_logits(
        self, z: Array, y_scaled: Array, scale: float, out: Array, keep: Array | None = None
    ) -> Array:
        np.multiply(z, scale, out)  # the output is the logit
        out -= y_scaled
        return out

    def encode(self, y: Array, n_out: int, dtype: np.dtype) -> Array:
        t = np.asarray(y, dtype=dtype)
        t = t.reshape(-1, 1) if t.ndim == 1 else t
        if t.shape[1] != n_out:
            raise ValueError(f"head 'linear' has {n_out} outputs but targets have {t.shape[1]}")
        return t

    def score(self, z: Array, y: Array) -> float:
        return 0.0

    def losses(self, Z: Array, y: Array) -> Array:
        d = Z - y
        return np.mean(d * d, axis=(1, 2)) if d.size else np.zeros(Z.shape[0])

    def scores(self, Z: Array, y: Array) -> Array:
        return np.zeros(Z.shape[0])

    def metric_from(self, score_sum: float, loss_mean: float, n: int, y_var: float) -> float:
        if y_var > 0:
            return 1.0 - loss_mean / y_var
        return np.full_like(loss_mean, np.nan, dtype=float) if np.ndim(loss_mean) else float("nan")


HEADS: dict[str, Head] = {h.name: h for h in (SigmoidBCE(), SoftmaxCE(), LinearMSE())}
