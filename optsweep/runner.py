"""Running a sweep: the study, its storage, parallel trials, resume, progress.

The main process owns the Optuna study: it asks for trials (one sampler sees
every trial), hands each configuration to a joblib worker process (or a Dask
worker), and tells the result when it comes back. Workers train; when the
study prunes, they report the metric every few epochs to the shared storage
and ask the pruner, so pruning works across processes. Two modes:

throughput (default)
    A trial is asked as soon as a worker is nearly free (one queued per
    worker) and told as soon as it ends, in whatever order.
deterministic
    Trials are asked in batches of ``study.batch``, trained in parallel
    without live pruning, and told in trial-number order, replaying each
    trial's curve into the pruner. The study is then the same whatever
    n_jobs is.

With ``execution.vectorize = K`` the asked trials are grouped by batch size
and each group trains as one NumPy population (:mod:`.engine.population`).

Resume: the same command continues the study up to its budget. Trials left
RUNNING by a killed run are marked FAIL (``reason="interrupted"``) and their
configuration is queued again with the same training seed; completed trials
are never re-run. Interrupted trials do not count towards the budget. With a
server storage shared by several workers, heartbeats find the trials of a
dead worker instead, and Optuna queues them again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import math
import os
import shutil
import signal
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from ._json import clean_json
from .config import AUTO_VECTORIZE, SweepConfig, check_vectorize, study_setting_warnings
from .engine import Dataset
from .engine.data import NotANumber
from .engine.population import max_members, population_cost
from .errors import ConfigError, OptsweepError
from .interrupts import new_press
from .objective import (
    TrialOutcome,
    TrialTask,
    check_model,
    data_digest,
    load_dataset,
    model_config,
    order_seed,
    ready,
    run_population,
    run_task,
    trial_seed,
)
from .pool import STOP_SIGNALS, PoolStart, in_main_thread, parallel, sigint
from .results import (
    INTERRUPTED,
    atomic_write,
    encode_curve,
    save_weights,
    savez,
    unfinished,
    write_tables,
    write_text,
)
from .samplers import grid_size, make_pruner, make_sampler
from .space import check_stored, searched, suggest
from .storage import (
    RUN_LOCK,
    batched_writes,
    is_url,
    open_storage,
    repair_journal_tail,
    sync_journals,
)

log = logging.getLogger(__name__)

#: The optsweep process that asks and tells, recorded with each trial.
WORKER = f"{socket.gethostname()}:{os.getpid()}"
#: How often a worker whose budget is taken by others' running trials looks again.
WAIT_SECONDS = 0.2
#: Arrays above this size are shared with workers through a memory map.
MEMMAP_BYTES = 1 << 20
CHECKPOINT_SECONDS = 30.0


# --- study construction --------------------------------------------------------------


def check_execution(sweep: SweepConfig, spec: str) -> None:
    """Refuse what cannot work, after command-line overrides: a vectorized
    run that cannot give per-trial results (:func:`check_vectorize`); Dask
    workers on other hosts cannot reach a local file (a journal or SQLite)
    storage."""
    check_vectorize(sweep)
    ex = sweep.execution
    if ex.backend != "dask":
        if ex.scheduler:  # a scheduler that would be ignored: the trials would run here
            raise ConfigError(
                f"{sweep.path}: execution.scheduler is for execution.backend 'dask' (--backend "
                f"dask), not {ex.backend!r}: the trials would run here (got {ex.scheduler!r})"
            )
        return
    if not ex.scheduler:
        raise ConfigError(
            f"{sweep.path}: execution.backend 'dask' needs execution.scheduler (--scheduler "
            "URL), the address of a running Dask scheduler, e.g. tcp://HOST:8786 from "
            "`dask scheduler` (got '')"
        )
    if not is_url(spec) or spec.startswith("sqlite"):
        raise ConfigError(
            f"{sweep.path}: execution.storage (--storage) must be a server URL that every Dask "
            f"worker reaches (e.g. postgresql+psycopg://...), not a local file, with the scheduler "
            f"{ex.scheduler} (got {spec!r})"
        )


def results_dir(sweep: SweepConfig, root: str | Path = "results") -> Path:
    return Path(root) / sweep.name


def storage_spec(sweep: SweepConfig, root: str | Path = "results") -> str:
    """The storage string: the sweep's, or the journal file in the results directory."""
    return sweep.execution.storage or str(results_dir(sweep, root) / "study.journal")


def absolute_spec(spec: str) -> str:
    """``spec`` with a file's path made absolute (a journal, or SQLite's
    ``sqlite:///relative.db``): joblib's workers, reused from an earlier run,
    stay in the folder they started in, which a notebook may have left."""
    if spec.startswith("sqlite:///") and not spec.startswith("sqlite:////"):
        return "sqlite:///" + os.path.abspath(spec[len("sqlite:///") :])
    return spec if is_url(spec) else os.path.abspath(spec)


#: The study attribute holding what makes its trials comparable (:func:`experiment`).
EXPERIMENT = "optsweep_experiment"


def experiment(sweep: SweepConfig, digest: str, targets: str | None = None) -> dict:
    """What makes a study's trials comparable and is not recorded with each
    trial: the data (a digest of the arrays, and the ``[data]`` keys that
    made them), the ``[model]`` and ``[train]`` sections, the study's seed
    (which sets the batch order all trials share) and its metrics. A trial's
    hyperparameters and seed are recorded with it, so the search may change.
    ``digest`` is the data's (:func:`~.objective.data_digest`); ``targets``,
    for a regression, ``"standardised"`` or ``"raw"``."""
    d = dataclasses.asdict(sweep.data)
    exp = {
        "data": {**{k: v for k, v in d.items() if k != "args"}, **d["args"]},
        "data_digest": digest,
        **({"targets": targets} if targets else {}),
        "model": dataclasses.asdict(sweep.model),
        "train": dataclasses.asdict(sweep.train),
        "study": {"seed": sweep.study.seed, "metric": list(sweep.study.metrics)},
    }
    return json.loads(json.dumps(exp, default=str))  # as the storage gives it back


def check_experiment(
    study: optuna.Study, sweep: SweepConfig, digest: str, targets: str | None = None
) -> None:
    """Refuse to resume ``study`` with another experiment (:func:`experiment`):
    its new trials would not compare with the earlier ones. A study without
    the record (made before it existed) gets it."""
    now = experiment(sweep, digest, targets)
    stored = study.user_attrs.get(EXPERIMENT)
    if stored is None:
        study.set_user_attr(EXPERIMENT, now)
        return
    same_data = stored.get("data_digest") == now["data_digest"]
    if not same_data and targets == "standardised" and "targets" not in stored:
        raise ConfigError(
            f"{sweep.path}: the stored study {sweep.name!r} was trained on its regression "
            "targets as they are, by an earlier optsweep; data.standardize now standardises "
            "them too, so new trials would not compare with the earlier ones; give the study "
            f"a new name (got data.standardize = {str(sweep.data.standardize).lower()})"
        )
    for section in ("data", "model", "train", "study"):
        if section == "data" and same_data:
            continue  # the same arrays, reached another way (a path from another folder)
        old, new = stored.get(section, {}), now[section]
        for key in [*new, *(k for k in old if k not in new)]:
            if old.get(key) != new.get(key):
                raise ConfigError(
                    f"{sweep.path}: {section}.{key} differs from the stored study "
                    f"{sweep.name!r}, whose trials used {old.get(key)!r}: new trials would not "
                    "compare with them; keep that value or give the study a new name "
                    f"(got {new.get(key)!r})"
                )
    if not same_data:
        raise ConfigError(
            f"{sweep.path}: data differ from the stored study {sweep.name!r}'s: the same "
            "[data] keys give other arrays (a changed file?); new trials would not compare "
            f"with the earlier ones; give the study a new name (got {sweep.data.source!r})"
        )


def open_study(sweep: SweepConfig, spec: str) -> optuna.Study:
    """Create or load the sweep's study on storage ``spec``."""
    ex = sweep.execution
    try:
        storage = open_storage(spec, ex.heartbeat, ex.grace_period, ex.sync_seconds)
    except ConfigError as e:  # a URL that does not open (bad, unreachable, no driver)
        raise ConfigError(f"{sweep.path}: {e}") from None
    kwargs: dict[str, Any] = dict(
        study_name=sweep.name,
        storage=storage,
        sampler=make_sampler(sweep),
        pruner=make_pruner(sweep),
    )
    study = optuna.create_study(
        directions=list(sweep.study.directions), load_if_exists=True, **kwargs
    )
    have = [d.name.lower() for d in study.directions]
    if have != list(sweep.study.directions):
        raise ConfigError(
            f"{sweep.path}: study.direction differs from the stored study {sweep.name!r} "
            f"({', '.join(have)}) (got {', '.join(sweep.study.directions)})"
        )
    # a changed search space that Optuna would refuse at the first trial
    refused = check_stored(study.get_trials(deepcopy=False), sweep.search)
    if refused is not None:
        name, why = refused
        raise ConfigError(
            f"{sweep.path}: search.{name} cannot change this way in the stored study "
            f"{sweep.name!r} (Optuna: {why}); keep its earlier values or give the study "
            "a new name"
        )
    return study


# --- bookkeeping -----------------------------------------------------------------------


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state; unfinished FAILs (see :func:`unfinished`) counted apart."""
    c = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0, INTERRUPTED: 0}
    for t in study.get_trials(deepcopy=False):
        c[INTERRUPTED if unfinished(t) else t.state.name] += 1
    return c


def pending_reruns(study: optuna.Study) -> int:
    """Unfinished trials (:func:`unfinished`) whose configuration has not
    run again since: the next run runs them (a queued copy counts as not run)."""
    trials = study.get_trials(deepcopy=False)
    latest: dict[int, int] = {}  # origin -> the last trial of that configuration to run
    for t in trials:
        if t.state != TrialState.WAITING:
            origin = t.user_attrs.get("rerun_of", t.number)
            latest[origin] = max(latest.get(origin, -1), t.number)
    return sum(
        1
        for t in trials
        if unfinished(t) and latest[t.user_attrs.get("rerun_of", t.number)] == t.number
    )


def grid_cap(sweep: SweepConfig) -> int | None:
    """A grid sweep's number of points where it is the budget (each point
    runs once: fewer than ``n_trials``, or no ``n_trials``), else None."""
    if sweep.study.sampler != "grid":
        return None
    points = grid_size(sweep)
    n_trials = sweep.study.n_trials
    return points if n_trials is None or points < n_trials else None


def budget_met(summary: RunSummary, sweep: SweepConfig) -> int | None:
    """The study's finished trials if the run ran none because they meet the
    budget (``n_trials`` counts the study's trials, not a run's; a grid's
    points, when fewer), else None."""
    c = summary.counts
    n_trials = grid_cap(sweep) or sweep.study.n_trials
    done = c.get("COMPLETE", 0) + c.get("PRUNED", 0) + c.get("FAIL", 0)
    if summary.ran == 0 and not summary.interrupted and n_trials is not None and done >= n_trials:
        return done
    return None


def nothing_to_run(sweep: SweepConfig, done: int, option: str = "`--trials {}`") -> str:
    """What to say when a run had nothing to run (:func:`budget_met`): the
    study's ``done`` trials, and how to run more, ``option`` filled with the
    new budget (``--trials`` on the command line, ``n_trials=`` in Python)."""
    n_trials = sweep.study.n_trials
    points = grid_size(sweep) if sweep.study.sampler == "grid" else None
    if points is not None and done >= points:
        return f"nothing to run: each of the grid's {points} points has run"
    more = n_trials if points is None else min(n_trials, points - done)
    return (
        f"nothing to run: the study has {done} trials, its budget of {n_trials} is met; "
        f"{option.format(done + more)} runs {more} more"
    )


def mark_interrupted(study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> None:
    """End running ``trials`` as FAIL with the reason ``interrupted``."""
    for t in trials:
        study._storage.set_trial_user_attr(t._trial_id, "reason", INTERRUPTED)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)


def recover_interrupted(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a dead run FAIL and queue their configurations again.

    A queued trial carries ``rerun_of`` (the first trial of that configuration),
    which also gives it the same training seed. Returns the number queued.
    """
    mark_interrupted(study, study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    trials = study.get_trials(deepcopy=False)
    queued = 0
    for t in trials:
        if not unfinished(t):
            continue
        origin = t.user_attrs.get("rerun_of", t.number)
        if any(u.number > t.number and u.user_attrs.get("rerun_of") == origin for u in trials):
            continue  # already queued (or re-run) by an earlier resume
        study.enqueue_trial(t.params, user_attrs={"rerun_of": origin}, skip_if_exists=False)
        queued += 1
    return queued


@contextlib.contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """One ``optsweep run`` per results directory at a time (released even on SIGKILL)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / RUN_LOCK, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OptsweepError(
                f"{directory}: another optsweep run is using this study; wait for it or stop it"
            ) from None
        yield


def clear_stale_journal_lock(spec: str) -> None:
    """Remove the journal's lock file left by a killed run.

    Called under :func:`run_lock`, so no other run of this study is alive; a
    lock left by a process killed mid-write would otherwise stall the next run
    for the journal's 30-second grace period.
    """
    if is_url(spec):
        return
    lock = Path(spec + ".lock")
    if lock.exists() or lock.is_symlink():
        log.info("removing a stale journal lock %s", lock)
        lock.unlink()


def share_data(data: Dataset, directory: Path) -> Dataset:
    """Large arrays as read-only memory maps, so joblib sends workers a file
    reference instead of a copy per trial."""
    arrays = {k: getattr(data, k) for k in ("X_train", "y_train", "X_val", "y_val")}
    if sum(a.nbytes for a in arrays.values() if a is not None) < MEMMAP_BYTES:
        return data
    folder = directory / ".data"
    folder.mkdir(parents=True, exist_ok=True)
    mapped = {}
    for k, a in arrays.items():
        if a is None:
            mapped[k] = None
            continue
        np.save(folder / f"{k}.npy", a)
        mapped[k] = np.load(folder / f"{k}.npy", mmap_mode="r", allow_pickle=False)
    return dataclasses.replace(data, **mapped)


def _scaling_entry(scaler) -> dict | None:
    """A standardisation as ``meta.json`` keeps it (read by :func:`~.results.scaling`)."""
    return None if scaler is None else {"mean": scaler.mean.tolist(), "std": scaler.std.tolist()}


def write_meta(sweep: SweepConfig, directory: Path, spec: str, data: Dataset, digest: str) -> None:
    model = model_config(sweep, data)
    meta = {
        "study": sweep.name,
        "storage": spec if is_url(spec) else os.path.relpath(spec, directory),
        "metrics": list(sweep.study.metrics),
        "directions": list(sweep.study.directions),
        "data": {
            "source": sweep.data.source,
            "n_train": int(data.X_train.shape[0]),
            "n_val": 0 if data.X_val is None else int(data.X_val.shape[0]),
            "n_features": int(data.n_features),
            "n_classes": int(data.n_classes),
            "features": list(data.features),
            "label": sweep.data.label,  # a CSV's label column (None: no name)
            "standardized": data.scaler is not None,
            "scaler": _scaling_entry(data.scaler),  # (x - mean) / std, fitted on training
            # a regression's targets, likewise; predictions: z * std + mean
            "target_scaler": _scaling_entry(data.target_scaler),
            "classes": list(data.classes),  # the name of each class code; empty: the codes
            "digest": digest,
        },
        "model": {"sizes": model.sizes(data), "activation": model.activation, "head": model.head},
        "epochs": sweep.train.epochs,
        "searched": searched(sweep.search),
        "format": sweep.execution.format,
        "settings": sweep.settings(),  # as run, with the command's or run()'s overrides
        "budget": {
            "n_trials": sweep.study.n_trials,
            "timeout": sweep.study.timeout,
            "grid": grid_cap(sweep),  # a grid's points, where they are the budget
        },
    }
    write_text(directory / "meta.json", json.dumps(meta, indent=2) + "\n")
    if data.n_features <= 2:  # small, and what the report's decision boundaries need
        arrays = {"X_train": data.X_train, "y_train": data.y_train}
        atomic_write(directory / "data.npz", lambda tmp: savez(tmp, arrays))
    if sweep.path.exists() and sweep.path.resolve() != (directory / "sweep.toml").resolve():
        shutil.copyfile(sweep.path, directory / "sweep.toml")


def export_tables(
    study: optuna.Study, sweep_metrics: tuple[str, ...], directory: Path, fmt: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild and write the trials and curves tables from the storage."""
    tdf, cdf, _ = write_tables(study.get_trials(deepcopy=False), sweep_metrics, directory, fmt)
    return tdf, cdf


def keep_best_weights(directory: Path, trials_df) -> None:
    """Keep the weights of the best trial overall and of each optimizer; drop the rest."""
    models = directory / "models"
    if not models.exists():
        return
    done = trials_df[trials_df["state"] == "COMPLETE"]
    keep: set[int] = set()
    if len(done):
        meta = json.loads((directory / "meta.json").read_text())
        asc = meta["directions"][0] == "minimize"
        ranked = done.sort_values(["value", "number"], ascending=[asc, True])
        keep.add(int(ranked["number"].iloc[0]))
        for _, g in ranked.groupby("optimizer", sort=True):
            keep.add(int(g["number"].iloc[0]))
    for f in models.glob("trial_*.npz"):
        if int(f.stem.split("_")[1]) not in keep:
            f.unlink()


# --- the run ---------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What ``run_sweep`` did."""

    directory: Path
    ran: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    best_value: float | None = None
    interrupted: bool = False
    seconds: float = 0.0
    pending: int = 0  # interrupted or lost trials the next run runs again


class _Progress:
    """A tqdm bar: trials done out of the budget, with states and the best value."""

    def __init__(self, name: str, total: int | None, enabled: bool) -> None:
        self.name, self.total, self.enabled = name, total, enabled
        self.bar = None

    def refresh(self, c: dict[str, int], best: float | None, running: int = 0) -> None:
        """Show counts ``c`` (see :func:`counts`), the trials ``running`` (asked,
        not yet recorded: a vectorized run's populations train for long before
        the first ends) and the best value so far."""
        if not self.enabled:
            return
        try:
            self._refresh(c, best, running)
        except OSError:  # stderr gone (a closed pipe): the sweep goes on without its bar
            self.enabled, self.bar = False, None

    def _refresh(self, c: dict[str, int], best: float | None, running: int) -> None:
        done = c["COMPLETE"] + c["PRUNED"] + c["FAIL"]
        post = {"done": c["COMPLETE"], "pruned": c["PRUNED"], "failed": c["FAIL"]}
        if running:
            post["running"] = running
        if best is not None:
            post["best"] = f"{best:.4g}"
        if self.bar is None:
            if self.total is not None and done >= self.total:  # nothing to run: no bar
                self.enabled = False
                return
            from tqdm.auto import tqdm

            # a resumed study's earlier trials show, but do not count in the rate
            self.bar = tqdm(
                total=self.total,
                initial=done,
                unit="trial",
                desc=self.name,
                dynamic_ncols=True,
                postfix=", ".join(f"{k}={v}" for k, v in post.items()),  # in this order
            )
            return
        self.bar.set_postfix(post, refresh=False)
        if done == self.bar.n:  # trials asked: shown now, not at tqdm's next update
            self.bar.refresh()
        else:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            with contextlib.suppress(OSError):
                self.bar.close()


def best_value(study: optuna.Study) -> float | None:
    """The best first-objective value among complete trials, or None."""
    vals = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not vals:
        return None
    return min(vals) if study.directions[0] == optuna.study.StudyDirection.MINIMIZE else max(vals)


class _Runner:
    """State shared by the two execution modes."""

    def __init__(
        self,
        sweep: SweepConfig,
        study: optuna.Study,
        data: Dataset,
        directory: Path,
        spec: str,
        progress: _Progress,
        shared: bool = False,
        backend: str = "loky",
    ) -> None:
        self.sweep, self.study, self.data = sweep, study, data
        self.directory, self.spec, self.progress = directory, spec, progress
        self.n_train = int(data.X_train.shape[0])
        self.n_val = 0 if data.X_val is None else int(data.X_val.shape[0])
        self.sizes = model_config(sweep, data).sizes(data)
        self.order = order_seed(sweep.study.seed)  # one batch order for the whole study
        self.asked: dict[int, optuna.Trial] = {}
        self.ran = 0
        self.stopping = False
        self.shared = shared  # a server storage shared with other workers
        self.backend = backend  # loky or dask
        self.beats = False  # the storage records heartbeats (set once they run)
        self.best_weights: dict[str, tuple] = {}  # optimizer -> (value, number, weights)
        self.optimizer_of: dict[int, str] = {}  # trial number -> optimizer, for the above
        self.described: dict[int, str] = {}  # trial number -> its searched values, for -v
        self.searched = searched(sweep.search)
        self.last_checkpoint = self.started = time.monotonic()
        # trials by state: read from a shared storage before each ask (other
        # workers add to it), kept here otherwise (the run lock makes every
        # trial of a journal file ours)
        self.counts = counts(study)
        self.best = best_value(study)
        # joblib asks for the next task from its own thread while this one records
        self.tally_lock = threading.Lock()
        self.ctrl_c = _CtrlC()
        self.run_id = uuid.uuid4().hex
        self.progress.refresh(self.counts, self.best)

    def ask(self) -> TrialTask:
        with self.ctrl_c.shield():
            return self._ask()

    def _ask(self) -> TrialTask:
        with warnings.catch_warnings():  # ask-and-tell with heartbeats is on purpose here
            warnings.simplefilter("ignore", UserWarning)
            trial = self.study.ask()
        self.asked[trial.number] = trial  # first: an interrupt must see every trial asked
        if self.beats:
            # a first heartbeat at once: a trial that never beat is never found stale
            self.study._storage.record_heartbeat(trial._trial_id)
        # the parameters and the task attribute as one write to a journal file:
        # nothing reads them back before the next ask (a trial keeps its own
        # parameters; the sampler reads other trials')
        with batched_writes(self.study._storage):
            hp = suggest(trial, self.sweep.search, self.n_train)
            # a re-run (of an interrupted trial, or one Optuna retried after a
            # lost heartbeat) keeps the seed of the configuration's first
            # trial; Optuna read the trial's attributes when it created it
            frozen = trial._cached_frozen_trial
            retried = frozen.system_attrs.get("failed_trial")
            first = retried if retried is not None else trial.number
            origin = frozen.user_attrs.get("rerun_of", first)
            seed = trial_seed(self.sweep.study.seed, origin)
            # one attribute when asked, one when told
            task = {"hparams": clean_json(hp), "seed": seed, "worker": WORKER}
            trial.set_user_attr("task", task)
            if origin != trial.number and "rerun_of" not in frozen.user_attrs:
                trial.set_user_attr("rerun_of", origin)
        self.optimizer_of[trial.number] = hp["optimizer"]
        if log.isEnabledFor(logging.INFO):  # for the trial's line in the log (-v)
            self.described[trial.number] = ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                for k in self.searched
                if (v := hp.get(k)) is not None
            )
        return TrialTask(trial.number, trial._trial_id, seed, hp, self.order, self.run_id)

    def round_size(self, n: int, deadline: float) -> int:
        """Vectorized: how many trials to ask in the next round, at most
        ``n``: ``execution.vectorize``; with a timeout, no more than the run's
        pace so far (trials recorded a second) finishes before it, and at
        most :data:`~.config.AUTO_VECTORIZE` before any has been recorded,
        so that a run ends about a round after its timeout, not after a
        round of 1024 trials (``vectorize = "auto"`` with random sampling).
        """
        size = min(self.sweep.execution.vectorize, n)
        if math.isinf(deadline):
            return size
        now = time.monotonic()
        if not self.ran:
            return min(size, AUTO_VECTORIZE)
        pace = self.ran / max(now - self.started, 1e-9)
        return max(1, min(size, int(pace * (deadline - now))))

    def want_more(self, budget: float, deadline: float) -> int:
        """How many trials to ask now (0: stop asking).

        Counts every worker's trials: finished ones and those in flight. With
        a shared server storage, a worker whose budget is taken by other
        workers' running trials waits while they run, in case one of them is
        lost and queued again (a stale heartbeat); it stops once the budget
        is met.
        """
        while not self.stopping and time.monotonic() < deadline:
            if self.beats:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(self.study)
            with self.tally_lock:
                if self.shared:
                    self.counts = counts(self.study)
                    running = self.counts["RUNNING"]
                else:
                    running = len(self.asked)
                c = self.counts
                done = c["COMPLETE"] + c["PRUNED"] + c["FAIL"]
            free = budget - done - running
            if done >= budget:
                return 0
            if free > 0:  # queued re-runs (WAITING) are asked first, within this
                return int(min(free, 1 << 30))
            others = running - len(self.asked)
            if not self.shared or others <= 0:
                return 0
            time.sleep(WAIT_SECONDS)
        return 0

    def groups(self, tasks: list[TrialTask]) -> list[list[TrialTask]]:
        """Vectorized execution: tasks grouped by batch size (the shape a
        population shares), each group cut to fit the memory budget; the
        costliest first, so that the workers finish together (longest
        processing time first)."""
        ex = self.sweep.execution
        by_batch: dict[int, list[TrialTask]] = {}
        for t in sorted(tasks, key=lambda t: t.number):
            by_batch.setdefault(int(t.hparams["batch_size"]), []).append(t)
        out = []
        for batch, group in by_batch.items():
            cap = min(
                ex.vectorize, max_members(self.sizes, batch, self.sweep.train.dtype, ex.memory_mb)
            )
            out += [group[i : i + cap] for i in range(0, len(group), cap)]

        def cost(group: list[TrialTask]) -> float:
            batch = int(group[0].hparams["batch_size"])
            return population_cost(self.sizes, batch, len(group), self.n_train, self.n_val)

        return sorted(out, key=cost, reverse=True)

    def record(self, out: TrialOutcome, replay: bool = False) -> None:
        """Store an outcome's curve and numbers, save its weights, tell Optuna."""
        with self.ctrl_c.shield():
            self._record(out, replay)

    def _record(self, out: TrialOutcome, replay: bool) -> None:
        trial = self.asked[out.number]
        if replay and out.status == "complete" and self.sweep.study.pruner != "none":
            self._replay_pruning(trial, out)
        epochs = len(out.history.get("epoch", []))
        # one write per trial, a JSON string: Optuna copies a trial's attributes
        # each time it reads it, and a string costs nothing to copy
        result = {
            "curve_f8": encode_curve(out.history),
            "final": clean_json(out.final),
            "train_seconds": out.seconds,
            "epochs_run": epochs,
            "updates": out.updates,
            "host": out.host,
            "reason": out.reason,
        }
        optimizer = self.optimizer_of.pop(out.number)
        if out.status == "pruned":
            # Optuna gives a pruned trial its last report as its value, from
            # the trial as this process has read it; the reports came from a
            # worker, and the batch below reads nothing: read them first
            self.study._storage.get_trial(trial._trial_id)
        # the result and the end as one write to a journal file: Optuna reads
        # neither back before the next ask or tell
        with batched_writes(self.study._storage):
            trial.set_user_attr("result", json.dumps(result, separators=(",", ":")))
            if out.status == "complete":
                self._keep_if_best(optimizer, out)
                self.study.tell(trial, list(out.values))
                v, sign = out.values[0], self._sign()
                if self.best is None or sign * v > sign * self.best:
                    self.best = v
            elif out.status == "pruned":
                self.study.tell(trial, state=TrialState.PRUNED)
            else:
                self.study.tell(trial, state=TrialState.FAIL)
        if log.isEnabledFor(logging.INFO):
            if out.status == "complete":
                what = f"complete, {self.sweep.study.metrics[0]} {out.values[0]:.6g}"
            elif out.reason.startswith("pruned"):  # "pruned at epoch 15"
                what = out.reason
            else:
                what = f"{'pruned' if out.status == 'pruned' else 'failed'}: {out.reason}"
            log.info(
                "trial %d %s (%s; %d epochs, %.2f s)",
                out.number, what, self.described.pop(out.number, ""), epochs, out.seconds,
            )  # fmt: skip
        with self.tally_lock:  # one step: counted as done and no longer running
            self.counts[{"complete": "COMPLETE", "pruned": "PRUNED"}.get(out.status, "FAIL")] += 1
            del self.asked[out.number]
        self.ran += 1
        self.progress.refresh(self.counts, self.best, self.running())
        if time.monotonic() - self.last_checkpoint > CHECKPOINT_SECONDS:
            self.save_best_weights()
            export_tables(
                self.study, self.sweep.study.metrics, self.directory, self.sweep.execution.format
            )
            self.last_checkpoint = time.monotonic()

    def running(self) -> int:
        """Trials asked and not yet recorded, for the bar of a vectorized run,
        whose populations train long before their first member ends (a
        per-trial run's bar moves as trials end: 0)."""
        return len(self.asked) if self.sweep.execution.vectorize > 1 else 0

    def _sign(self) -> float:
        """+1 if the first objective is maximised, -1 if minimised."""
        return 1.0 if self.study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1.0

    def _keep_if_best(self, optimizer: str, out: TrialOutcome) -> None:
        """Hold the weights of this run's best trial of each optimizer (they are
        written at the end and at checkpoints, not once per trial)."""
        if out.weights is None:
            return
        sign = self._sign()
        held = self.best_weights.get(optimizer)
        if held is None or sign * out.values[0] > sign * held[0]:
            self.best_weights[optimizer] = (out.values[0], out.number, out.weights)

    def save_best_weights(self) -> None:
        for _, number, weights in self.best_weights.values():
            path = self.directory / "models" / f"trial_{number:05d}.npz"
            if not path.exists():
                save_weights(self.directory, number, weights)

    def _replay_pruning(self, trial: optuna.Trial, out: TrialOutcome) -> None:
        """Deterministic mode: feed the finished curve to the pruner epoch by epoch."""
        metric = self.sweep.study.metrics[0]
        for i, (epoch, value) in enumerate(
            zip(out.history["epoch"].tolist(), out.history[metric].tolist())
        ):
            if not math.isfinite(value):
                continue
            if not self.sweep.study.report_epoch(epoch, self.sweep.train.epochs):
                continue
            trial.report(value, epoch)
            if trial.should_prune():
                out.history = {k: v[: i + 1] for k, v in out.history.items()}
                out.status, out.reason = "pruned", f"pruned at epoch {epoch}"
                out.values, out.weights = None, None
                return

    def interrupt(self) -> None:
        """Mark the trials in flight as interrupted (they will be queued again).

        With a journal file the run lock makes every RUNNING trial ours; with a
        shared server storage only the trials this process asked are.
        """
        self.stopping = True
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        mark_interrupted(
            self.study, [t for t in running if not self.shared or t.number in self.asked]
        )
        self.asked.clear()


@contextlib.contextmanager
def _backend(sweep: SweepConfig) -> Iterator[str]:
    """``loky``, or ``dask`` with a client connected to the sweep's scheduler
    for the duration of the run (joblib's Dask backend uses it)."""
    ex = sweep.execution
    if ex.backend != "dask":
        yield "loky"
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise ConfigError(
            f"{sweep.path}: execution.backend 'dask' needs dask[distributed]: "
            f"pip install 'optsweep[distributed]' (got 'dask')"
        ) from None
    try:
        client = Client(ex.scheduler, timeout=10)
    except OSError as e:
        raise OptsweepError(f"cannot reach the Dask scheduler {ex.scheduler}: {e}") from None
    try:
        yield "dask"
    finally:
        client.close()


class _CtrlC:
    """Ctrl-C during a run, raised as KeyboardInterrupt in the main thread,
    but never inside an ask or a tell (see :meth:`shield`): a storage
    operation cut half-way (Optuna's journal write without its bookkeeping,
    a database transaction) would leave the study out of step with what was
    written, just when the interrupted trials are to be marked."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    def _handler(self, signum: int, frame: Any) -> None:
        if not new_press(signum):  # the same Ctrl-C again: the run is stopping already
            return
        if self.depth:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """The handler for Ctrl-C and SIGTERM (``kill``, ``timeout``, a batch
        scheduler), which stop a run alike; an ignored one (nohup, a
        background job) stays ignored, as Python itself does."""
        taken = tuple(s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN)
        with sigint(self._handler, taken):
            yield

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        """Hold a Ctrl-C arriving in the block until its end (main thread only)."""
        if not in_main_thread():
            yield
            return
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending:
                self.pending = False
                raise KeyboardInterrupt


class _Heartbeats:
    """Heartbeats of the trials this process runs, from a thread, so that a
    dead host's trials go stale and other workers retry them (Optuna's
    RDB heartbeat; the grace period is ``execution.grace_period``)."""

    def __init__(self, r: _Runner) -> None:
        storage = r.study._storage
        self.interval = (
            storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
        )
        self.done = threading.Event()
        self.thread = None
        if self.interval:
            self.thread = threading.Thread(target=self._beat, args=(r, storage), daemon=True)
            self.thread.start()

    def _beat(self, r: _Runner, storage) -> None:
        while not self.done.wait(self.interval):
            for trial in list(r.asked.values()):
                try:
                    storage.record_heartbeat(trial._trial_id)
                except Exception as e:  # a missed beat is retried at the next interval
                    log.debug("heartbeat failed: %s", e)

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()


def _while_workers_start(
    r: _Runner, pool: PoolStart, budget: float, deadline: float
) -> list[TrialTask]:
    """Use the main process while the workers start: train trials one by one,
    or, vectorized, ask the first round's trials (returned)."""
    K = r.sweep.execution.vectorize
    if K > 1:
        K = r.round_size(K, deadline)
    asked: list[TrialTask] = []
    while pool.pending and len(asked) < K and r.want_more(budget, deadline):
        if K == 1:
            r.record(run_task(r.ask(), r.data, r.sweep, r.spec))
        else:
            asked.append(r.ask())
    return asked


def _run_throughput(
    r: _Runner, n_jobs: int, budget: float, deadline: float, asked: list[TrialTask]
) -> None:
    """Trials as the workers free up; vectorized, in rounds of
    :meth:`_Runner.round_size` trials, starting with those ``asked`` already."""
    spec = r.spec
    sweep, data = r.sweep, r.data
    K = sweep.execution.vectorize

    def tasks():
        first = asked
        while (n := r.want_more(budget, deadline)) or first:
            if K == 1:
                yield joblib.delayed(run_task)(r.ask(), data, sweep, spec)
                continue
            # vectorized: a round of trials asked at once (TPE's constant liar
            # spreads them), trained as one population per batch size
            more = min(r.round_size(len(first) + n, deadline) - len(first), n)
            group_asked = first + [r.ask() for _ in range(max(more, 0))]
            first = []
            if in_main_thread():  # not from joblib's thread, where the bar is not drawn
                r.progress.refresh(r.counts, r.best, r.running())
            for group in r.groups(group_asked):
                yield joblib.delayed(run_population)(group, data, sweep, spec)

    # one trial queued per worker beyond the running ones: a worker never waits
    # for the sampler, and the sampler still sees nearly every result
    pre = 1 if n_jobs == 1 else 2 * n_jobs
    jobs = parallel(
        n_jobs, r.backend, return_as="generator_unordered", pre_dispatch=pre, batch_size=1
    )
    results = jobs(tasks())
    try:
        for out in results:
            for o in out if isinstance(out, list) else [out]:
                r.record(o)
    finally:
        # left early (Ctrl-C, the notebook's stop button): joblib warns as the
        # generator closes, "N tasks have been successfully executed but not
        # used ...", meant for a caller who stopped reading by mistake. Not a
        # warnings filter: catch_warnings is not thread-safe, and the asks run
        # in joblib's callback thread, where Optuna's own can put the filters
        # back under it (the warning got through 1 run in 30). joblib warns
        # only for a call that returns a generator.
        jobs.return_generator = False
        results.close()


def _run_deterministic(r: _Runner, n_jobs: int, budget: float, deadline: float) -> None:
    batch = r.sweep.study.batch
    with parallel(n_jobs, r.backend) as pool:
        while n := r.want_more(budget, deadline):
            k = min(batch, n)
            tasks = [r.ask() for _ in range(k)]
            if r.sweep.execution.vectorize > 1:
                jobs = (
                    joblib.delayed(run_population)(g, r.data, r.sweep, None)
                    for g in r.groups(tasks)
                )
                outs = [o for group in pool(jobs) for o in group]
            else:
                outs = pool(joblib.delayed(run_task)(t, r.data, r.sweep, None) for t in tasks)
            for out in sorted(outs, key=lambda o: o.number):
                r.record(out, replay=True)


def run_sweep(
    sweep: SweepConfig,
    *,
    root: str | Path = "results",
    progress: bool = True,
) -> RunSummary:
    """Run (or resume) a sweep; write its tables under ``root/NAME``.

    Command-line overrides are applied to ``sweep`` beforehand with
    :meth:`SweepConfig.with_overrides`. On Ctrl-C the trials in flight are
    marked interrupted, the tables are written, and ``interrupted`` is set.
    """
    t0 = time.monotonic()
    directory = results_dir(sweep, root)
    spec = absolute_spec(storage_spec(sweep, root))
    check_execution(sweep, spec)
    try:
        data = load_dataset(sweep.data, sweep.model.head)
    except (ValueError, ImportError, OSError) as e:
        hint = ""
        if isinstance(e, NotANumber) and sweep.data.features is None:
            hint = "; data.features lists the columns to use, to leave others out"
        raise ConfigError(f"{sweep.path}: data: {e}{hint}") from None
    check_model(sweep, data)
    digest = data_digest(data)  # once: a pass over the arrays
    n_jobs = joblib.cpu_count() if sweep.execution.n_jobs == -1 else sweep.execution.n_jobs
    summary = RunSummary(directory)
    optuna.logging.set_verbosity(
        optuna.logging.INFO if log.isEnabledFor(logging.DEBUG) else optuna.logging.WARNING
    )
    shared_storage = is_url(spec)
    # a journal file belongs to one run at a time; a server storage is shared
    # by workers on many hosts, whose lost trials the heartbeats find
    lock = contextlib.nullcontext() if shared_storage else run_lock(directory)
    with lock, _backend(sweep) as backend, PoolStart(n_jobs, backend, ready) as pool:
        if not shared_storage:
            clear_stale_journal_lock(spec)
            if cut := repair_journal_tail(spec):
                log.warning(
                    "%s: cut a torn last record (%d bytes), left by a crash or a full disk",
                    spec, cut,
                )  # fmt: skip
        study = open_study(sweep, spec)
        regression = data.n_classes == 0  # real-valued targets (check_model saw the head fit)
        targets = (
            ("standardised" if data.target_scaler is not None else "raw") if regression else None
        )
        check_experiment(study, sweep, digest, targets)
        if not shared_storage:
            requeued = recover_interrupted(study)
            if requeued:
                log.info("queued %d interrupted trial(s) again", requeued)
        write_meta(sweep, directory, spec, data, digest)
        shared_data = share_data(data, directory) if backend == "loky" else data
        st = sweep.study
        budget = math.inf if st.n_trials is None else st.n_trials
        if (points := grid_cap(sweep)) is not None:
            budget = points
            c = counts(study)  # before the bar is drawn
            if st.n_trials is not None and c["COMPLETE"] + c["PRUNED"] + c["FAIL"] < points:
                log.warning(
                    "%s: the grid has %d points, fewer than study.n_trials (%d): the study "
                    "ends once each has run",
                    sweep.path, points, st.n_trials,
                )  # fmt: skip
        for why in study_setting_warnings(sweep):
            log.warning("%s: %s", sweep.path, why)
        deadline = math.inf if st.timeout is None else time.monotonic() + st.timeout
        bar = _Progress(study.study_name, None if math.isinf(budget) else int(budget), progress)
        r = _Runner(sweep, study, shared_data, directory, spec, bar, shared_storage, backend)
        beats = _Heartbeats(r) if shared_storage else None
        r.beats = beats is not None and bool(beats.interval)
        failure: OSError | None = None
        try:
            with r.ctrl_c.installed():
                if st.deterministic:
                    pool.wait()
                    _run_deterministic(r, n_jobs, budget, deadline)
                else:
                    asked = _while_workers_start(r, pool, budget, deadline)
                    bar.refresh(r.counts, r.best, r.running())
                    pool.wait()
                    _run_throughput(r, n_jobs, budget, deadline, asked)
        except KeyboardInterrupt:
            summary.interrupted = True
            r.interrupt()
        except OSError as e:  # a full disk, a results folder gone: stop, keep what is written
            failure = e
            with contextlib.suppress(Exception):
                r.interrupt()
        finally:
            if beats is not None:
                beats.stop()
            bar.close()
            # a write that fails here too (a full disk) stops these steps, not
            # the clean-up: the journal holds every trial it recorded, and the
            # next run (or `optsweep export`) writes the tables from it
            try:
                r.save_best_weights()
                tdf, _ = export_tables(study, st.metrics, directory, sweep.execution.format)
                keep_best_weights(directory, tdf)
            except OSError as e:
                failure = failure or e
            shutil.rmtree(directory / ".data", ignore_errors=True)
            try:
                sync_journals()  # the study on disk before the command returns
            except OSError as e:
                failure = failure or e
        if failure:
            where = failure.filename or directory
            raise OptsweepError(
                f"{where}: {failure.strerror or failure}: the sweep stopped; the trials it "
                "recorded are kept, and the same command resumes once it can write there"
            ) from None
        summary.ran = r.ran
        summary.counts = counts(study)
        summary.pending = pending_reruns(study)
        summary.best_value = best_value(study)
    summary.seconds = time.monotonic() - t0
    return summary
