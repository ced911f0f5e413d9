"""The objective: one trial's hyperparameters in, one engine run out.

Everything here is top-level and picklable, so joblib's worker processes can
run it. A trial never raises: divergence, bad values and exceptions become a
``fail`` outcome with the reason, and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing
import os
import signal
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import DataSection, SweepConfig
from .engine import (
    Dataset,
    ModelConfig,
    Schedule,
    TrainConfig,
    encode_labels,
    fit,
    load_data,
    prepare,
)
from .engine.layers import HEADS
from .engine.population import train_population
from .engine.train import HISTORY_COLUMNS, TrainResult
from .errors import ConfigError

log = logging.getLogger(__name__)

#: ``reporter(epoch, value) -> bool``: report a per-epoch value, True to prune.
Reporter = Callable[[int, float], bool]
#: ``reporter(epoch, members, values) -> [bool, ...] or None``: report the
#: per-epoch values of a population's members (indexes into its tasks); True
#: to prune that member; None when nothing was reported this epoch.
PopulationReporter = Callable[[int, np.ndarray, np.ndarray], list[bool] | None]


def trial_seed(study_seed: int, number: int) -> int:
    """The training seed of trial ``number``: from ``SeedSequence([study_seed, number])``,
    so it depends on nothing else (not on n_jobs or on which worker ran it)."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0])


def load_dataset(data: DataSection, head: str = "auto", legacy: bool = False) -> Dataset:
    """The sweep's data: loaded, split with ``data.seed``, standardised on the
    training part. The same for every trial of a study.

    Integer labels other than ``0..k-1`` (``-1``/``1``, ``1``/``2``) are
    encoded as classes, unless ``head`` is ``linear``: a regression, whose
    whole-number targets are real numbers.
    """
    kwargs = dict(data.args)
    X, y, features, classes = load_data(
        data.source,
        seed=data.seed,
        label=data.label,
        legacy=data.legacy or legacy,
        return_names=True,
        columns=data.features,
        **kwargs,
    )
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        if head == "linear":  # a regression: whole-number targets are real numbers
            y, classes = y.astype(np.float64), []
        elif not classes and y.ndim == 1:
            values = np.unique(y)
            if not np.array_equal(values, np.arange(values.size)):
                y, classes = encode_labels(y)
    return prepare(
        X,
        y,
        val_fraction=data.val_fraction,
        seed=data.seed,
        standardize=data.standardize,
        name=os.path.basename(data.source),
        features=features,
        classes=classes,
    )


def resolve_head(head: str, data: Dataset) -> str:
    """``auto``: sigmoid for two classes, softmax for more, linear for real targets."""
    if head != "auto":
        return head
    if data.n_classes == 0:
        return "linear"
    return "sigmoid" if data.n_classes <= 2 else "softmax"


def model_config(sweep: SweepConfig, data: Dataset) -> ModelConfig:
    m = sweep.model
    return ModelConfig(
        hidden=m.hidden,
        activation=m.activation,
        head=resolve_head(m.head, data),
        init=m.init,
        dtype=sweep.train.dtype,
    )


def data_digest(data: Dataset) -> str:
    """A digest of the arrays a study trains and validates on (with their
    dtypes and shapes): the same digest, the same data, whatever path led to
    them."""
    digest = hashlib.blake2b(digest_size=16)
    for a in (data.X_train, data.y_train, data.X_val, data.y_val):
        if a is not None:
            digest.update(f"{a.dtype}{a.shape}".encode())
            digest.update(np.ascontiguousarray(a))
    return digest.hexdigest()


def check_model(sweep: SweepConfig, data: Dataset) -> None:
    """The sweep's network against its data, once before any trial: an output
    head that does not fit the labels (the sigmoid on three classes, the
    softmax on real-valued targets) would fail every trial alike, and labels
    of one class leave nothing to learn. Whole-number labels stored as
    floats, which make a regression, get a warning, and so do more than
    twenty whole-number classes, which may be quantities meant for one, and
    batch sizes larger than the training set (each is the full batch)."""
    model = model_config(sweep, data)
    y = data.y_train
    if sweep.model.head == "auto" and model.head == "linear" and y.ndim == 1:
        raw = y if data.target_scaler is None else data.target_scaler.inverse(y)
        values = np.unique(np.round(raw, 9))  # as stored, before the standardisation
        if len(values) <= 10 and np.array_equal(values, np.round(values)):
            log.warning(
                "%s: data: the labels are the whole numbers %s stored as floats, so this is a "
                "regression (a linear head); for a classifier store them as integers or set "
                "model.head",
                sweep.path,
                ", ".join(f"{v:g}" for v in values),
            )
    numbered = all(isinstance(c, (int, np.integer)) for c in data.classes)  # not names
    if sweep.model.head == "auto" and model.head == "softmax" and numbered and data.n_classes > 20:
        codes = data.classes or range(data.n_classes)
        log.warning(
            "%s: data: the labels are %d whole numbers (%s to %s), so this is a classifier of "
            '%d classes; if they are quantities (an age, a count), set model.head = "linear" '
            "for a regression",
            sweep.path,
            data.n_classes,
            min(codes),
            max(codes),
            data.n_classes,
        )
    if model.head != "linear" and y.ndim == 1 and len(np.unique(y)) < 2:
        only = data.classes[0] if data.classes else y[0]
        d = sweep.data
        got = (
            f"data.label {d.label!r}" if d.label else f"data.source {os.path.basename(d.source)!r}"
        )
        raise ConfigError(
            f"{sweep.path}: data: the training labels are one class only ({only}): there is "
            f"nothing to tell apart (got {got})"
        )
    head, n_out = HEADS[model.head], model.sizes(data)[-1]
    try:
        head.check_outputs(n_out)
        for y in (data.y_train, data.y_val):
            if y is not None and len(y):
                head.encode(y, n_out, np.dtype(model.dtype))
    except ValueError as e:
        raise ConfigError(
            f"{sweep.path}: model.head does not fit the data ({e}) (got {sweep.model.head!r})"
        ) from None
    from .space import batch_sizes_above  # Optuna: not in a worker's imports

    n_train = len(data.y_train)
    if above := batch_sizes_above(sweep.search["batch_size"], n_train):
        log.warning(
            "%s: search.batch_size %s %s larger than the %d training samples: each trains "
            "on the full batch, and the tables say %d",
            sweep.path,
            ", ".join(map(str, above)),
            "is" if len(above) == 1 else "are",
            n_train,
            n_train,
        )


def order_seed(study_seed: int) -> int:
    """The seed of the batch order shared by every trial of a study (common
    random numbers: trials differ in hyperparameters and initial weights, not
    in the luck of their batches; vectorized and per-trial runs agree)."""
    return int(np.random.SeedSequence([study_seed, 0xDA7A]).generate_state(1)[0])


def train_config(
    hp: dict[str, Any], sweep: SweepConfig, seed: int, shuffle_seed: int | None = None
) -> TrainConfig:
    """The engine's configuration for hyperparameters ``hp`` (see :mod:`.space`)."""
    opt = hp["optimizer"]
    beta = hp["momentum_beta"] if opt == "momentum" else hp["rmsprop_beta"]
    schedule = Schedule(
        hp["schedule"],
        decay_rate=hp["decay_rate"] if hp["decay_rate"] is not None else 0.0,
        interval=hp["interval"] or 1,
        k=hp["k"] if hp["k"] is not None else 1.0,
    )
    return TrainConfig(
        optimizer=opt,
        lr=hp["lr"],
        batch_size=int(hp["batch_size"]),
        epochs=sweep.train.epochs,
        schedule=schedule,
        beta=beta if beta is not None else 0.9,
        beta1=hp["beta1"] if hp["beta1"] is not None else 0.9,
        beta2=hp["beta2"] if hp["beta2"] is not None else 0.999,
        eps=hp["eps"] if hp["eps"] is not None else 1e-8,
        seed=seed,
        shuffle_seed=shuffle_seed,
        random_mode=sweep.train.random_mode,
        divergence_factor=sweep.train.divergence_factor,
    )


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial."""

    number: int
    trial_id: int
    seed: int
    hparams: dict[str, Any]
    shuffle_seed: int | None = None
    #: the run that asked it: a process keeps its connection to the study for
    #: one run only (a later run may find a new storage under the same name)
    run: str = ""


@dataclass
class TrialOutcome:
    """A finished trial, as the worker returns it to the main process.

    ``status`` is ``complete``, ``pruned`` or ``fail``; ``values`` holds one
    number per study metric (None unless complete).
    """

    number: int
    status: str
    reason: str = ""
    values: tuple[float, ...] | None = None
    history: dict[str, np.ndarray] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    updates: int = 0
    weights: dict[str, np.ndarray] | None = None
    host: str = ""


def _metric_values(sweep: SweepConfig, final: dict, seconds: float) -> tuple[float, ...]:
    out = []
    for m in sweep.study.metrics:
        out.append(seconds if m == "train_seconds" else float(final[m]))
    return tuple(out)


def _outcome(task: TrialTask, result: TrainResult, sweep: SweepConfig) -> TrialOutcome:
    """A finished engine run as a trial outcome (pruned, failed, or complete
    with the study's values and the weights)."""
    out = TrialOutcome(
        number=task.number,
        status="complete",
        history={k: np.asarray(v, dtype=np.float64) for k, v in result.history.items()},
        final=result.final,
        seconds=result.seconds,
        updates=result.updates,
        host=socket.gethostname(),
    )
    if result.status == "diverged":
        out.status, out.reason = "fail", result.reason
    elif result.status == "stopped":
        out.status, out.reason = "pruned", result.reason
    else:
        values = _metric_values(sweep, result.final, result.seconds)
        if not all(math.isfinite(v) for v in values):
            out.status, out.reason = "fail", f"objective is not finite: {values}"
        else:
            out.values = values
            out.weights = result.network.state_dict()
    return out


def _failed(task: TrialTask, e: Exception) -> TrialOutcome:
    log.debug("trial %d raised:\n%s", task.number, traceback.format_exc())
    return TrialOutcome(task.number, "fail", f"{type(e).__name__}: {e}", host=socket.gethostname())


def evaluate(
    task: TrialTask,
    data: Dataset,
    sweep: SweepConfig,
    reporter: Reporter | None = None,
) -> TrialOutcome:
    """Train one configuration; report the study's first metric every epoch.

    Never raises: an exception, a divergence or a non-finite objective gives
    ``status="fail"`` with the reason; a ``reporter`` that answers True
    gives ``status="pruned"``.
    """
    metric = sweep.study.metrics[0]
    callback = None
    if reporter is not None:

        def callback(epoch: int, record: dict) -> str | None:
            return f"pruned at epoch {epoch}" if reporter(epoch, record[metric]) else None

    try:
        cfg = train_config(task.hparams, sweep, task.seed, task.shuffle_seed)
        result = fit(model_config(sweep, data), data, cfg, callback)
    except Exception as e:  # a trial's failure is data, not the end of the sweep
        return _failed(task, e)
    return _outcome(task, result, sweep)


def evaluate_population(
    tasks: list[TrialTask],
    data: Dataset,
    sweep: SweepConfig,
    reporter: PopulationReporter | None = None,
) -> list[TrialOutcome]:
    """Train several trials of one batch size as one population
    (:func:`~optsweep.engine.population.train_population`); the outcomes are
    those :func:`evaluate` would give, member by member."""
    column = HISTORY_COLUMNS.index(sweep.study.metrics[0])
    callback = None
    if reporter is not None:

        def callback(epoch: int, members: np.ndarray, rows: np.ndarray) -> list | None:
            prune = reporter(epoch, members, rows[:, column])
            if prune is None:
                return None
            return [f"pruned at epoch {epoch}" if p else None for p in prune]

    try:
        configs = [train_config(t.hparams, sweep, t.seed, t.shuffle_seed) for t in tasks]
        shuffle = tasks[0].shuffle_seed if tasks[0].shuffle_seed is not None else tasks[0].seed
        results = train_population(model_config(sweep, data), data, configs, shuffle, callback)
    except Exception as e:  # the whole group fails, as each of its trials would
        return [_failed(t, e) for t in tasks]
    return [_outcome(t, r, sweep) for t, r in zip(tasks, results, strict=True)]


# --- the worker's job ---------------------------------------------------------------

_STUDIES: dict = {}


def _quiet_ctrl_c() -> None:
    """In a worker process, ignore Ctrl-C and SIGTERM: they reach the whole
    process group (SIGTERM from ``timeout``), and the main process handles
    them (marks the trials interrupted, stops the pool). Dask workers run
    tasks in threads, where signals cannot be set."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    if multiprocessing.parent_process() is not None and in_main_thread:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def ready() -> int:
    """A no-op job: unpickling it imports this module in a worker process
    (:func:`optsweep.runner.run_sweep` starts the pool with it while it sets up)."""
    return os.getpid()


def run_task(task: TrialTask, data: Dataset, sweep: SweepConfig, spec: str | None) -> TrialOutcome:
    """A worker's job: train one trial, reporting to the storage when pruning.

    Optuna is imported only when the trial reports for pruning, so that a
    worker process starts with NumPy alone.
    """
    _quiet_ctrl_c()
    reporter = None
    if spec is not None and sweep.study.pruner != "none":
        reporter = _pruning_reporter(task, sweep, spec)
    return evaluate(task, data, sweep, reporter)


def run_population(
    tasks: list[TrialTask], data: Dataset, sweep: SweepConfig, spec: str | None
) -> list[TrialOutcome]:
    """A worker's job for vectorized trials: one population, each member
    reporting to the storage (so pruning works member by member)."""
    _quiet_ctrl_c()
    reporter = None
    if spec is not None and sweep.study.pruner != "none":
        reporter = _population_reporter(tasks, sweep, spec)
    return evaluate_population(tasks, data, sweep, reporter)


def _worker_study(sweep: SweepConfig, spec: str, run: str):
    """The study of a run, loaded once per worker process and run."""
    import optuna

    from .samplers import make_pruner
    from .storage import open_storage

    key = (spec, sweep.name, run)
    study = _STUDIES.get(key)
    if study is None:
        _STUDIES.clear()  # an earlier run's: its storage may be gone or replaced
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = _STUDIES[key] = optuna.load_study(
            study_name=sweep.name,
            storage=open_storage(spec, sync_seconds=sweep.execution.sync_seconds),
            pruner=make_pruner(sweep),
        )
    return study


def _population_reporter(
    tasks: list[TrialTask], sweep: SweepConfig, spec: str
) -> PopulationReporter:
    """Each member reports to the pruner as its own trial would
    (:func:`_pruning_reporter`); an epoch's reports go to the storage as
    one write (:func:`~optsweep.storage.batched_writes`).

    The median and percentile pruners prune a trial when its best reported
    value is worse than a percentile of the completed trials' values at the
    same step (Optuna's documented rule), a threshold the same for every
    member at that epoch: the pruner is asked for the members from the worst
    best value up, until it keeps one, which keeps all better ones too. The
    others' pruners are asked member by member.
    """
    import optuna

    from .samplers import THRESHOLD_PRUNERS, may_prune
    from .storage import batched_writes

    study = _worker_study(sweep, spec, tasks[0].run)
    trials = [optuna.Trial(study, t.trial_id) for t in tasks]
    epochs = sweep.train.epochs
    threshold_rule = sweep.study.pruner in THRESHOLD_PRUNERS
    sign = 1.0 if sweep.study.directions[0] == "maximize" else -1.0
    best = np.full(len(tasks), -np.inf)  # each member's best value reported, times sign

    def reporter(epoch: int, members: np.ndarray, values: np.ndarray) -> list[bool] | None:
        if not sweep.study.report_epoch(epoch, epochs):
            return None
        reported = []  # positions in members
        with batched_writes(study._storage):
            for i, (k, value) in enumerate(zip(members.tolist(), values.tolist(), strict=True)):
                if math.isfinite(value):
                    trials[k].report(value, epoch)
                    best[k] = max(best[k], sign * value)
                    reported.append(i)
        prune = [False] * len(members)
        if not reported or not may_prune(study, sweep, epoch):
            return prune
        if threshold_rule:
            reported.sort(key=lambda i: best[members[i]])  # the worst first
        for i in reported:
            prune[i] = trials[members[i]].should_prune()
            if threshold_rule and not prune[i]:
                break  # kept: so are all better members
        return prune

    return reporter


def _pruning_reporter(task: TrialTask, sweep: SweepConfig, spec: str) -> Reporter:
    import optuna

    from .samplers import may_prune

    study = _worker_study(sweep, spec, task.run)
    trial = optuna.Trial(study, task.trial_id)

    epochs = sweep.train.epochs

    def reporter(epoch: int, value: float) -> bool:
        if not math.isfinite(value) or not sweep.study.report_epoch(epoch, epochs):
            return False
        trial.report(value, epoch)
        return may_prune(study, sweep, epoch, count=False) and trial.should_prune()

    return reporter
