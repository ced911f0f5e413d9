"""The training loop: shuffle, batches, forward, backward, update, record, stop.

One seed drives a run: ``SeedSequence(seed)`` spawns one stream for the
initial weights and one for the epoch shuffles, so the same seed gives
bit-identical results. ``random_mode="legacy"`` instead reproduces the seed's
course exactly: weights from ``np.random.seed(3)`` layer by layer, and before
epoch ``e`` (from 0) ``np.random.seed(10 + e + 1)`` then
``np.random.permutation(m)``.

Mini-batches follow the seed's ``random_mini_batches``: reshuffle every
epoch, cut contiguous batches, keep the smaller last batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .data import Dataset, batch_sizes
from .network import Network, augment, check_dtype
from .optimizers import OPTIMIZERS, check_beta, check_eps, make_optimizer
from .schedules import Schedule

HISTORY_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_metric",
    "val_loss",
    "val_metric",
    "updates",
    "seconds",
)
RANDOM_MODES = ("default", "legacy")
#: Above this size, training gathers each batch from X instead of shuffling X.
GATHER_PER_BATCH_BYTES = 8 << 20

#: A per-epoch callback: ``callback(epoch, record)``; a truthy return stops
#: training (a string return is kept as the reason). It is not called after
#: the last epoch: a run that trained every epoch has completed.
Callback = Callable[[int, dict], object]


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape; input and output sizes come from the data.

    Parameters
    ----------
    hidden : sequence of int
        Hidden layer sizes, e.g. ``(5, 2)`` for the seed's ``[2, 5, 2, 1]``.
    activation, head, init, dtype
        See :class:`~optsweep.engine.network.Network`.
    """

    hidden: Sequence[int] = (5, 2)
    activation: str = "relu"
    head: str = "sigmoid"
    init: str = "he"
    dtype: str = "float64"

    def sizes(self, data: Dataset) -> list[int]:
        """``[n_features, *hidden, n_outputs]`` for ``data``."""
        if self.head == "sigmoid":
            n_out = 1
        elif self.head == "softmax":
            n_out = max(data.n_classes, 2)
        else:
            y = data.y_train
            n_out = 1 if y.ndim == 1 else y.shape[1]
        return [data.n_features, *self.hidden, n_out]


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer and its coefficients, rate, batches, epochs.

    ``beta`` is the momentum coefficient (``momentum``) or the squared-gradient
    decay (``rmsprop``); ``beta1``/``beta2`` are Adam's. Defaults are the
    seed's (``lr=0.0007``, batch 64, ``beta=0.9``, ``beta1=0.9``,
    ``beta2=0.999``, ``eps=1e-8``).

    ``seed`` drives the initial weights and, unless ``shuffle_seed`` is
    given, the epoch shuffles; a shared ``shuffle_seed`` gives several runs
    the same batches (common random numbers, as in a population).

    A run has diverged when an epoch's training loss is not finite, or is
    above ``divergence_factor`` times the initial network's loss (a ReLU
    network hit by a huge rate can die with a finite loss of 1e299); use
    ``float("inf")`` to stop only on non-finite values.
    """

    optimizer: str = "adam"
    lr: float = 0.0007
    batch_size: int = 64
    epochs: int = 100
    schedule: Schedule = field(default_factory=Schedule)
    beta: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0
    random_mode: str = "default"
    divergence_factor: float = 1e4
    shuffle_seed: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})"
            )
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0 (got {self.lr!r})")
        for name in ("batch_size", "epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1 (got {v!r})")
        for name in ("beta", "beta1", "beta2"):
            check_beta(name, getattr(self, name))
        check_eps(self.eps)
        if not self.divergence_factor > 1:
            raise ValueError(f"divergence_factor must be > 1 (got {self.divergence_factor!r})")
        if self.random_mode not in RANDOM_MODES:
            raise ValueError(
                f"random_mode must be one of {', '.join(RANDOM_MODES)} (got {self.random_mode!r})"
            )
        if not isinstance(self.schedule, Schedule):
            raise ValueError(
                "schedule must be a Schedule, e.g. Schedule('inverse_time', decay_rate=0.01) "
                f"(got {self.schedule!r})"
            )


@dataclass
class TrainResult:
    """What a run returns.

    Attributes
    ----------
    status : str
        ``completed``, ``diverged`` (a non-finite loss or parameter) or
        ``stopped`` (the callback asked).
    reason : str
        Human-readable, e.g. ``"diverged at epoch 3: training loss is nan"``.
    history : dict of str to ndarray
        One entry per epoch run, columns :data:`HISTORY_COLUMNS`.
    final : dict of str to float
        ``train_loss``, ``train_metric``, ``val_loss``, ``val_metric`` from a
        full pass over each part after training (NaN where absent or diverged).
    network : Network
        The trained network.
    """

    status: str
    reason: str
    history: dict[str, np.ndarray]
    final: dict[str, float]
    network: Network
    seconds: float
    updates: int

    @property
    def epochs_run(self) -> int:
        return int(self.history["epoch"].size)

    def __repr__(self) -> str:
        """One line, not the history's arrays: what a notebook shows for ``fit(...)``."""
        final = ", ".join(f"{k}={v:.4g}" for k, v in self.final.items() if not np.isnan(v))
        return (
            f"<TrainResult {self.status}"
            + (f" ({self.reason})" if self.reason else "")
            + f": {self.epochs_run} epoch{'s' if self.epochs_run != 1 else ''}, "
            + f"{self.updates} update{'s' if self.updates != 1 else ''}, {self.seconds:.3g} s"
            + (f"; {final}" if final else "")
            + f"; {self.network!r}; .history, .final, .network>"
        )

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the initial weights and the shuffles."""
    init_ss, shuffle_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_ss), np.random.default_rng(shuffle_ss)


def build_network(model: ModelConfig, data: Dataset, config: TrainConfig) -> Network:
    """The network of ``model`` for ``data``, initialised from ``config``'s seed."""
    if config.random_mode == "legacy":
        rng: np.random.Generator | np.random.RandomState = np.random.RandomState(3)
    else:
        rng = seed_streams(config.seed)[0]
    return Network(
        model.sizes(data), model.activation, model.head, model.init, model.dtype, rng=rng
    )


def fit(
    model: ModelConfig,
    data: Dataset,
    config: TrainConfig,
    callback: Callback | None = None,
) -> TrainResult:
    """Build a network from ``config.seed`` and train it; see :func:`train`."""
    return train(build_network(model, data, config), data, config, callback)


def _shuffler(config: TrainConfig, m: int) -> Callable[[int], np.ndarray]:
    if config.random_mode == "legacy":
        # the seed: seed = 10; each epoch: seed += 1; np.random.seed(seed); permutation(m).
        # One RandomState reseeded (building one per epoch costs ~20x more).
        rs = np.random.RandomState(0)

        def legacy(epoch: int) -> np.ndarray:
            rs.seed(10 + epoch + 1)
            return rs.permutation(m)

        return legacy
    seed = config.seed if config.shuffle_seed is None else config.shuffle_seed
    rng = seed_streams(seed)[1]
    return lambda epoch: rng.permutation(m)


def _record(row: np.ndarray) -> dict:
    rec = {c: float(v) for c, v in zip(HISTORY_COLUMNS, row)}
    rec["epoch"], rec["updates"] = int(rec["epoch"]), int(rec["updates"])
    return rec


def train(
    net: Network,
    data: Dataset,
    config: TrainConfig,
    callback: Callback | None = None,
) -> TrainResult:
    """Train ``net`` on ``data`` with mini-batch gradient descent.

    Each epoch: learning rate from the schedule, reshuffle, then for each
    contiguous batch forward, loss, backward and one optimizer step. The
    epoch's training loss and metric are batch-size weighted means of the
    batches' values (as seen before each update, like the seed's cost);
    validation loss and metric come from a full pass after the epoch.

    Training stops cleanly, with ``status="diverged"``, at the first epoch
    whose loss or parameters are not finite, or whose loss exceeds
    ``config.divergence_factor`` times the initial loss; nothing is raised.
    """
    dtype = check_dtype(net.dtype)
    head = net.head
    if data.n_features != net.sizes[0]:
        raise ValueError(f"network has {net.sizes[0]} inputs but X has {data.n_features} features")
    X = augment(data.X_train, dtype)  # [X | 1], see network.py
    Y = head.encode(data.y_train, net.sizes[-1], dtype)
    has_val = data.X_val is not None and len(data.X_val) > 0
    if has_val:
        Xv = augment(data.X_val, dtype)
        Yv = head.encode(data.y_val, net.sizes[-1], dtype)
    m = X.shape[0]
    y_var = float(Y.var(axis=0).mean()) if head.task == "regression" else 1.0
    yv_var = float(Yv.var(axis=0).mean()) if has_val and head.task == "regression" else 1.0

    opt = make_optimizer(
        config.optimizer, beta=config.beta, beta1=config.beta1, beta2=config.beta2, eps=config.eps
    )
    shuffle = _shuffler(config, m)
    bounds, start = [], 0
    for b in batch_sizes(m, config.batch_size):
        bounds.append((start, start + b))
        start += b
    # Small data: shuffle the whole epoch at once (two calls an epoch). Large
    # data: gather each batch into a buffer that stays in cache, rather than
    # writing a shuffled copy of X every epoch. The batches are the same.
    per_batch = X.nbytes > GATHER_PER_BATCH_BYTES
    Xs = np.empty((min(config.batch_size, m), X.shape[1]) if per_batch else X.shape, X.dtype)
    Ys = np.empty_like(Y)  # this epoch's shuffled targets
    Zs = np.empty_like(Ys)  # this epoch's output logits, batch by batch
    lrs = config.schedule(config.lr, np.arange(config.epochs))
    H = np.full((config.epochs, len(HISTORY_COLUMNS)), np.nan)  # one row per epoch
    status, reason, ran = "completed", "", 0
    gradient, step, theta, grad = net.gradient, opt.step, net.theta, net.grad
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        # the initial loss, on at most 4096 rows: a scale, not a statistic
        loss_limit = config.divergence_factor * max(net.evaluate(X[:4096], Y[:4096])[0], 1e-3)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for epoch in range(config.epochs):
            lr = float(lrs[epoch])
            perm = shuffle(epoch)
            np.take(Y, perm, axis=0, out=Ys)
            if per_batch:
                for a, b in bounds:
                    xb = np.take(X, perm[a:b], axis=0, out=Xs[: b - a])
                    gradient(xb, Ys[a:b], Zs[a:b])
                    step(theta, grad, lr)
            else:
                np.take(X, perm, axis=0, out=Xs)
                for a, b in bounds:
                    gradient(Xs[a:b], Ys[a:b], Zs[a:b])
                    step(theta, grad, lr)
            # each batch's logits were kept before its update, so this is the
            # batch-size weighted mean of the batches' losses (the seed's cost)
            train_loss = head.loss(Zs, Ys)
            score_sum = head.score(Zs, Ys)
            # a non-finite parameter makes the sum non-finite (one call, not two)
            finite = math.isfinite(train_loss) and math.isfinite(net.theta.sum())
            diverged = not finite or train_loss > loss_limit
            vl = vm = np.nan
            if has_val and finite:
                vl, vs = net.evaluate(Xv, Yv)
                vm = head.metric_from(vs, vl, Xv.shape[0], yv_var)
            tm = head.metric_from(score_sum, train_loss, m, y_var)
            H[epoch] = (epoch, lr, train_loss, tm, vl, vm, opt.t, time.perf_counter() - t0)
            ran = epoch + 1
            if diverged:
                status = "diverged"
                if not math.isfinite(train_loss):
                    why = f"training loss is {train_loss}"
                elif not finite:
                    why = "parameters are not finite"
                else:
                    why = f"training loss {train_loss:.3g} is above the limit {loss_limit:.3g}"
                reason = f"diverged at epoch {epoch}: {why}"
                break
            if callback is not None and epoch < config.epochs - 1:  # the last epoch completes
                answer = callback(epoch, _record(H[epoch]))
                if answer:
                    status = "stopped"
                    reason = answer if isinstance(answer, str) else f"stopped at epoch {epoch}"
                    break

        final = dict.fromkeys(("train_loss", "train_metric", "val_loss", "val_metric"), np.nan)
        if status != "diverged":
            tl, ts = net.evaluate(X, Y)
            final["train_loss"], final["train_metric"] = tl, head.metric_from(ts, tl, m, y_var)
            if has_val:
                vl, vs = net.evaluate(Xv, Yv)
                final["val_loss"] = vl
                final["val_metric"] = head.metric_from(vs, vl, Xv.shape[0], yv_var)

    seconds = time.perf_counter() - t0
    history = {
        c: H[:ran, i].astype(np.int64) if c in ("epoch", "updates") else H[:ran, i].copy()
        for i, c in enumerate(HISTORY_COLUMNS)
    }
    return TrainResult(status, reason, history, final, net, seconds, opt.t)
