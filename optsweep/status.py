"""``optsweep status`` and ``optsweep export``: a results directory's study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from .analysis import STATES, failures, shown_states
from .errors import ConfigError
from .results import read_meta, read_table, table_file, trials_frame, write_tables
from .storage import is_url, open_storage, run_active, shown


def storage_of(directory: Path, meta: dict) -> str:
    """The study's storage: a URL, or the journal file inside ``directory``."""
    spec = meta["storage"]
    return spec if is_url(spec) else str(directory / spec)


def load_study(directory: Path) -> optuna.Study:
    meta = read_meta(directory)
    spec = storage_of(directory, meta)
    if not is_url(spec) and not Path(spec).exists():
        raise FileNotFoundError(f"{directory}: the study's storage {spec} is missing")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = open_storage(spec)
    except ConfigError as e:  # a URL in meta.json that no longer opens
        raise ConfigError(f"{directory}: {e}") from None
    return optuna.load_study(study_name=meta["study"], storage=storage)


def export(directory: Path, fmt: str | None = None) -> list[Path]:
    """Rebuild ``trials`` and ``curves`` from the storage alone; returns the paths written."""
    meta = read_meta(directory)
    study = load_study(directory)
    fmt = fmt or meta.get("format", "auto")
    return write_tables(study.get_trials(deepcopy=False), tuple(meta["metrics"]), directory, fmt)[2]


def export_if_missing(directory: Path) -> bool:
    """Write the tables from the study's storage if they are missing (a run
    before its first checkpoint, or one killed before it); True if written.
    Nothing is done where the storage is missing too."""
    if table_file(directory, "trials") and table_file(directory, "curves"):
        return False
    try:
        export(directory)
    except FileNotFoundError:  # no storage either: load's own error says what is missing
        return False
    return True


def status_text(directory: Path) -> str:
    """Trials by state (and by host), the best trial, time spent."""
    meta = read_meta(directory)
    try:
        study = load_study(directory)
        df = trials_frame(study.get_trials(deepcopy=False), tuple(meta["metrics"]))
        source = shown(storage_of(directory, meta))
        journal = not is_url(meta["storage"])
    except FileNotFoundError:
        df = read_table(directory, "trials")
        if df is None:
            raise
        source, journal = "the trials table (no storage)", False
    lines = [f"study {meta['study']} in {directory} (from {source})"]
    # a FAIL that never ended (interrupted, or lost with its host) runs again:
    # shown apart from the trials that failed
    shown_state = shown_states(df).str.lower()
    active = journal and run_active(directory)
    if journal and not active:
        # a journal study's RUNNING trials with no run alive were killed with
        # it (the next run marks them interrupted and runs them again)
        shown_state = shown_state.mask(df["state"] == "RUNNING", "interrupted")
    df = df.assign(shown=pd.Categorical(shown_state, categories=_STATES, ordered=True))
    by_state = df["shown"].value_counts()
    parts = [
        f"{by_state[s]} {'failed' if s == 'fail' else s}" for s in _STATES if by_state.get(s, 0)
    ]
    lines.append(f"trials: {len(df)}" + (f" ({', '.join(parts)})" if parts else ""))
    budget = meta.get("budget", {})  # the last run's (absent in older results)
    # "grid": the grid's points, where they are the budget (fewer than n_trials)
    n_trials, points = budget.get("n_trials"), budget.get("grid")
    what = ""
    if n_trials or points:
        cap = points or n_trials
        counted = int(df["shown"].isin(["complete", "pruned", "fail", "running"]).sum())
        running = int((df["shown"] == "running").sum())
        left = cap - counted
        what = f"{cap} trials"
        if points:
            what += ", the grid's points" + (f" (n_trials {n_trials})" if n_trials else "")
        if left > 0:
            what += f", {left} to go"
            if not active:
                what += " (run the same command again to resume)"
        else:
            what += f", every trial asked ({running} running)" if running else ", met"
    if budget.get("timeout"):
        what += ("; " if what else "") + f"timeout {budget['timeout']:g} s a run"
    if what:
        lines.append(f"budget: {what}")
    ended = df.loc[df["shown"].isin(["interrupted", "lost"]), "number"]
    # not run again since: no later trial of the configuration has run (a
    # queued copy, WAITING, has not), as the runner's pending_reruns counts
    ran_again = df.loc[df["state"] != "WAITING", "rerun_of"].dropna()
    pending = len(set(ended) - set(ran_again))
    if pending:
        lines.append(f"  ({pending} interrupted or lost will run again when the study resumes)")
    if why := failure_line(df):
        lines.append(why)
    for col in ("host", "worker"):  # by host, and by worker process when several ran
        named = df[df[col] != ""]
        if named[col].nunique() > 1:
            per = named.groupby(col, observed=True)["shown"].value_counts().unstack(fill_value=0)
            lines.append(f"by {col}:")
            for who, row in per.iterrows():
                lines.append(f"  {who}: " + ", ".join(f"{n} {s}" for s, n in row.items() if n))
    done = df[df["state"] == "COMPLETE"]
    metric = meta["metrics"][0]
    if len(done):
        asc = meta["directions"][0] == "minimize"
        best = done.sort_values(["value", "number"], ascending=[asc, True]).iloc[0]
        hp = ", ".join(
            f"{k} {_fmt(best[k])}"
            for k in meta.get("searched", [])
            if k in best and not pd.isna(best[k])
        )
        lines.append(
            f"best: trial {best['number']}, {metric} = {best['value']:.6g}"
            + (f" ({hp})" if hp else "")
        )
    else:
        lines.append("best: no complete trial yet")
    train = df["train_seconds"].sum()
    if len(df) and df["datetime_start"].notna().any():
        wall = (df["datetime_complete"].max() - df["datetime_start"].min()).total_seconds()
        lines.append(f"time: {train:.1f} s of training, {wall:.1f} s from first start to last end")
    return "\n".join(lines)


_STATES = [s.lower() for s in STATES]


def failure_line(trials: pd.DataFrame) -> str | None:
    """``failed: adam diverged 4 (lr 0.5-0.9), ...``: why trials failed, by
    optimizer and cause, and at which learning rates; None if none did
    (interrupted and lost trials are not failures, see :func:`~.analysis.failures`)."""
    fails = failures(trials)
    if not len(fails):
        return None
    return "failed: " + ", ".join(
        f"{r.optimizer} {r.cause} {r.n}{_lr_range(r)}" for r in fails.itertuples()
    )


def _lr_range(r) -> str:
    """`` (lr 0.3-2)`` of a :func:`~.analysis.failures` row (`` (lr 2)`` for one value)."""
    if pd.isna(r.lr_low):
        return ""
    lo, hi = _fmt(r.lr_low), _fmt(r.lr_high)
    return f" (lr {lo})" if lo == hi else f" (lr {lo}-{hi})"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
