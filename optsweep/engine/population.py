"""Vectorized trials: K networks of the same shape trained together.

On the small networks of the seed's experiments a trial's cost is NumPy call
overhead, not arithmetic. Members that share the data, the layer sizes, the
dtype, the epochs and the batch size differ only in scalars (optimizer
coefficients, learning rate, schedule, betas, epsilon, initial weights), so
their parameters are stacked on a leading axis, ``theta`` of shape ``(K, P)``,
and each layer is one batched matrix product for all K.

Common random numbers: every member sees the same batches (one shuffle
stream, ``shuffle_seed``); each member has its own initial weights (its own
``seed``). A member's results equal training it alone with
``TrainConfig(seed=..., shuffle_seed=...)`` (:func:`train`), to rounding.

One update rule covers the four optimizers, with per-member coefficients
(see :mod:`.optimizers` for the scaled moments ``u`` and ``w``)::

    u = b1 * u + g          w = b2 * w + g^2
    W -= A * u / (m * sqrt(w) + E)

    gd        b1 = 0,    b2 = 0, m = 0, E = 1,     A = lr
    momentum  b1 = beta, b2 = 0, m = 0, E = 1,     A = lr (1 - beta)
    rmsprop   b1 = 0,    b2 = beta,     m = 1, E = eps / c, A = lr / c,  c = sqrt(1 - beta)
    adam      b1, b2,    m = 1, E = eps / c_t, A = lr (1 - b1) / ((1 - b1^t) c_t),
              c_t = sqrt((1 - b2) / (1 - b2^t))

A member stops on its own (divergence, or the callback's pruning): its final
state is kept, it no longer changes (``A = 0``), and the stack is compacted
once a quarter of it has stopped, so that stopped members stop costing.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from .data import Dataset, batch_sizes
from .network import Network, augment, check_dtype
from .optimizers import FLUSH_EVERY, flush_tiny
from .train import HISTORY_COLUMNS, ModelConfig, TrainConfig, TrainResult, seed_streams

#: ``callback(member, epoch, record) -> truthy to stop that member`` (``member``
#: indexes the ``configs`` list; a string return is kept as the reason).
MemberCallback = Callable[[int, int, dict], object]

_OPT_CODE = {"gd": 0, "momentum": 1, "rmsprop": 2, "adam": 3}


def member_bytes(sizes: Sequence[int], batch: int, dtype: object = "float64") -> int:
    """Memory one member needs: five parameter-sized arrays (parameters,
    gradients, two moments, scratch) and the activations of one batch."""
    item = check_dtype(dtype).itemsize
    params = sum(n * (m + 1) for m, n in itertools.pairwise(sizes))
    acts = batch * sum(sizes[1:]) * 5
    return item * (5 * params + acts)


def max_members(sizes: Sequence[int], batch: int, dtype: object, memory_mb: float) -> int:
    """How many members fit in ``memory_mb`` megabytes (at least one)."""
    return max(1, int(memory_mb * 2**20 // member_bytes(sizes, batch, dtype)))


class _Stack:
    """The active members' arrays, one row of ``theta`` per member.

    Activations are laid out ``(K, units, batch)`` (the seed's column layout,
    per member): the ones row that carries the bias sits below each member's
    block, so activations are contiguous blocks and elementwise operations
    run over long rows, not over rows of five units.
    """

    def __init__(self, sizes: list[int], act, head, dtype: np.dtype, theta: np.ndarray) -> None:
        self.sizes, self.act, self.head, self.dtype = sizes, act, head, dtype
        self.shapes = [(n, m + 1) for m, n in itertools.pairwise(sizes)]
        self.theta = np.ascontiguousarray(theta, dtype=dtype)  # (K, P)
        self.grad = np.zeros_like(self.theta)
        self.u = np.zeros_like(self.theta)  # first moment, scaled (see module docstring)
        self.w = np.zeros_like(self.theta)  # second moment, scaled
        self.tmp = np.zeros_like(self.theta)
        self.Wb = _blocks(self.theta, self.shapes)  # (K, n_l, n_{l-1} + 1) views
        self.dWb = _blocks(self.grad, self.shapes)
        self.WT = [w[:, :, :-1].transpose(0, 2, 1) for w in self.Wb]  # (K, n_{l-1}, n_l)
        self.K = theta.shape[0]
        self._ws: dict[int, tuple] = {}

    def take(self, rows: np.ndarray) -> _Stack:
        """A new stack with only ``rows`` (compaction), optimizer state included."""
        new = _Stack(self.sizes, self.act, self.head, self.dtype, self.theta[rows])
        new.u[...] = self.u[rows]
        new.w[...] = self.w[rows]
        return new

    def workspace(self, batch: int) -> tuple:
        ws = self._ws.get(batch)
        if ws is None:
            K, hidden = self.K, self.sizes[1:-1]
            Z = [np.empty((K, n, batch), self.dtype) for n in self.sizes[1:]]
            A1 = [np.ones((K, n + 1, batch), self.dtype) for n in hidden]  # [A; 1]
            A = [a[:, :-1, :] for a in A1]
            out = np.empty((K, self.sizes[-1], batch), self.dtype)
            dZ = [np.empty((K, n, batch), self.dtype) for n in self.sizes[1:]]
            dA = [np.empty((K, n, batch), self.dtype) for n in hidden]
            ws = self._ws[batch] = (Z, A1, A, out, dZ, dA)
        return ws

    def batches(
        self, XsT: np.ndarray, YsT: np.ndarray, ZsT: np.ndarray, bounds: list[tuple[int, int]]
    ) -> list[tuple]:
        """Everything an update on each batch of ``bounds`` touches, as views
        bound once (the epoch's shuffled columns ``XsT``, ``YsT`` and its
        logits ``ZsT`` are refilled in place every epoch): NumPy calls are
        the cost of a small network's update, and each view made in the loop
        would add a few more."""
        out = []
        for a, b in bounds:
            Z, A1, A, o, dZ, dA = self.workspace(b - a)
            x, z = XsT[:, a:b], ZsT[:, :, a:b]
            Z = [*Z[:-1], z]  # the output layer's logits go straight to ZsT
            out.append(
                (
                    [x, *A1],  # each layer's input [A; 1]
                    [a1.swapaxes(-1, -2) for a1 in [x, *A1]],  # and its transpose
                    Z,
                    A,
                    # heads work on (..., batch, units): transposed views
                    z.transpose(0, 2, 1),
                    o.transpose(0, 2, 1),
                    YsT[:, a:b].T,
                    dZ,
                    dZ[-1].transpose(0, 2, 1),
                    dA,
                )
            )
        return out

    def update(
        self,
        batch: tuple,
        A: np.ndarray,
        b1: np.ndarray,
        b2: np.ndarray,
        m: np.ndarray,
        E: np.ndarray,
    ) -> None:
        """One update of every member on one batch of :meth:`batches`:
        forward, backward (as the single-trial :class:`~.network.Network`)
        and :meth:`step`."""
        inputs, inputs_T, Z, Act, zT, outT, yT, dZ, dZ_outT, dA = batch
        Wb, dWb, WT, act = self.Wb, self.dWb, self.WT, self.act
        L = len(Wb)
        for l in range(L):
            np.matmul(Wb[l], inputs[l], out=Z[l])  # (K, n_l, batch)
            if l < L - 1:
                act.forward(Z[l], Act[l])
        self.head.forward(zT, outT)
        self.head.grad(outT, yT, dZ_outT)
        d = dZ[L - 1]
        for l in range(L - 1, 0, -1):
            np.matmul(d, inputs_T[l], out=dWb[l])  # (K, n_l, n_{l-1} + 1)
            np.matmul(WT[l], d, out=dA[l - 1])  # (K, n_{l-1}, batch)
            d = act.backward(dA[l - 1], Z[l - 1], Act[l - 1], dZ[l - 1])
        np.matmul(d, inputs_T[0], out=dWb[0])
        self.step(A, b1, b2, m, E)

    def forward(self, XaT: np.ndarray, z_out: np.ndarray) -> None:
        """All members' output logits on the samples ``XaT = [X | 1]^T``
        (shared, ``(n_0 + 1, n)``) into ``z_out`` (``(K, n_out, n)``)."""
        Z, A1s, A, _, _, _ = self.workspace(XaT.shape[1])
        A1 = XaT
        last = len(self.Wb) - 1
        for l, Wb in enumerate(self.Wb):
            z = Z[l] if l < last else z_out
            np.matmul(Wb, A1, out=z)  # (K, n_l, n)
            if l < last:
                self.act.forward(z, A[l])
                A1 = A1s[l]

    def step(
        self, A: np.ndarray, b1: np.ndarray, b2: np.ndarray, m: np.ndarray, E: np.ndarray
    ) -> None:
        """The unified update; coefficients are ``(K, 1)`` columns."""
        u, w, tmp, g = self.u, self.w, self.tmp, self.grad
        u *= b1
        u += g
        w *= b2
        np.square(g, out=tmp)
        w += tmp
        np.sqrt(w, out=tmp)
        tmp *= m
        tmp += E
        np.divide(u, tmp, out=tmp)
        tmp *= A
        self.theta -= tmp

    def flush(self) -> None:
        """Zero the moments' near-subnormal entries (:func:`~.optimizers.flush_tiny`)."""
        flush_tiny(self.u, self.tmp)
        flush_tiny(self.w, self.tmp)

    def logits(self, XaT: np.ndarray, cols: int) -> np.ndarray:
        """Every member's output logits for all of ``XaT``, ``(K, n, n_out)``."""
        z = np.empty((self.K, self.sizes[-1], XaT.shape[1]), self.dtype)
        for s in range(0, XaT.shape[1], cols):
            self.forward(XaT[:, s : s + cols], z[:, :, s : s + cols])
        return z.transpose(0, 2, 1)


def _blocks(buf: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    out, off = [], 0
    for n, m1 in shapes:
        out.append(buf[:, off : off + n * m1].reshape(buf.shape[0], n, m1))
        off += n * m1
    return out


def _check(configs: Sequence[TrainConfig]) -> None:
    if not configs:
        raise ValueError("a population needs at least one member")
    first = configs[0]
    for i, c in enumerate(configs):
        for field in ("batch_size", "epochs", "divergence_factor"):
            if getattr(c, field) != getattr(first, field):
                raise ValueError(
                    f"population members must share {field} (member 0 has "
                    f"{getattr(first, field)!r}, member {i} has {getattr(c, field)!r})"
                )
        if c.random_mode != "default":
            raise ValueError(f"populations train in the default random mode (member {i} is legacy)")


class _Coefficients:
    """Per-member optimizer coefficients, as ``(K, 1)`` columns for a step."""

    def __init__(self, configs: Sequence[TrainConfig], dtype: np.dtype) -> None:
        self.dtype = dtype
        code = np.array([_OPT_CODE[c.optimizer] for c in configs])
        beta = np.array([c.beta for c in configs])
        self.is_adam = code == 3
        self.is_rms = code == 2
        self.b1 = np.where(code == 1, beta, np.where(self.is_adam, [c.beta1 for c in configs], 0.0))
        self.b2 = np.where(
            self.is_rms, beta, np.where(self.is_adam, [c.beta2 for c in configs], 0.0)
        )
        self.m = np.where(code >= 2, 1.0, 0.0)
        self.eps = np.array([c.eps for c in configs])
        self.momentum = code == 1
        self.beta = beta
        # the same float operations as the single-member optimizers
        self.rms_c = np.sqrt(1 - np.where(self.is_rms, beta, 0.0))

    def take(self, rows: np.ndarray) -> _Coefficients:
        new = object.__new__(_Coefficients)
        for k, v in vars(self).items():
            new.__dict__[k] = v[rows] if isinstance(v, np.ndarray) else v
        return new

    def epoch(self, lr: np.ndarray, t0: int, n: int, frozen: np.ndarray) -> tuple:
        """Step coefficients for updates ``t0 + 1 .. t0 + n`` at rates ``lr``:
        constant columns ``b1, b2, m`` and per-update columns ``A[j], E[j]``."""
        t = np.arange(t0 + 1, t0 + n + 1)[:, None]  # (n, 1): updates by K members
        c_t = np.sqrt((1 - self.b2) / (1 - self.b2**t))  # (n, K)
        adam_A = lr * (1 - self.b1) / ((1 - self.b1**t) * c_t)
        A = np.where(self.momentum, lr * (1 - self.beta), lr)
        A = np.where(self.is_rms, lr / self.rms_c, A)
        A = np.where(self.is_adam, adam_A, A)
        E = np.where(self.is_rms, self.eps / self.rms_c, 1.0)
        E = np.where(self.is_adam, self.eps / c_t, E)
        A = np.where(frozen, 0.0, A)  # a stopped member no longer changes
        A, E = np.broadcast_arrays(A, E)
        dt = self.dtype
        cols = lambda v: np.asarray(v, dtype=dt)[..., None]  # noqa: E731 - (..., K, 1)
        return cols(self.b1), cols(self.b2), cols(self.m), cols(A), cols(E)


def train_population(
    model: ModelConfig,
    data: Dataset,
    configs: Sequence[TrainConfig],
    shuffle_seed: int,
    callback: MemberCallback | None = None,
) -> list[TrainResult]:
    """Train ``len(configs)`` members at once; one :class:`TrainResult` each.

    Members share ``batch_size``, ``epochs`` and ``divergence_factor``;
    they differ in optimizer, learning rate, schedule, betas, eps and
    ``seed`` (their initial weights). All see the batches of
    ``shuffle_seed``. See the module docstring.
    """
    _check(configs)
    K = len(configs)
    first = configs[0]
    probe = Network(
        model.sizes(data), model.activation, model.head, model.init, model.dtype, theta=0.0
    )
    sizes, head, dtype = probe.sizes, probe.head, probe.dtype
    theta0 = np.empty((K, probe.theta.size), dtype)
    for k, c in enumerate(configs):  # each member's own initial weights
        net = Network(
            sizes,
            model.activation,
            model.head,
            model.init,
            model.dtype,
            rng=seed_streams(c.seed)[0],
        )
        theta0[k] = net.theta
    stack = _Stack(sizes, probe.activation, head, dtype, theta0)
    coef = _Coefficients(configs, dtype)
    ids = np.arange(K)  # member index of each stack row
    frozen = np.zeros(K, dtype=bool)  # rows that stopped but are not yet compacted away

    X = augment(data.X_train, dtype)
    Y = head.encode(data.y_train, sizes[-1], dtype)
    XT, YT = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)  # samples as columns
    m = X.shape[0]
    has_val = data.X_val is not None and len(data.X_val) > 0
    if has_val:
        Xv = augment(data.X_val, dtype)
        Yv = head.encode(data.y_val, sizes[-1], dtype)
        XvT = np.ascontiguousarray(Xv.T)
    y_var = float(Y.var(axis=0).mean()) if head.task == "regression" else 1.0
    yv_var = float(Yv.var(axis=0).mean()) if has_val and head.task == "regression" else 1.0
    rows = max(1, (1 << 22) // max(K * max(sizes), 1))  # evaluation chunk, ~32 MB of floats

    lrs = np.stack([c.schedule(c.lr, np.arange(c.epochs)) for c in configs])  # (K, epochs)
    rng = seed_streams(shuffle_seed)[1]
    bounds, start = [], 0
    for b in batch_sizes(m, first.batch_size):
        bounds.append((start, start + b))
        start += b
    E = first.epochs
    H = np.full((K, E, len(HISTORY_COLUMNS)), np.nan)
    ran = np.zeros(K, dtype=int)
    status = ["completed"] * K
    reason = [""] * K
    final = [
        dict.fromkeys(("train_loss", "train_metric", "val_loss", "val_metric"), np.nan)
        for _ in range(K)
    ]
    nets: list[Network | None] = [None] * K
    seconds = np.zeros(K)
    XsT, YsT = np.empty_like(XT), np.empty_like(YT)  # this epoch's shuffled columns
    batches = None  # stack.batches(...): the views of each update
    t = 0

    def finish(row: int) -> None:
        """Keep member ``ids[row]``'s network and final numbers."""
        k = ids[row]
        net = Network(
            sizes, model.activation, model.head, model.init, model.dtype, theta=stack.theta[row]
        )
        nets[k] = net
        if status[k] != "diverged":
            tl, ts = net.evaluate(X, Y)
            final[k]["train_loss"], final[k]["train_metric"] = (
                tl,
                head.metric_from(ts, tl, m, y_var),
            )
            if has_val:
                vl, vs = net.evaluate(Xv, Yv)
                final[k]["val_loss"] = vl
                final[k]["val_metric"] = head.metric_from(vs, vl, Xv.shape[0], yv_var)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        z0 = stack.logits(XT[:, :4096], rows)
        limit = np.array(
            [
                c.divergence_factor * max(head.loss(z0[i], Y[:4096]), 1e-3)
                for i, c in enumerate(configs)
            ]
        )
        for epoch in range(E):
            t_epoch = time.perf_counter()
            lr = lrs[ids, epoch]  # (rows,)
            perm = rng.permutation(m)
            np.take(XT, perm, axis=1, out=XsT)
            np.take(YT, perm, axis=1, out=YsT)
            if batches is None:  # at the start, and after a compaction
                ZsT = np.empty((stack.K, sizes[-1], m), dtype)  # each epoch's logits
                batches = stack.batches(XsT, YsT, ZsT, bounds)
            b1, b2, mm, A, Ec = coef.epoch(lr, t, len(bounds), frozen)
            for j, batch in enumerate(batches):
                stack.update(batch, A[j], b1, b2, mm, Ec[j])
                t += 1
                if t % FLUSH_EVERY == 0:
                    stack.flush()
            Zs, Ys = ZsT.transpose(0, 2, 1), YsT.T  # (K, m, n_out), (m, n_out)
            act = np.flatnonzero(~frozen)
            k_act = ids[act]
            elapsed = time.perf_counter() - t_epoch
            seconds[k_act] += elapsed / len(act)  # each member's fair share of the epoch
            tl = head.losses(Zs[act], Ys)
            tm = head.metric_from(head.scores(Zs[act], Ys), tl, m, y_var)
            finite = np.isfinite(tl) & np.isfinite(stack.theta[act].sum(axis=1))
            vl = np.full(len(act), np.nan)
            vm = np.full(len(act), np.nan)
            if has_val:
                zv = stack.logits(XvT, rows)[act]
                vl = np.where(finite, head.losses(zv, Yv), np.nan)
                vm = np.where(
                    finite, head.metric_from(head.scores(zv, Yv), vl, Xv.shape[0], yv_var), np.nan
                )
            H[k_act, epoch] = np.column_stack(
                [
                    np.full(len(act), epoch),
                    lr[act],
                    tl,
                    tm,
                    vl,
                    vm,
                    np.full(len(act), t),
                    seconds[k_act],
                ]
            )
            ran[k_act] = epoch + 1
            diverged = ~finite | (tl > limit[k_act])
            stopped = []
            for i in np.flatnonzero(diverged):
                k = k_act[i]
                status[k] = "diverged"
                why = (
                    f"training loss is {tl[i]}"
                    if not math.isfinite(tl[i])
                    else "parameters are not finite"
                    if not finite[i]
                    else f"training loss {tl[i]:.3g} is above the limit {limit[k]:.3g}"
                )
                reason[k] = f"diverged at epoch {epoch}: {why}"
                stopped.append(act[i])
            if callback is not None and epoch < E - 1:  # the last epoch completes
                for i in np.flatnonzero(~diverged):
                    k = int(k_act[i])
                    rec = dict(zip(HISTORY_COLUMNS, H[k, epoch].tolist(), strict=True))
                    rec["epoch"], rec["updates"] = epoch, t
                    answer = callback(k, epoch, rec)
                    if answer:
                        status[k] = "stopped"
                        reason[k] = (
                            answer if isinstance(answer, str) else f"stopped at epoch {epoch}"
                        )
                        stopped.append(act[i])
            for row in stopped:
                finish(row)
                frozen[row] = True
            if frozen.all():
                break
            if frozen.sum() * 4 >= stack.K:  # compact: stopped members stop costing
                keep = np.flatnonzero(~frozen)
                stack, coef, ids = stack.take(keep), coef.take(keep), ids[keep]
                batches = None
                frozen = np.zeros(len(keep), dtype=bool)
        for row in np.flatnonzero(~frozen):
            finish(row)

    results = []
    for k in range(K):
        h = H[k, : ran[k]]
        history = {
            c: h[:, i].astype(np.int64) if c in ("epoch", "updates") else h[:, i].copy()
            for i, c in enumerate(HISTORY_COLUMNS)
        }
        results.append(
            TrainResult(
                status[k],
                reason[k],
                history,
                final[k],
                nets[k],
                float(seconds[k]),
                int(history["updates"][-1]) if ran[k] else 0,
            )
        )
    return results
