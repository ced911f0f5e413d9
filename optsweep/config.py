"""Sweep files: TOML read with ``tomllib``, validated into frozen dataclasses.

Every rule failure raises :class:`~optsweep.errors.ConfigError` with one
message of one shape: ``FILE: KEY.PATH RULE (got VALUE)``. Unknown keys are
rejected. Nothing is written and nothing is trained while loading.

A sweep file has six sections::

    [study]      name, metric(s) and direction(s), sampler, pruner, budget, seed
    [data]       source (generator, data set or path) and its arguments, split
    [model]      hidden layer sizes, activation, head, init
    [train]      epochs, dtype, default schedule, random mode
    [search]     hyperparameters: a value (fixed), a list (choice) or a range
    [execution]  n_jobs, storage, table format, report

See ``sweeps/*.toml`` for commented examples.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .engine import GENERATORS, OPTIMIZERS, REAL_DATASETS, SCHEDULES
from .engine.layers import ACTIVATIONS, HEADS
from .engine.network import INITS
from .errors import ConfigError

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random", "grid", "qmc", "cmaes", "nsga2", "gp")
PRUNERS = ("none", "median", "percentile", "successive_halving", "hyperband")
#: Quantities a study can optimise; the per-epoch ones are reported for pruning.
METRICS = {
    "val_metric": "maximize",
    "val_loss": "minimize",
    "train_metric": "maximize",
    "train_loss": "minimize",
    "train_seconds": "minimize",
}
EPOCH_METRICS = ("val_metric", "val_loss", "train_metric", "train_loss")
FORMATS = ("auto", "parquet", "csv")
#: Trials asked at once for ``vectorize = "auto"``: with a sampler that learns
#: from finished trials (TPE, CMA-ES, GP, NSGA-II), a few rounds, so that it does; with
#: one that does not (random, grid, QMC), the whole budget at once, up to
#: this cap, in as few populations as possible (each costs its updates' fixed
#: NumPy calls, whatever its number of members). With a timeout, the runner
#: asks smaller rounds where its pace needs them (:meth:`.runner._Runner.round_size`).
AUTO_VECTORIZE = 64
AUTO_VECTORIZE_INDEPENDENT = 1024
INDEPENDENT_SAMPLERS = ("random", "grid", "qmc")


def auto_vectorize(sampler: str) -> int:
    """``vectorize = "auto"`` for ``sampler`` (see :data:`AUTO_VECTORIZE`)."""
    return AUTO_VECTORIZE_INDEPENDENT if sampler in INDEPENDENT_SAMPLERS else AUTO_VECTORIZE


#: a journal file's writes reach the disk within this many seconds (0: each write)
SYNC_SECONDS = 1.0
BACKENDS = ("loky", "dask")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: The keys of a sweep file's [study] and [execution] sections.
STUDY_KEYS = (
    "name",
    "metric",
    "direction",
    "sampler",
    "pruner",
    "n_trials",
    "timeout",
    "seed",
    "deterministic",
    "batch",
    "n_startup_trials",
    "warmup_epochs",
    "prune_every",
    "percentile",
)
EXECUTION_KEYS = (
    "n_jobs",
    "storage",
    "format",
    "backend",
    "scheduler",
    "report",
    "heartbeat",
    "grace_period",
    "vectorize",
    "memory_mb",
    "sync_seconds",
)

#: The hyperparameters a sweep can fix or search, and the optimizers that use each.
BETAS = {
    "momentum_beta": ("momentum",),
    "rmsprop_beta": ("rmsprop",),
    "beta1": ("adam",),
    "beta2": ("adam",),
}
#: The hyperparameters that only some optimizers or schedules use: the choice
#: each depends on, and the values of it that use it.
USED_BY: dict[str, tuple[str, tuple[str, ...]]] = {
    **{name: ("optimizer", users) for name, users in BETAS.items()},
    "eps": ("optimizer", ("rmsprop", "adam")),
    "decay_rate": ("schedule", ("inverse_time", "staircase", "exponential")),
    "interval": ("schedule", ("staircase",)),
    "k": ("schedule", ("inverse_sqrt",)),
}
HPARAMS = (
    "optimizer",
    "batch_size",
    "lr",
    "schedule",
    "decay_rate",
    "interval",
    "k",
    *BETAS,
    "eps",
)
#: The engine's defaults (the seed's values) for hyperparameters left out.
DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",
    "batch_size": 64,
    "lr": 0.0007,
    "schedule": "constant",
    "decay_rate": 0.0,
    "interval": 1,
    "k": 1.0,
    "momentum_beta": 0.9,
    "rmsprop_beta": 0.9,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
}


@dataclass(frozen=True)
class ParamSpec:
    """How one hyperparameter is chosen.

    kind
        ``fixed`` (``value``), ``choice`` (``choices``), ``float`` (``low``,
        ``high``, ``log``), ``pow2`` (batch sizes ``2**k`` from ``low`` to
        ``high``, plus the full batch when ``full``) or ``beta`` (``low``,
        ``high`` with ``1 - beta`` sampled on a log scale, or linearly when
        ``log`` is False).
    """

    name: str
    kind: str
    value: Any = None
    choices: tuple = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    full: bool = False

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    def values(self) -> tuple:
        """Every value a ``fixed`` or ``choice`` spec can take."""
        return (self.value,) if self.kind == "fixed" else self.choices

    def __str__(self) -> str:
        """In words: ``0.01``, ``gd, adam``, ``0.0001 to 0.3 (log)``, ``8 to
        256 (powers of two, and the full batch)``."""
        if self.kind == "choice":
            return ", ".join(map(_words, self.choices))
        if self.kind == "fixed":
            return _words(self.value)
        scale = {
            "float": " (log)" if self.log else "",
            "pow2": " (powers of two, and the full batch)" if self.full else " (powers of two)",
            "beta": "" if self.log else " (linear)",
        }[self.kind]
        return f"{_words(self.low)} to {_words(self.high)}{scale}"


def _words(v: Any) -> str:
    """A setting's value as a sweep file's reader would write it."""
    if isinstance(v, (tuple, list)):
        return f"[{', '.join(map(_words, v))}]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return "(not set)" if v is None else str(v)


@dataclass(frozen=True)
class StudySection:
    name: str
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    sampler: str = "tpe"
    pruner: str = "none"
    n_trials: int | None = None
    timeout: float | None = None
    seed: int = 0
    deterministic: bool = False
    batch: int = 4
    n_startup_trials: int = 10
    warmup_epochs: int = 5
    prune_every: int = 0

    def report_epoch(self, epoch: int, epochs: int) -> bool:
        """Whether epoch ``epoch`` (from 0) is reported to the pruner: every
        ``prune_every`` epochs (default: about 20 reports a trial), so that the
        storage gets a few writes a trial, not one an epoch."""
        every = self.prune_every or max(1, epochs // 20)
        return (epoch + 1) % every == 0

    percentile: float = 25.0


@dataclass(frozen=True)
class DataSection:
    source: str
    args: dict = field(default_factory=dict)
    label: str | None = None
    features: tuple[str, ...] | None = None  # a CSV's feature columns (default: all)
    val_fraction: float = 0.2
    standardize: bool = True
    seed: int = 0
    legacy: bool = False


@dataclass(frozen=True)
class ModelSection:
    hidden: tuple[int, ...] = (5, 2)
    activation: str = "relu"
    head: str = "auto"
    init: str = "he"


@dataclass(frozen=True)
class TrainSection:
    epochs: int = 100
    dtype: str = "float64"
    random_mode: str = "default"
    divergence_factor: float = 1e4


@dataclass(frozen=True)
class ExecutionSection:
    n_jobs: int = 1
    storage: str = ""
    format: str = "auto"
    backend: str = "loky"
    scheduler: str = ""
    report: bool = True
    heartbeat: int = 0
    grace_period: int = 0
    vectorize: int = 1
    memory_mb: float = 1024.0
    sync_seconds: float = SYNC_SECONDS


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep file."""

    path: Path
    study: StudySection
    data: DataSection
    model: ModelSection
    train: TrainSection
    search: dict[str, ParamSpec]
    execution: ExecutionSection

    @property
    def name(self) -> str:
        return self.study.name

    def settings(self) -> dict[str, str]:
        """The experiment as ``section.key`` to its value in words, defaults
        filled in (``data.noise``, ``train.dtype``, ``search.lr``): what a
        comparison of studies shows where they differ. The study's name and
        budget and the [execution] section (how trials run, not what they
        are) are left out."""
        out = {}
        for section in ("study", "data", "model", "train"):
            for key, value in vars(getattr(self, section)).items():
                if section == "study" and key in ("name", "n_trials", "timeout"):
                    continue
                if section == "data" and key == "args":  # the generator's own keys
                    out.update({f"data.{k}": _words(v) for k, v in value.items()})
                else:
                    out[f"{section}.{key}"] = _words(value)
        out.update({f"search.{k}": str(spec) for k, spec in self.search.items()})
        return out

    def with_overrides(self, **execution_or_study: Any) -> SweepConfig:
        """A copy with command-line overrides (``n_jobs``, ``n_trials``, ...) applied."""
        st = {k: v for k, v in execution_or_study.items() if hasattr(self.study, k)}
        ex = {k: v for k, v in execution_or_study.items() if hasattr(self.execution, k)}
        return replace(
            self, study=replace(self.study, **st), execution=replace(self.execution, **ex)
        )


# --- validation helpers -----------------------------------------------------------


class _Checker:
    """Builds messages of one shape: ``FILE: KEY RULE (got VALUE)``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, rule: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.path}: {key} {rule} (got {_show(value)})")

    def missing(self, key: str, rule: str) -> ConfigError:
        """A required key left out of the file."""
        return ConfigError(f"{self.path}: {key} {rule} (not set)")

    def table(self, raw: Any, key: str, allowed: tuple[str, ...]) -> dict:
        if not isinstance(raw, dict):
            raise self.fail(key, "must be a table", raw)
        for k in raw:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                hint = _did_you_mean(k, allowed)
                raise self.fail(where, f"is not a known key{hint} (known: {', '.join(allowed)})", k)
        return raw

    def int_(self, v: Any, key: str, lo: int | None = None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, "must be an integer", v)
        if lo is not None and v < lo:
            raise self.fail(key, f"must be >= {lo}", v)
        return v

    def num(self, v: Any, key: str) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.fail(key, "must be a finite number", v)
        return float(v)

    def bool_(self, v: Any, key: str) -> bool:
        if not isinstance(v, bool):
            raise self.fail(key, "must be true or false", v)
        return v

    def str_(self, v: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(v, str):
            raise self.fail(key, "must be a string", v)
        if choices is not None and v not in choices:
            rule = f"must be one of {', '.join(choices)}{_same_name(v, choices)}"
            raise self.fail(key, rule, v)
        return v


def _did_you_mean(key: str, keys: tuple[str, ...]) -> str:
    """``", did you mean X?"`` for a key that is a near miss of a known one
    (a typo: ``serach``, ``ntrials``), else ``""``."""
    close = difflib.get_close_matches(key.lower(), keys, n=1, cutoff=0.75)
    return f", did you mean {close[0]}?" if close else ""


def _same_name(value: str, choices: tuple[str, ...]) -> str:
    """``", did you mean X?"`` for a choice written in another case or with
    other separators (``Adam``, ``leaky-relu``, ``LeakyReLU``), else ``""``.
    Only those: a near miss of a choice's name is often another method of its
    own (``gelu``, ``adamw``), which a suggestion would pass off as a typo."""
    norm = lambda w: re.sub(r"[-_ ]", "", w.lower())  # noqa: E731
    same = [c for c in choices if norm(c) == norm(value)]
    return f", did you mean {same[0]}?" if same else ""


def _show(v: Any) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


# --- sections ------------------------------------------------------------------------


def load_sweep(
    path: str | Path, data_source: str | None = None, settings: dict[str, Any] | None = None
) -> SweepConfig:
    """Read and validate a sweep file; ``data_source`` replaces its
    ``data.source`` (a results directory's copy of a sweep file: a relative
    path in it meant the original's folder); ``settings`` replace keys of its
    [study] and [execution] sections (``{"n_trials": 20}``), validated as
    if the file held them.

    Raises
    ------
    ConfigError
        On any invalid key or value, with one line naming the file, the key
        path and the value.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such sweep file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    if data_source is not None and isinstance(raw.get("data"), dict):
        raw["data"]["source"] = data_source
    for key, value in (settings or {}).items():
        section = "study" if key in STUDY_KEYS else "execution" if key in EXECUTION_KEYS else None
        if section is None:
            keys = STUDY_KEYS + EXECUTION_KEYS
            hint = _did_you_mean(key, keys)
            raise ConfigError(
                f"{path}: {key} is not a [study] or [execution] key{hint} ({', '.join(keys)})"
            )
        if not isinstance(raw.setdefault(section, {}), dict):
            break  # parse_sweep says the section must be a table
        if type(value).__module__ == "numpy":  # n_trials=np.int64(50) from a notebook
            value = value.item()
        raw[section][key] = value
    return parse_sweep(raw, path)


def parse_sweep(raw: dict, path: Path) -> SweepConfig:
    """Validate an already-parsed sweep file (``path`` is used in messages)."""
    c = _Checker(path)
    c.table(raw, "", ("study", "data", "model", "train", "search", "execution"))
    if "data" not in raw:
        raise ConfigError(f"{path}: data is required (a [data] section with a source)")
    data = _data(c, raw["data"], path)
    model = _model(c, raw.get("model", {}))
    train, default_schedule = _train(c, raw.get("train", {}))
    search = _search(c, raw.get("search", {}), default_schedule)
    study = _study(c, raw.get("study", {}), path, data, search)
    execution = _execution(c, raw.get("execution", {}), study.sampler)
    sweep = SweepConfig(path, study, data, model, train, search, execution)
    check_vectorize(sweep, given=raw.get("execution", {}).get("vectorize"))
    if study.pruner != "none" and study.warmup_epochs >= train.epochs - 1:
        # a trial reports epochs 0 to epochs - 2 (the last one completes it)
        log.warning(
            "%s: study.warmup_epochs %d leaves no epoch to prune at (train.epochs is %d): "
            "the %s pruner stops no trial",
            path, study.warmup_epochs, train.epochs, study.pruner,
        )  # fmt: skip
    _warn_exponential_factors(sweep)
    return sweep


def _warn_exponential_factors(sweep: SweepConfig) -> None:
    """Warn where the exponential schedule's factor per epoch, ``decay_rate``
    (``lr0 * decay_rate ** epoch``, the course's 0.95), can be so small that
    the rate falls a thousandfold within the first tenth of the epochs: a
    range shared with the other schedules, whose decay rates are on another
    scale (``1 / (1 + decay_rate * epoch)``), runs most exponential trials at
    a rate near zero, and the schedule looks worse than it is."""
    d, epochs = sweep.search["decay_rate"], sweep.train.epochs
    if "exponential" not in sweep.search["schedule"].values():
        return
    bottom = d.low if d.kind == "float" else min(d.values())
    if bottom >= 1:
        return
    thousandth = math.ceil(math.log(1e-3) / math.log(bottom))  # epochs to 1/1000 of lr0
    if thousandth < epochs / 10:
        log.warning(
            "%s: search.decay_rate goes down to %g, which as the exponential schedule's "
            "factor per epoch leaves a thousandth of the learning rate after %d epoch(s) "
            "of %d: its factors want to be near 1 (the course's 0.95), on another scale "
            "than the other schedules' decay rates; search it with a range of its own, in "
            "a sweep of its own",
            sweep.path, bottom, thousandth, epochs,
        )  # fmt: skip


def study_setting_warnings(sweep: SweepConfig) -> list[str]:
    """What to say of the [study] settings, each as a sentence for a warning:
    those that nothing in this run uses, set away from their defaults (a
    slip most likely, as a search key no configuration uses), and a
    deterministic batch that bounds the vectorized populations. Checked once
    command-line overrides are applied (``--deterministic`` makes ``batch``
    count)."""
    st, ex = sweep.study, sweep.execution
    default = StudySection("", (), ())
    out = []
    if st.batch != default.batch and not st.deterministic:
        out.append(
            f"study.batch is {st.batch} but only deterministic mode asks trials in batches "
            "(study.deterministic is false); it is ignored"
        )
    elif st.deterministic and ex.vectorize > st.batch:
        # the batch is the study's (what is asked before anything is told),
        # the same whatever [execution] says: only warn
        out.append(
            f"study.deterministic asks study.batch = {st.batch} trials at a time, so a "
            f"population has at most {st.batch} members, not execution.vectorize's "
            f"{ex.vectorize}; study.batch = {ex.vectorize} trains larger ones (a study of its own)"
        )
    if st.pruner == "none":
        for key in ("warmup_epochs", "prune_every"):
            if getattr(st, key) != getattr(default, key):
                out.append(
                    f"study.{key} is {getattr(st, key)} but study.pruner is 'none'; it is ignored"
                )
    if st.percentile != default.percentile and st.pruner != "percentile":
        out.append(
            f"study.percentile is {st.percentile:g} but study.pruner is {st.pruner!r} (the "
            "percentile pruner's setting); it is ignored"
        )
    if st.n_startup_trials != default.n_startup_trials and st.sampler != "tpe":
        out.append(
            f"study.n_startup_trials is {st.n_startup_trials} but study.sampler is "
            f"{st.sampler!r} (TPE's setting); it is ignored"
        )
    return out


def check_vectorize(
    sweep: SweepConfig, key: str = "execution.vectorize", given: Any = None
) -> None:
    """Refuse a vectorized run that cannot give per-trial results: legacy
    runs are seeded one by one, and the members of a population share its
    time (so no trial's own time is measured). Checked when the file is read
    and again after command-line overrides (``--vectorize``). The message
    names ``key`` and the value as given (``given``, e.g. ``'auto'``; by
    default the resolved number)."""
    vec = sweep.execution.vectorize
    if vec == 1:
        return
    c = _Checker(sweep.path)
    shown = vec if given is None else given
    if sweep.train.random_mode == "legacy":
        raise c.fail(
            key, "needs train.random_mode 'default' (legacy runs are seeded one by one)", shown
        )
    if "train_seconds" in sweep.study.metrics:
        raise c.fail(
            key,
            "must be 1 when study.metric includes train_seconds (the members of a population "
            "share its time: no trial's own time is measured)",
            shown,
        )


def _study(c: _Checker, raw: Any, path: Path, data: DataSection, search: dict) -> StudySection:
    r = c.table(raw, "study", STUDY_KEYS)
    name = c.str_(r.get("name", path.stem), "study.name")
    if not _SAFE_NAME.match(name) or ".." in name:
        raise c.fail(
            "study.name",
            "must be a safe folder name (letters, digits, _ - .; no path separator or '..')",
            name,
        )
    default_metric = "val_metric" if data.val_fraction > 0 else "train_metric"
    metric = r.get("metric", default_metric)
    metrics = [metric] if isinstance(metric, str) else metric
    if not isinstance(metrics, list) or not metrics:
        raise c.fail("study.metric", "must be a metric name or a non-empty list of them", metric)
    for i, m in enumerate(metrics):
        key = "study.metric" if isinstance(metric, str) else f"study.metric[{i}]"
        c.str_(m, key, tuple(METRICS))
        if m.startswith("val_") and data.val_fraction == 0:
            raise c.fail(key, "needs a validation set (data.val_fraction > 0)", m)
    if len(set(metrics)) != len(metrics):
        raise c.fail("study.metric", "must not repeat a metric", metric)
    direction = r.get("direction", [METRICS[m] for m in metrics])
    directions = [direction] if isinstance(direction, str) else direction
    if not isinstance(directions, list) or len(directions) != len(metrics):
        raise c.fail(
            "study.direction", f"must give one direction per metric ({len(metrics)})", direction
        )
    for i, d in enumerate(directions):
        c.str_(
            d,
            "study.direction" if isinstance(direction, str) else f"study.direction[{i}]",
            ("maximize", "minimize"),
        )
    sampler = c.str_(r.get("sampler", "tpe"), "study.sampler", SAMPLERS)
    pruner = c.str_(r.get("pruner", "none"), "study.pruner", PRUNERS)
    if pruner != "none" and len(metrics) > 1:
        raise c.fail("study.pruner", "must be 'none' for a multi-objective study", pruner)
    if pruner != "none" and metrics[0] not in EPOCH_METRICS:
        raise c.fail("study.pruner", f"needs a per-epoch metric, not {metrics[0]}", pruner)
    if sampler == "grid":
        for p in search.values():
            if p.kind not in ("fixed", "choice") and can_apply(p.name, search):
                raise c.fail(
                    f"search.{p.name}",
                    "must be a value or a list for the grid sampler",
                    _spec_repr(p),
                )
    n_trials = r.get("n_trials")
    timeout = r.get("timeout")
    if n_trials is not None:
        c.int_(n_trials, "study.n_trials", 1)
    if timeout is not None:
        t = c.num(timeout, "study.timeout")
        if t <= 0:
            raise c.fail("study.timeout", "must be > 0 seconds", timeout)
        timeout = t
    if n_trials is None and timeout is None:
        raise ConfigError(f"{path}: study needs n_trials, timeout or both")
    return StudySection(
        name=name,
        metrics=tuple(metrics),
        directions=tuple(directions),
        sampler=sampler,
        pruner=pruner,
        n_trials=n_trials,
        timeout=timeout,
        seed=c.int_(r.get("seed", 0), "study.seed", 0),
        deterministic=c.bool_(r.get("deterministic", False), "study.deterministic"),
        batch=c.int_(r.get("batch", 4), "study.batch", 1),
        n_startup_trials=c.int_(r.get("n_startup_trials", 10), "study.n_startup_trials", 0),
        warmup_epochs=c.int_(r.get("warmup_epochs", 5), "study.warmup_epochs", 0),
        prune_every=c.int_(r.get("prune_every", 0), "study.prune_every", 0),
        percentile=_percentile(c, r.get("percentile", 25.0)),
    )


def _percentile(c: _Checker, v: Any) -> float:
    p = c.num(v, "study.percentile")
    if not 0 < p < 100:
        raise c.fail("study.percentile", "must be in (0, 100)", v)
    return p


def _data(c: _Checker, raw: Any, path: Path) -> DataSection:
    base = ("source", "label", "features", "val_fraction", "standardize", "seed", "legacy")
    if not isinstance(raw, dict):
        raise c.fail("data", "must be a table", raw)
    source = raw.get("source")
    if source is None:
        raise c.missing("data.source", "is required (a generator, a data set name or a path)")
    c.str_(source, "data.source")
    gen_args: dict[str, str] = {}  # the generator's arguments and their types
    if source in GENERATORS:
        sig = inspect.signature(GENERATORS[source])
        gen_args = {k: str(p.annotation) for k, p in sig.parameters.items() if k != "random_state"}
    if source not in GENERATORS and source not in REAL_DATASETS:
        p = Path(source)
        if p.suffix not in (".csv", ".npz"):
            raise c.fail(
                "data.source",
                f"must be a generator ({', '.join(GENERATORS)}), a data set "
                f"({', '.join(REAL_DATASETS)}) or a .csv/.npz path",
                source,
            )
        resolved = p if p.is_absolute() or p.exists() else path.parent / p
        if not resolved.exists():
            raise c.fail("data.source", "is not an existing file", source)
        source = str(resolved.resolve())  # absolute: meta.json and confirm find it from anywhere
    c.table(raw, "data", base + tuple(gen_args))
    if source not in GENERATORS and source not in REAL_DATASETS:
        if Path(source).suffix == ".csv" and "label" not in raw:
            raise c.missing("data.label", "is required for a CSV source (the label column)")
    label = raw.get("label")
    if label is not None:
        c.str_(label, "data.label")
    features = raw.get("features")
    if features is not None:
        if Path(source).suffix != ".csv":
            raise c.fail("data.features", "names the feature columns of a CSV source", features)
        if not isinstance(features, list) or not features:
            raise c.fail("data.features", "must be a list of column names", features)
        for k, name in enumerate(features):
            c.str_(name, f"data.features[{k}]")
        if len(set(features)) < len(features) or label in features:
            raise c.fail("data.features", "must name each column once, not the label", features)
        features = tuple(features)
    vf = c.num(raw.get("val_fraction", 0.2), "data.val_fraction")
    if not 0 <= vf < 1:
        raise c.fail("data.val_fraction", "must be in [0, 1)", raw.get("val_fraction"))
    args = {}
    for k, kind in gen_args.items():  # by type here; the generator checks the values
        if k in raw:
            check = c.bool_ if "bool" in kind else c.int_ if "int" in kind else c.num
            args[k] = check(raw[k], f"data.{k}")
    return DataSection(
        source=source,
        args=args,
        label=label,
        features=features,
        val_fraction=vf,
        standardize=c.bool_(raw.get("standardize", True), "data.standardize"),
        seed=c.int_(raw.get("seed", 0), "data.seed", 0),
        legacy=c.bool_(raw.get("legacy", False), "data.legacy"),
    )


def _model(c: _Checker, raw: Any) -> ModelSection:
    r = c.table(raw, "model", ("hidden", "activation", "head", "init"))
    hidden = r.get("hidden", [5, 2])
    if not isinstance(hidden, list):
        raise c.fail("model.hidden", "must be a list of layer sizes", hidden)
    for i, n in enumerate(hidden):
        c.int_(n, f"model.hidden[{i}]", 1)
    return ModelSection(
        hidden=tuple(hidden),
        activation=c.str_(r.get("activation", "relu"), "model.activation", tuple(ACTIVATIONS)),
        head=c.str_(r.get("head", "auto"), "model.head", ("auto", *HEADS)),
        init=c.str_(r.get("init", "he"), "model.init", INITS),
    )


def _train(c: _Checker, raw: Any) -> tuple[TrainSection, str | None]:
    r = c.table(raw, "train", ("epochs", "dtype", "schedule", "random_mode", "divergence_factor"))
    schedule = r.get("schedule")
    if schedule is not None:
        c.str_(schedule, "train.schedule", SCHEDULES)
    df = c.num(r.get("divergence_factor", 1e4), "train.divergence_factor")
    if df <= 1:
        raise c.fail("train.divergence_factor", "must be > 1", r.get("divergence_factor"))
    return (
        TrainSection(
            epochs=c.int_(r.get("epochs", 100), "train.epochs", 1),
            dtype=c.str_(r.get("dtype", "float64"), "train.dtype", ("float64", "float32")),
            random_mode=c.str_(
                r.get("random_mode", "default"), "train.random_mode", ("default", "legacy")
            ),
            divergence_factor=df,
        ),
        schedule,
    )


def _execution(c: _Checker, raw: Any, sampler: str) -> ExecutionSection:
    r = c.table(raw, "execution", EXECUTION_KEYS)
    n_jobs = c.int_(r.get("n_jobs", 1), "execution.n_jobs")
    if n_jobs == 0 or n_jobs < -1:
        raise c.fail("execution.n_jobs", "must be -1 (all cores) or >= 1", n_jobs)
    vec = r.get("vectorize", 1)
    if vec == "auto":
        vec = auto_vectorize(sampler)
    vec = c.int_(vec, "execution.vectorize", 1) if not isinstance(vec, str) else None
    if vec is None:
        raise c.fail("execution.vectorize", "must be an integer >= 1 or 'auto'", r["vectorize"])
    mem = c.num(r.get("memory_mb", 1024.0), "execution.memory_mb")
    if mem <= 0:
        raise c.fail("execution.memory_mb", "must be > 0", r.get("memory_mb"))
    sync = c.num(r.get("sync_seconds", SYNC_SECONDS), "execution.sync_seconds")
    if sync < 0:
        raise c.fail("execution.sync_seconds", "must be >= 0", r.get("sync_seconds"))
    return ExecutionSection(
        vectorize=vec,
        memory_mb=mem,
        sync_seconds=sync,
        n_jobs=n_jobs,
        storage=c.str_(r.get("storage", ""), "execution.storage"),
        format=c.str_(r.get("format", "auto"), "execution.format", FORMATS),
        backend=c.str_(r.get("backend", "loky"), "execution.backend", BACKENDS),
        scheduler=c.str_(r.get("scheduler", ""), "execution.scheduler"),
        report=c.bool_(r.get("report", True), "execution.report"),
        heartbeat=c.int_(r.get("heartbeat", 0), "execution.heartbeat", 0),
        grace_period=c.int_(r.get("grace_period", 0), "execution.grace_period", 0),
    )


# --- the search space --------------------------------------------------------------------


def _search(c: _Checker, raw: Any, default_schedule: str | None) -> dict[str, ParamSpec]:
    r = c.table(raw, "search", HPARAMS)
    if default_schedule is not None and "schedule" in r:
        raise c.fail(
            "train.schedule",
            "is also set in search.schedule: set it in one place",
            default_schedule,
        )
    specs = {}
    for name in HPARAMS:
        if name in r:
            specs[name] = _param(c, name, r[name])
        else:
            value = default_schedule if name == "schedule" and default_schedule else DEFAULTS[name]
            specs[name] = ParamSpec(name, "fixed", value=value)
    _cross_checks(c, specs, given=set(r))
    for name in r:  # set, and used by no configuration: a slip, most likely
        if not can_apply(name, specs):
            log.warning(
                "%s: search.%s is set but no configuration of this search uses it (%s); "
                "it is ignored",
                c.path, name, _user_of(name, specs),
            )  # fmt: skip
    return specs


def _user_of(name: str, specs: dict[str, ParamSpec]) -> str:
    """Who uses hyperparameter ``name`` (:data:`USED_BY`), and what the search
    has instead (for :func:`can_apply`'s warnings)."""
    key, users = USED_BY[name]
    words = ", ".join(users[:-1]) + " and " + users[-1] if len(users) > 1 else users[0]
    if key == "schedule":
        words = f"the {words} schedule{'s' if len(users) > 1 else ''}"
    return f"used only by {words}; search.{key} is {', '.join(specs[key].values())}"


def _param(c: _Checker, name: str, raw: Any) -> ParamSpec:
    key = f"search.{name}"
    if isinstance(raw, list):
        if not raw:
            raise c.fail(key, "must not be an empty list", raw)
        vals = tuple(_value(c, name, v, f"{key}[{i}]") for i, v in enumerate(raw))
        if len(set(vals)) != len(vals):
            raise c.fail(key, "must not repeat a value", raw)
        return ParamSpec(name, "choice", choices=vals)
    if isinstance(raw, dict):
        return _range(c, name, raw)
    return ParamSpec(name, "fixed", value=_value(c, name, raw, key))


def _value(c: _Checker, name: str, v: Any, key: str) -> Any:
    """Check one fixed or listed value of hyperparameter ``name``."""
    if name == "optimizer":
        return c.str_(v, key, tuple(OPTIMIZERS))
    if name == "schedule":
        return c.str_(v, key, SCHEDULES)
    if name == "batch_size":
        if v == "full":
            return v
        if isinstance(v, str):
            raise c.fail(key, "must be an integer >= 1 or 'full'", v)
        return c.int_(v, key, 1)
    if name == "interval":
        return c.int_(v, key, 1)
    x = c.num(v, key)
    if name in BETAS and not 0 <= x < 1:
        raise c.fail(key, "must be in [0, 1)", v)
    if name in ("lr", "eps", "k") and x <= 0:
        raise c.fail(key, "must be > 0", v)
    if name == "decay_rate" and x < 0:
        raise c.fail(key, "must be >= 0", v)
    return x


def _range(c: _Checker, name: str, raw: dict) -> ParamSpec:
    key = f"search.{name}"
    if name in ("optimizer", "schedule", "interval"):
        raise c.fail(key, "must be a value or a list of values", raw)
    allowed = ("low", "high", "full") if name == "batch_size" else ("low", "high", "log")
    c.table(raw, key, allowed)
    for k in ("low", "high"):
        if k not in raw:
            raise c.missing(f"{key}.{k}", "is required for a range")
    if name == "batch_size":
        lo, hi = c.int_(raw["low"], f"{key}.low", 1), c.int_(raw["high"], f"{key}.high", 1)
        for k, v in (("low", lo), ("high", hi)):
            if v & (v - 1):
                raise c.fail(f"{key}.{k}", "must be a power of two", v)
        if lo > hi:
            raise c.fail(key, "low must be <= high", f"low={lo}, high={hi}")
        full = c.bool_(raw.get("full", False), f"{key}.full")
        if lo == hi and not full:
            raise c.fail(key, "is an empty range (low == high): give a fixed value", lo)
        return ParamSpec(name, "pow2", low=lo, high=hi, full=full)
    lo, hi = c.num(raw["low"], f"{key}.low"), c.num(raw["high"], f"{key}.high")
    if lo > hi:
        raise c.fail(key, "low must be <= high", f"low={raw['low']}, high={raw['high']}")
    if lo == hi:
        raise c.fail(key, "is an empty range (low == high): give a fixed value", raw["low"])
    if name in BETAS:
        for k in ("low", "high"):
            if not 0 <= raw[k] < 1:
                raise c.fail(f"{key}.{k}", "must be in [0, 1)", raw[k])
        log = c.bool_(raw.get("log", True), f"{key}.log")
        return ParamSpec(name, "beta", low=lo, high=hi, log=log)
    log = c.bool_(raw.get("log", name in ("lr", "eps")), f"{key}.log")
    if log and lo <= 0:
        raise c.fail(f"{key}.low", "must be > 0 for a log range", raw["low"])
    if name in ("lr", "eps", "k") and lo <= 0:
        raise c.fail(f"{key}.low", "must be > 0", raw["low"])
    if name == "decay_rate" and lo < 0:
        raise c.fail(f"{key}.low", "must be >= 0", raw["low"])
    return ParamSpec(name, "float", low=lo, high=hi, log=log)


def _cross_checks(c: _Checker, specs: dict[str, ParamSpec], given: set[str]) -> None:
    kinds = specs["schedule"].values()
    # a decaying schedule without its coefficients would silently be another
    # one: inverse_time with decay 0 is constant, staircase stepping every
    # epoch is inverse_time
    decaying = [k for k in kinds if k in USED_BY["decay_rate"][1]]
    if decaying and "decay_rate" not in given:
        if "exponential" in decaying:
            rule = "is needed with the exponential schedule: the factor per epoch, in (0, 1]"
        else:
            rule = (
                f"is needed with the {decaying[0]} schedule: left out, it is 0 and "
                "the learning rate stays constant"
            )
        raise c.missing("search.decay_rate", rule)
    if "staircase" in kinds and "interval" not in given:
        raise c.missing(
            "search.interval",
            "is needed with the staircase schedule: the epochs per step; left out, "
            "it steps every epoch, as inverse_time does",
        )
    d = specs["decay_rate"]
    if "exponential" in kinds:
        top = d.high if d.kind == "float" else max(d.values())
        bottom = d.low if d.kind == "float" else min(d.values())
        if bottom <= 0 or top > 1:
            raise c.fail(
                "search.decay_rate", "must lie in (0, 1] for an exponential schedule", _spec_repr(d)
            )


def can_apply(name: str, search: dict[str, ParamSpec]) -> bool:
    """Whether hyperparameter ``name`` is used by any configuration of ``search``
    (a beta only matters if its optimizer can be chosen, and so on)."""
    if name not in USED_BY:
        return True
    key, users = USED_BY[name]
    return any(v in users for v in search[key].values())


def _spec_repr(p: ParamSpec) -> Any:
    if p.kind == "fixed":
        return p.value
    if p.kind == "choice":
        return list(p.choices)
    return {"low": p.low, "high": p.high}
