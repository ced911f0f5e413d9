"""Fully connected networks: one flat parameter buffer, forward and backward.

All parameters live in one contiguous array ``theta``. Layer ``l`` owns the
block ``Wb[l] = [W_l | b_l]`` of shape ``(n_l, n_{l-1} + 1)``: the weights
``W[l]`` (``(n_l, n_{l-1})``, the seed's layout) and the biases ``b[l]``
(``(n_l,)``) are views into it, and the gradients ``grad`` share the layout.
An optimizer therefore updates the whole network with a handful of NumPy
calls, in place.

Samples are rows, and each layer's input carries a trailing column of ones
(:func:`augment`), so that one matrix product applies weights and bias and
one gives both gradients::

    Z_l = [A_{l-1} | 1] Wb_l^T             (= A_{l-1} W_l^T + b_l)
    [dW_l | db_l] = dZ_l^T [A_{l-1} | 1]   (db_l = sum over rows of dZ_l)
    dA_{l-1} = dZ_l W_l                     dZ_{l-1} = dA_{l-1} * g'(Z_{l-1})

These are the seed's ``forward_propagation`` and ``backward_propagation``
(backpropagation: Rumelhart, Hinton and Williams, 1986) with rows for columns;
on tiny networks the saved bias additions and sums are a fifth of the time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .layers import ACTIVATIONS, HEADS, Head

INITS = ("he", "xavier", "glorot")
DTYPES = {"float64": np.float64, "float32": np.float32}


def check_dtype(dtype: object) -> np.dtype:
    """Return the NumPy dtype for ``"float64"``/``"float32"`` (or the types)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32' (got {dtype!r})")
    return np.dtype(DTYPES[name])


def init_scale(init: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the initial weights of one layer.

    - ``he``: ``sqrt(2 / n_{l-1})`` (He et al., 2015; the seed's course,
      ``initialize_parameters_he``), the default for ReLU networks.
    - ``xavier``: ``sqrt(1 / n_{l-1})`` (the course's "Xavier initialization").
    - ``glorot``: ``sqrt(2 / (n_{l-1} + n_l))`` (Glorot and Bengio, 2010).
    """
    if init == "he":
        return float(np.sqrt(2 / fan_in))
    if init == "xavier":
        return float(np.sqrt(1 / fan_in))
    if init == "glorot":
        return float(np.sqrt(2 / (fan_in + fan_out)))
    raise ValueError(f"init must be one of {', '.join(INITS)} (got {init!r})")


def augment(X: np.ndarray, dtype: object = None) -> np.ndarray:
    """``[X | 1]``: a new C-contiguous array with a trailing column of ones."""
    X = np.asarray(X)
    out = np.ones((X.shape[0], X.shape[1] + 1), dtype=dtype or X.dtype)
    out[:, :-1] = X
    return out


class _Workspace:
    """Buffers for one batch size: pre-activations, activations, deltas."""

    def __init__(self, batch: int, sizes: Sequence[int], dtype: np.dtype) -> None:
        hidden = sizes[1:-1]
        self.Z = [np.empty((batch, n), dtype) for n in sizes[1:]]  # (batch, n_l)
        self.A1 = [np.ones((batch, n + 1), dtype) for n in hidden]  # (batch, n_l + 1): [A_l | 1]
        self.A = [a[:, :-1] for a in self.A1]  # (batch, n_l) views
        self.out = np.empty((batch, sizes[-1]), dtype)  # head's output
        self.dZ = [np.empty((batch, n), dtype) for n in sizes[1:]]  # (batch, n_l)
        self.dA = [np.empty((batch, n), dtype) for n in hidden]  # (batch, n_l)


class Network:
    """A fully connected network with a flat parameter buffer.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first: ``[2, 5, 2, 1]`` is the seed's network.
    activation : str
        Hidden activation: ``relu``, ``leaky_relu``, ``tanh`` or ``sigmoid``.
    head : str
        Output head: ``sigmoid`` (binary cross-entropy), ``softmax``
        (categorical cross-entropy) or ``linear`` (mean squared error).
    init : str
        ``he`` (default), ``xavier`` or ``glorot``; see :func:`init_scale`.
    dtype : str or dtype
        ``float64`` (default) or ``float32``, used end to end.
    rng : numpy.random.Generator or numpy.random.RandomState, optional
        Source of the initial weights. A ``RandomState`` seeded with 3 gives the
        course's initialisation (``randn(n_l, n_{l-1}) * sqrt(2 / n_{l-1})``,
        layer by layer, biases zero). Defaults to ``default_rng(0)``.
    theta : ndarray, optional
        All parameters, flat, in this network's layout: used instead of a
        random initialisation.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        head: str = "sigmoid",
        init: str = "he",
        dtype: object = "float64",
        rng: np.random.Generator | np.random.RandomState | None = None,
        theta: np.ndarray | None = None,
    ) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and an output layer (got {sizes!r})")
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"layer size must be an integer >= 1 (got sizes[{i}] = {n!r})")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)} (got {activation!r})"
            )
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)} (got {head!r})")
        self.sizes = [int(n) for n in sizes]
        self.activation = ACTIVATIONS[activation]
        self.head: Head = HEADS[head]
        self.head.check_outputs(self.sizes[-1])
        self.init = init
        self.dtype = check_dtype(dtype)

        shapes = [(n, m + 1) for m, n in zip(self.sizes[:-1], self.sizes[1:])]
        n_params = sum(n * m1 for n, m1 in shapes)
        self.theta = np.zeros(n_params, dtype=self.dtype)
        self.grad = np.zeros(n_params, dtype=self.dtype)
        self.Wb = _blocks(self.theta, shapes)
        self.dWb = _blocks(self.grad, shapes)
        self.W = [w[:, :-1] for w in self.Wb]  # (n_l, n_{l-1}) views
        self.b = [w[:, -1] for w in self.Wb]  # (n_l,) views
        self.dW = [w[:, :-1] for w in self.dWb]
        self.db = [w[:, -1] for w in self.dWb]
        self._ws: dict[int, _Workspace] = {}

        if theta is not None:  # given parameters (e.g. one member of a population)
            self.theta[...] = theta
            return
        rng = np.random.default_rng(0) if rng is None else rng
        for W, (n, m1) in zip(self.W, shapes):
            # float64 draws, then cast: float32 networks start from the same weights
            W[...] = rng.standard_normal((n, m1 - 1)) * init_scale(init, m1 - 1, n)

    def __repr__(self) -> str:
        return (
            f"Network({self.sizes}, activation={self.activation.name!r}, "
            f"head={self.head.name!r}, dtype={self.dtype.name!r})"
        )

    @property
    def n_layers(self) -> int:
        """Number of weight layers (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W1, b1), (W2, b2), ...]`` as views into ``theta``."""
        return list(zip(self.W, self.b))

    def workspace(self, batch: int) -> _Workspace:
        ws = self._ws.get(batch)
        if ws is None:
            ws = self._ws[batch] = _Workspace(batch, self.sizes, self.dtype)
        return ws

    def forward(self, Xa: np.ndarray, z_out: np.ndarray | None = None) -> np.ndarray:
        """Output activations for a batch ``Xa = [X | 1]`` (see :func:`augment`).

        The output layer's logits go to ``z_out`` when given (the training
        loop passes a slice of the epoch's logits), else to a buffer. The
        result is a buffer reused by the next call of the same batch size:
        copy it to keep it.
        """
        ws = self.workspace(Xa.shape[0])
        A1 = Xa
        last = self.n_layers - 1
        for l, Wb in enumerate(self.Wb):
            Z = ws.Z[l] if l < last or z_out is None else z_out
            np.matmul(A1, Wb.T, out=Z)  # (batch, n_l)
            if l < last:
                self.activation.forward(Z, ws.A[l])
                A1 = ws.A1[l]
        return self.head.forward(Z, ws.out)

    def backward(self, Xa: np.ndarray, Y: np.ndarray) -> None:
        """Gradients of the mean loss into ``grad``, after :meth:`forward` on ``Xa``."""
        ws = self.workspace(Xa.shape[0])
        L = self.n_layers
        dZ = self.head.grad(ws.out, Y, ws.dZ[L - 1])
        for l in range(L - 1, -1, -1):
            A1_prev = Xa if l == 0 else ws.A1[l - 1]
            np.matmul(dZ.T, A1_prev, out=self.dWb[l])  # (n_l, n_{l-1} + 1)
            if l > 0:
                dA = np.matmul(dZ, self.W[l], out=ws.dA[l - 1])  # (batch, n_{l-1})
                dZ = self.activation.backward(dA, ws.Z[l - 1], ws.A[l - 1], ws.dZ[l - 1])

    def gradient(self, Xa: np.ndarray, Y: np.ndarray, z_out: np.ndarray | None = None) -> None:
        """Forward and backward for one batch ``Xa = [X | 1]``: gradients into ``grad``."""
        self.forward(Xa, z_out)
        self.backward(Xa, Y)

    def logits(self, Xa: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """The output layer's pre-activations for ``Xa = [X | 1]``, a new array."""
        z = np.empty((Xa.shape[0], self.sizes[-1]), self.dtype)
        for s in range(0, Xa.shape[0], chunk):
            self.forward(Xa[s : s + chunk], z[s : s + chunk])
        return z

    def evaluate(self, Xa: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
        """Mean loss and summed score over a whole data set ``Xa = [X | 1]``."""
        z = self.logits(Xa)
        return self.head.loss(z, Y), self.head.score(z, Y)

    def predict_proba(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """Output activations (probabilities or values) for plain inputs ``X``.

        Far from the data a sigmoid saturates: ``exp(-z)`` overflows to
        infinity and the probability is exactly 0, which is right, so that
        overflow is not reported.
        """
        Xa = augment(np.asarray(X), self.dtype)
        with np.errstate(over="ignore", under="ignore"):
            parts = [self.forward(Xa[s : s + chunk]).copy() for s in range(0, Xa.shape[0], chunk)]
        return np.concatenate(parts) if parts else np.empty((0, self.sizes[-1]), self.dtype)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (``a > 0.5`` or ``argmax``), or values for a linear head."""
        A = self.predict_proba(X)
        if self.head.task == "binary":
            return (A[:, 0] > 0.5).astype(np.intp)
        if self.head.task == "multiclass":
            return A.argmax(axis=1)
        return A

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays (``W1``, ``b1``, ...) for ``np.savez``; no pickle needed."""
        out = {"sizes": np.asarray(self.sizes)}
        for l, (W, b) in enumerate(self.params(), start=1):
            out[f"W{l}"] = W.copy()
            out[f"b{l}"] = b.copy()
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], **kwargs) -> Network:
        """Rebuild a network from :meth:`state_dict` arrays (e.g. an ``.npz``)."""
        net = cls([int(n) for n in state["sizes"]], **kwargs)
        for l in range(net.n_layers):
            net.W[l][...] = state[f"W{l + 1}"]
            net.b[l][...] = state[f"b{l + 1}"]
        return net


def _blocks(buf: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    out, off = [], 0
    for n, m1 in shapes:
        out.append(buf[off : off + n * m1].reshape(n, m1))
        off += n * m1
    return out
