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

computed as ``W -= u / ((m / A) sqrt(w) + E / A)`` (one pass fewer).

A member stops on its own (divergence, or the callback's pruning): its final
state is kept, it no longer changes (``m / A = 0``, ``E / A`` infinite), and
the stack is compacted once a quarter of it has stopped, so that stopped
members stop costing.

Sources: the update rules of :mod:`.optimizers` (the seed's course, week 2);
the binary cross-entropy from ``1 + exp(-z)`` in
:meth:`~.layers.SigmoidBCE.losses_kept`.
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

#: ``callback(epoch, members, rows) -> answers``: after every epoch but the
#: last, the members still training (indexes into the ``configs`` list) and
#: their rows of the epoch's history (columns ``HISTORY_COLUMNS``); a truthy
#: answer stops that member (a string is kept as the reason). Called once an
#: epoch for the whole population, so that a pruner's reports can be batched.
PopulationCallback = Callable[[int, np.ndarray, np.ndarray], Sequence[object] | None]

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


#: One update's fixed cost (its NumPy calls) in member-sample-parameters: a
#: population's cost grows with its members times samples times parameters
#: beyond that (:func:`population_cost`). Fitted on ``optimizers_moons``
#: (the seed's [2, 5, 2, 1] network, batch sizes 8 to 450, 26 to 38 members):
#: an epoch takes about 35 us an update plus 0.047 us a member-sample.
UPDATE_COST = 22_000


def population_cost(
    sizes: Sequence[int], batch: int, members: int, n_train: int, n_val: int = 0
) -> float:
    """A population's relative cost per epoch, to order work longest first:
    its updates (each a fixed number of NumPy calls, whatever the number of
    members) plus its members' arithmetic over the training and validation
    samples, in units of one update's fixed cost (:data:`UPDATE_COST`)."""
    params = sum(n * (m + 1) for m, n in itertools.pairwise(sizes))
    updates = len(batch_sizes(n_train, batch))
    return updates + members * (n_train + n_val) * params / UPDATE_COST


class _Stack:
    """The active members' arrays, one row of ``theta`` per member.

    Activations are laid out ``(K, units, batch)`` (the seed's column layout,
    per member), and each hidden layer's block carries one more row: the ones
    that multiply the next layer's bias. The pre-activations hold the
    activation's :attr:`~.layers.Activation.one` there, so that the
    activation, and its derivative, run over whole contiguous blocks.

    An update is a fixed sequence of NumPy calls on arrays bound once
    (:meth:`plans`): on a small network the calls are the cost, and every
    view made, attribute read or keyword parsed in the loop would add to it.
    """

    def __init__(
        self,
        sizes: list[int],
        act,
        head,
        dtype: np.dtype,
        theta: np.ndarray,
        b1: np.ndarray | None = None,
        b2: np.ndarray | None = None,
    ) -> None:
        self.sizes, self.act, self.head, self.dtype = sizes, act, head, dtype
        self.shapes = [(n, m + 1) for m, n in itertools.pairwise(sizes)]
        self.theta = np.ascontiguousarray(theta, dtype=dtype)  # (K, P)
        self.K, P = self.theta.shape
        # the moments side by side, ``uw = [u; w]``, and the gradient beside
        # its square, ``gg = [g; g^2]``: both moments decay and add in one
        # call each (see :meth:`_step`)
        self.uw = np.zeros((2, self.K, P), dtype)  # scaled moments (module docstring)
        self.u, self.w = self.uw
        self.gg = np.zeros_like(self.uw)
        self.grad, self.g2 = self.gg
        self.tmp = np.zeros_like(self.theta)
        # the moments' decay factors, one per parameter: a (K, 1) column would
        # make every step's product a broadcast, three times slower here
        col = lambda v: np.zeros(self.K) if v is None else np.asarray(v)  # noqa: E731
        self.b12 = np.empty_like(self.uw)
        self.b12[0] = col(b1).astype(dtype)[:, None]
        self.b12[1] = col(b2).astype(dtype)[:, None]
        self.Wb = _blocks(self.theta, self.shapes)  # (K, n_l, n_{l-1} + 1) views
        self.dWb = _blocks(self.grad, self.shapes)
        self.WbT = [w.transpose(0, 2, 1) for w in self.Wb]  # (K, n_{l-1} + 1, n_l)
        self._ws: dict[int, tuple] = {}

    def take(self, rows: np.ndarray) -> _Stack:
        """A new stack with only ``rows`` (compaction), optimizer state included."""
        new = _Stack(
            self.sizes, self.act, self.head, self.dtype, self.theta[rows],
            self.b12[0, rows, 0], self.b12[1, rows, 0],
        )  # fmt: skip
        new.uw[...] = self.uw[:, rows]
        return new

    def workspace(self, batch: int) -> tuple:
        """Buffers for ``batch`` samples: each hidden layer's pre-activations
        and activations with their row for the bias, ``[Z; one]`` and
        ``[A; 1]``, their gradients (whose last rows are not used), and the
        output layer's ``dL/dz``."""
        ws = self._ws.get(batch)
        if ws is None:
            K, dt, hidden = self.K, self.dtype, self.sizes[1:-1]
            Ze = [np.zeros((K, n + 1, batch), dt) for n in hidden]
            for z in Ze:
                z[:, -1] = self.act.one
            A1 = [np.ones((K, n + 1, batch), dt) for n in hidden]
            dZe = [np.zeros((K, n + 1, batch), dt) for n in hidden]
            dAe = [np.zeros((K, n + 1, batch), dt) for n in hidden]
            dZo = np.zeros((K, self.sizes[-1], batch), dt)
            ws = self._ws[batch] = (Ze, A1, dZe, dAe, dZo)
        return ws

    def plans(
        self,
        XsT: np.ndarray,
        Xs: np.ndarray,
        ZsT: np.ndarray,
        KsT: np.ndarray | None,
        YsT_scaled: np.ndarray,
        bounds: list[tuple[int, int]],
        scales: list[float],
        MA: np.ndarray,
        EA: np.ndarray,
    ) -> list[list[tuple]]:
        """The calls of an update on each batch of ``bounds``, as
        ``(function, arguments)`` pairs bound once: forward, ``dL/dz`` from
        the logits, backward (as the single-trial :class:`~.network.Network`)
        and :meth:`step`.

        The epoch's shuffled samples ``XsT`` (columns) and ``Xs`` (rows), its
        targets times each batch's gradient scale ``YsT_scaled``, its logits
        ``ZsT``, what the head keeps for the losses ``KsT`` (see
        :attr:`~.layers.Head.keeps`; None: nothing) and each update's step
        columns ``MA[j]`` and ``EA[j]`` are refilled in place every epoch.
        """
        act, head, Wb, dWb, WbT = self.act, self.head, self.Wb, self.dWb, self.WbT
        L = len(Wb)
        out = []
        for j, (a, b) in enumerate(bounds):
            Ze, A1, dZe, dAe, dZo = self.workspace(b - a)
            z = ZsT[:, :, a:b]  # the output layer's logits go straight to ZsT
            inputs = [XsT[:, a:b], *A1]  # each layer's input [A; 1]
            ops: list[tuple] = []
            for l in range(L - 1):
                ops.append((np.matmul, (Wb[l], inputs[l], Ze[l][:, :-1])))
                ops += act.plan_forward(Ze[l], A1[l])
            ops.append((np.matmul, (Wb[-1], inputs[-1], z)))
            # heads work on (..., batch, units): transposed views
            scale = np.array(scales[j], self.dtype)  # 0-d: converted once, not every call
            g = (z.transpose(0, 2, 1), YsT_scaled[:, a:b].T, scale, dZo.transpose(0, 2, 1))
            if KsT is not None:
                g += (KsT[:, :, a:b].transpose(0, 2, 1),)
            ops.append((head.grad_from_logits, g))
            d = dZo
            for l in range(L - 1, 0, -1):
                ops.append((np.matmul, (d, A1[l - 1].transpose(0, 2, 1), dWb[l])))
                # W^T dZ: a broadcast product when dZ has one row (a single
                # output unit), the same numbers a third faster than matmul
                prod = np.multiply if d.shape[1] == 1 else np.matmul
                ops.append((prod, (WbT[l], d, dAe[l - 1])))
                ops += act.plan_backward(dAe[l - 1], Ze[l - 1], A1[l - 1], dZe[l - 1])
                d = dZe[l - 1][:, :-1]
            ops.append((np.matmul, (d, Xs[a:b], dWb[0])))  # rows: a contiguous operand
            out.append(ops + self._step(MA[j], EA[j]))
        return out

    def _step(self, MA: np.ndarray, EA: np.ndarray) -> list[tuple]:
        """The unified update (module docstring) with the rate folded into the
        denominator, ``W -= u / ((m / A) sqrt(w) + E / A)``; ``MA`` and ``EA``
        are ``(K, 1)`` columns."""
        u, w, uw, gg, tmp, theta = self.u, self.w, self.uw, self.gg, self.tmp, self.theta
        return [
            (np.multiply, (uw, self.b12, uw)),  # u = b1 u + g, w = b2 w + g^2
            (np.multiply, (self.grad, self.grad, self.g2)),
            (np.add, (uw, gg, uw)),
            (np.sqrt, (w, tmp)),
            (np.multiply, (tmp, MA, tmp)),
            (np.add, (tmp, EA, tmp)),
            (np.divide, (u, tmp, tmp)),
            (np.subtract, (theta, tmp, theta)),
        ]

    def forward(self, XaT: np.ndarray, z_out: np.ndarray) -> None:
        """All members' output logits on the samples ``XaT = [X | 1]^T``
        (shared, ``(n_0 + 1, n)``) into ``z_out`` (``(K, n_out, n)``)."""
        Ze, A1, _, _, _ = self.workspace(XaT.shape[1])
        inp = XaT
        for l in range(len(self.Wb) - 1):
            np.matmul(self.Wb[l], inp, out=Ze[l][:, :-1])  # (K, n_l, n)
            self.act.forward(Ze[l], A1[l])
            inp = A1[l]
        np.matmul(self.Wb[-1], inp, out=z_out)

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
    """Per-member optimizer coefficients (module docstring)."""

    def __init__(self, configs: Sequence[TrainConfig]) -> None:
        code = np.array([_OPT_CODE[c.optimizer] for c in configs])
        beta = np.array([c.beta for c in configs])
        eps = np.array([c.eps for c in configs])
        is_adam, is_rms, is_momentum = code == 3, code == 2, code == 1
        self.b1 = np.where(is_momentum, beta, np.where(is_adam, [c.beta1 for c in configs], 0.0))
        self.b2 = np.where(is_rms, beta, np.where(is_adam, [c.beta2 for c in configs], 0.0))
        # the step's m / A and E / A are P / lr and Q / lr; Adam's change with
        # every update (its bias corrections), the others' are constants:
        # gd P = 0, Q = 1; momentum P = 0, Q = 1 / (1 - beta); rmsprop
        # P = c, Q = eps (A = lr / c, E = eps / c, c = sqrt(1 - beta))
        self.P = np.where(is_rms, np.sqrt(1 - np.where(is_rms, beta, 0.0)), 0.0)
        self.Q = np.where(is_momentum, 1 / (1 - np.where(is_momentum, beta, 0.0)), 1.0)
        self.Q = np.where(is_rms, eps, self.Q)
        self.adam = np.flatnonzero(is_adam)
        self.eps = eps

    def take(self, rows: np.ndarray) -> _Coefficients:
        new = object.__new__(_Coefficients)
        for k in ("b1", "b2", "P", "Q", "eps"):
            setattr(new, k, getattr(self, k)[rows])
        new.adam = np.flatnonzero(np.isin(rows, self.adam))  # positions in the new rows
        return new

    def epoch(
        self, lr: np.ndarray, t0: int, frozen: np.ndarray, MA: np.ndarray, EA: np.ndarray
    ) -> None:
        """Fill the step columns of updates ``t0 + 1 .. t0 + n`` at rates
        ``lr``, ``MA[j] = m / A`` and ``EA[j] = E / A`` (``(n, K, 1)``, see
        the module docstring); a stopped member's are 0 and infinity, so that
        its step is zero: it no longer changes.

        Adam: ``1 / A = (1 - b1^t) c_t / (lr (1 - b1))`` with
        ``c_t = sqrt((1 - b2) / (1 - b2^t))``, ``E = eps / c_t``.
        """
        n = MA.shape[0]
        MA[..., 0] = self.P / lr
        EA[..., 0] = self.Q / lr
        a = self.adam
        if a.size:
            t = np.arange(t0 + 1, t0 + n + 1)[:, None]  # (n, 1): the updates' numbers
            b1, b2 = self.b1[a], self.b2[a]
            c_t = np.sqrt((1 - b2) / (1 - b2**t))  # (n, members with Adam)
            x = (1 - b1**t) / (lr[a] * (1 - b1))
            MA[:, a, 0] = x * c_t
            EA[:, a, 0] = x * self.eps[a]
        if frozen.any():
            MA[:, frozen] = 0.0
            EA[:, frozen] = np.inf


def train_population(
    model: ModelConfig,
    data: Dataset,
    configs: Sequence[TrainConfig],
    shuffle_seed: int,
    callback: PopulationCallback | None = None,
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
    coef = _Coefficients(configs)
    stack = _Stack(sizes, probe.activation, head, dtype, theta0, coef.b1, coef.b2)
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
    scales = [head.grad_scale(b - a, sizes[-1]) for a, b in bounds]
    col_scale = np.repeat(np.asarray(scales, dtype), [b - a for a, b in bounds])  # (m,)
    E = first.epochs
    H = np.full((len(HISTORY_COLUMNS), E, K), np.nan)  # column, epoch, member
    ran = np.zeros(K, dtype=int)
    status = ["completed"] * K
    reason = [""] * K
    final = [
        dict.fromkeys(("train_loss", "train_metric", "val_loss", "val_metric"), np.nan)
        for _ in range(K)
    ]
    nets: list[Network | None] = [None] * K
    seconds = np.zeros(K)
    # this epoch's shuffled samples, as columns and as rows, and targets
    XsT, Xs, YsT, YsT_scaled = (
        np.empty_like(XT),
        np.empty_like(X),
        np.empty_like(YT),
        np.empty_like(YT),
    )
    plans = None  # stack.plans(...): the calls of each update
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

    # each member's time: its share of each epoch it trains in (the updates,
    # the epoch's losses and metrics, the callback and stopping), as the
    # single-trial loop counts its own
    t_mark = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        z0 = stack.logits(XT[:, :4096], rows)
        limit = np.array(
            [
                c.divergence_factor * max(head.loss(z0[i], Y[:4096]), 1e-3)
                for i, c in enumerate(configs)
            ]
        )
        for epoch in range(E):
            lr = lrs[ids, epoch]  # (rows,)
            perm = rng.permutation(m)
            np.take(XT, perm, axis=1, out=XsT)
            np.take(X, perm, axis=0, out=Xs)
            np.take(YT, perm, axis=1, out=YsT)
            np.multiply(YsT, col_scale, out=YsT_scaled)
            if plans is None:  # at the start, and after a compaction
                ZsT = np.empty((stack.K, sizes[-1], m), dtype)  # each epoch's logits
                KsT = np.empty_like(ZsT) if head.keeps else None  # and what the head keeps
                MA = np.empty((len(bounds), stack.K, 1), dtype)  # each update's step columns
                EA = np.empty_like(MA)
                plans = stack.plans(XsT, Xs, ZsT, KsT, YsT_scaled, bounds, scales, MA, EA)
            coef.epoch(lr, t, frozen, MA, EA)
            for plan in plans:
                for f, args in plan:
                    f(*args)
                t += 1
                if t % FLUSH_EVERY == 0:
                    stack.flush()
            Zs, Ys = ZsT.transpose(0, 2, 1), YsT.T  # (K, m, n_out), (m, n_out)
            act = np.flatnonzero(~frozen)
            sel = act if len(act) < stack.K else slice(None)  # a view while none has stopped
            k_act = ids[act]
            if KsT is None:
                tl = head.losses(Zs[sel], Ys)
            else:
                tl = head.losses_kept(KsT.transpose(0, 2, 1)[sel], Zs[sel], Ys)
            tm = head.metric_from(head.scores(Zs[sel], Ys), tl, m, y_var)
            finite = np.isfinite(tl) & np.isfinite(stack.theta[sel].sum(axis=1))
            vl = np.full(len(act), np.nan)
            vm = np.full(len(act), np.nan)
            if has_val:
                zv = stack.logits(XvT, rows)[sel]
                vl = np.where(finite, head.losses(zv, Yv), np.nan)
                vm = np.where(
                    finite, head.metric_from(head.scores(zv, Yv), vl, Xv.shape[0], yv_var), np.nan
                )
            now = time.perf_counter()
            seconds[k_act] += (now - t_mark) / len(act)
            t_mark = now
            for c, v in enumerate((epoch, lr[act], tl, tm, vl, vm, t, seconds[k_act])):
                H[c, epoch, k_act] = v
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
                live = np.flatnonzero(~diverged)
                answers = callback(epoch, k_act[live], H[:, epoch, k_act[live]].T) or ()
                for i, answer in zip(live, answers, strict=False):
                    if answer:
                        k = k_act[i]
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
                plans = None
                frozen = np.zeros(len(keep), dtype=bool)
        rest = np.flatnonzero(~frozen)
        for row in rest:
            finish(row)
        if len(rest):
            seconds[ids[rest]] += (time.perf_counter() - t_mark) / len(rest)

    results = []
    for k in range(K):
        h = H[:, : ran[k], k]
        history = {
            c: h[i].astype(np.int64) if c in ("epoch", "updates") else h[i].copy()
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
