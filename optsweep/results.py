"""Result tables: every trial and every epoch as pandas DataFrames.

A results directory ``results/NAME/`` holds::

    study.journal      the Optuna study (default storage; the source of truth)
    study.journal.flock  its writers' lock (an flock; safe to delete between runs)
    meta.json          study name, storage, metrics and directions, data summary
    sweep.toml         a copy of the sweep file
    trials.parquet     one row per trial     (or trials.csv without pyarrow)
    curves.parquet     one row per trial and epoch
    models/            the best trials' weights, ``trial_NNNNN.npz``
    report/            plots and report.md / report.html

Tables are rebuilt from the storage alone (``optsweep export``): each trial
keeps two user attributes, each written once: ``task`` when it is asked (the
``hparams`` the engine used, its training ``seed`` and the ``worker``), and
``result`` when it ends, a JSON string (its per-epoch curve, ``final``
numbers, seconds, updates, host and the ``reason`` it failed or was pruned;
a string, so that Optuna copies and logs it as one value). The curve's
columns are the base64 of their little-endian float64 bytes (``curve_f8``,
:func:`encode_curve`): twenty times faster to write and read than JSON lists
of numbers, which an export of a large sweep spends most of its time on
(``curve``, JSON lists, is read as well). A re-run carries
``rerun_of``, an interrupted trial ``reason``. Tables are written atomically
(temporary file, then rename) and read back without pickle.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .config import HPARAMS
from .engine import HISTORY_COLUMNS, Network
from .errors import OptsweepError

if TYPE_CHECKING:  # Optuna is imported where a study is read, not to load tables
    import optuna

TRIAL_COLUMNS = (
    "number",
    "state",
    "value",
    *HPARAMS,
    "seed",
    "epochs_run",
    "train_loss",
    "train_metric",
    "val_loss",
    "val_metric",
    "train_seconds",
    "seconds_per_epoch",
    "updates",
    "reason",
    "rerun_of",
    "host",
    "worker",
    "datetime_start",
    "datetime_complete",
)
CURVE_COLUMNS = ("trial", *HISTORY_COLUMNS)
_UMASK = os.umask(0)
os.umask(_UMASK)
_STR_COLUMNS = ("state", "optimizer", "schedule", "reason", "host", "worker")
_INT_COLUMNS = ("number", "seed", "epochs_run", "updates", "batch_size", "interval", "rerun_of")


INTERRUPTED = "interrupted"
#: the reason of a FAIL that never produced a result (its host died, or a kill)
LOST = "lost (no result)"


def unfinished(t: optuna.trial.FrozenTrial) -> bool:
    """A FAIL that never produced a told result: interrupted (Ctrl-C, kill) or
    lost (a dead host's stale heartbeat). Its configuration runs again; it does
    not count towards the budget.

    A trial told FAIL has a result with its reason (a divergence, an
    exception). One whose result was written but which was lost before the
    tell that follows (the host died between the two writes) has a result
    without a reason: it is lost too.
    """
    if t.state.name != "FAIL":
        return False
    if t.user_attrs.get("reason") == INTERRUPTED:
        return True
    return not result_of(t).get("reason")


def task_of(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's ``task`` attribute (hyperparameters, seed, worker), or {}.

    Studies written by optsweep 0.1.0 before this attribute kept the three
    as attributes of their own; they are read the same way."""
    ua = t.user_attrs
    if "task" in ua:
        return ua["task"]
    return {k: ua[k] for k in ("hparams", "seed", "worker") if k in ua}


def encode_curve(history: dict[str, Any]) -> dict[str, str]:
    """A trial's per-epoch columns as base64 strings of little-endian float64
    bytes (NaN and infinities kept as they are), for the ``result`` attribute."""
    return {
        c: base64.b64encode(np.asarray(v, dtype="<f8").tobytes()).decode("ascii")
        for c, v in history.items()
    }


def decode_curve(encoded: dict[str, str]) -> dict[str, np.ndarray]:
    """The inverse of :func:`encode_curve`: float64 arrays (read-only)."""
    return {c: np.frombuffer(base64.b64decode(s), dtype="<f8") for c, s in encoded.items()}


def result_of(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's ``result`` attribute decoded, or {} before it ends; its
    ``curve`` maps each history column to an array or a list."""
    r = t.user_attrs.get("result")
    if isinstance(r, dict):  # written as a dict before it was a string
        return {**r, "reason": t.user_attrs.get("reason", "")}
    if not isinstance(r, str):
        return {}
    res = json.loads(r)
    if "curve_f8" in res:
        res["curve"] = decode_curve(res.pop("curve_f8"))
    return res


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def tables(
    trials: Iterable[optuna.trial.FrozenTrial], metrics: tuple[str, ...] = ("value",)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`trials_frame` and :func:`curves_frame` of the same trials, each
    trial's result decoded once (the curves make it the costly part)."""
    decoded = [(t, result_of(t)) for t in trials]
    return _trials_frame(decoded, metrics), _curves_frame(decoded)


def trials_frame(
    trials: Iterable[optuna.trial.FrozenTrial], metrics: tuple[str, ...] = ("value",)
) -> pd.DataFrame:
    """One row per trial, from the storage's frozen trials (see module docstring)."""
    return _trials_frame(((t, result_of(t)) for t in trials), metrics)


def curves_frame(trials: Iterable[optuna.trial.FrozenTrial]) -> pd.DataFrame:
    """One row per trial and epoch (long format), from the trials' ``curve`` attribute."""
    return _curves_frame((t, result_of(t)) for t in trials)


_Decoded = Iterable[tuple["optuna.trial.FrozenTrial", dict[str, Any]]]


def _trials_frame(decoded: _Decoded, metrics: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for t, res in decoded:
        ua, task = t.user_attrs, task_of(t)
        hp = task.get("hparams", {})
        final = res.get("final", {})
        epochs = int(res.get("epochs_run", 0))
        secs = _num(res.get("train_seconds"))
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.values else float("nan"),
        }
        if len(metrics) > 1:
            for i, m in enumerate(metrics):
                row[f"value_{m}"] = t.values[i] if t.values else float("nan")
        for name in HPARAMS:
            row[name] = hp.get(name)
        row.update(
            seed=task.get("seed"),
            epochs_run=epochs,
            train_loss=_num(final.get("train_loss")),
            train_metric=_num(final.get("train_metric")),
            val_loss=_num(final.get("val_loss")),
            val_metric=_num(final.get("val_metric")),
            train_seconds=secs,
            seconds_per_epoch=secs / epochs if epochs else float("nan"),
            updates=res.get("updates"),
            # a FAIL with no reason of its own is unfinished (see unfinished)
            reason=ua.get("reason")
            or res.get("reason")
            or (LOST if t.state.name == "FAIL" else ""),
            rerun_of=ua.get("rerun_of"),
            host=res.get("host", ""),
            worker=task.get("worker", ""),
            datetime_start=t.datetime_start,
            datetime_complete=t.datetime_complete,
        )
        rows.append(row)
    cols = list(TRIAL_COLUMNS)
    if len(metrics) > 1:
        cols[3:3] = [f"value_{m}" for m in metrics]
    return _typed(pd.DataFrame(rows, columns=cols))


def _curves_frame(decoded: _Decoded) -> pd.DataFrame:
    cols: dict[str, list[np.ndarray]] = {c: [] for c in CURVE_COLUMNS}
    for t, res in decoded:
        curve = res.get("curve")
        if not curve or len(curve.get("epoch", ())) == 0:
            continue
        cols["trial"].append(np.full(len(curve["epoch"]), t.number))
        for c in HISTORY_COLUMNS:  # None (a missing value in JSON) becomes NaN
            cols[c].append(np.array(curve[c], dtype=np.float64))
    return _typed(pd.DataFrame({c: np.concatenate(v) if v else [] for c, v in cols.items()}))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Sensible dtypes: nullable integers, pandas' ``str`` for text (``""`` where
    absent), float elsewhere (NaN where absent, e.g. a beta its optimizer lacks)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if c in _STR_COLUMNS:
            # "" = none, the same after a CSV round trip (which reads empty as NaN)
            out[c] = s.astype(object).where(s.notna(), "").astype("str")
        elif c in _INT_COLUMNS or c in ("trial", "epoch"):
            out[c] = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif c.startswith("datetime"):
            out[c] = pd.to_datetime(s)
        else:
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
    return pd.DataFrame(out, columns=df.columns)


# --- files ---------------------------------------------------------------------------


def parquet_available() -> bool:
    """Whether pyarrow, which pandas reads and writes Parquet with, is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_format(fmt: str) -> str:
    """``auto``: Parquet when pyarrow is installed, else CSV."""
    if fmt != "auto":
        return fmt
    return "parquet" if parquet_available() else "csv"


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_tables(
    trials: Iterable[optuna.trial.FrozenTrial], metrics: tuple[str, ...], directory: Path, fmt: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[Path]]:
    """Build the ``trials`` and ``curves`` tables of ``trials`` (:func:`tables`)
    and write both (:func:`write_table`); the tables and the paths written."""
    tdf, cdf = tables(trials, metrics)
    paths = [write_table(tdf, directory, "trials", fmt), write_table(cdf, directory, "curves", fmt)]
    return tdf, cdf, paths


def write_table(df: pd.DataFrame, directory: Path, name: str, fmt: str) -> Path:
    """Write ``df`` as ``directory/name.parquet`` or ``.csv``, atomically; remove
    a stale table of the other format."""
    fmt = resolve_format(fmt)
    path = directory / f"{name}.{fmt}"
    if fmt == "parquet":
        # dictionary-encode the text columns only: on float columns it costs
        # time (300k curve rows: 45 ms against 18 ms) for nothing
        text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False, use_dictionary=text))
    else:
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    other = directory / f"{name}.{'csv' if fmt == 'parquet' else 'parquet'}"
    if other.exists():
        other.unlink()
    return path


def table_file(directory: Path, name: str) -> Path | None:
    """``directory``'s ``name.parquet``, else its ``name.csv``; None if neither exists."""
    for fmt in ("parquet", "csv"):
        if (path := directory / f"{name}.{fmt}").exists():
            return path
    return None


def read_table(directory: Path, name: str) -> pd.DataFrame | None:
    """Read ``name.parquet`` or ``name.csv`` from ``directory``; None if neither exists."""
    path = table_file(directory, name)
    if path is None:
        return None
    if path.suffix == ".parquet" and not parquet_available():
        # results made elsewhere, read where pyarrow is missing
        raise OptsweepError(
            f"{path}: reading Parquet needs pyarrow: pip install 'optsweep[parquet]'"
        )
    read = pd.read_parquet if path.suffix == ".parquet" else pd.read_csv
    try:
        df = read(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OptsweepError(
            f"{path}: cannot be read as a table ({why}); `optsweep export {directory}` "
            "writes the tables again from the study's storage"
        ) from None
    return _typed(df)


def save_weights(directory: Path, number: int, state: dict[str, np.ndarray]) -> Path:
    path = directory / "models" / f"trial_{number:05d}.npz"
    atomic_write(path, lambda tmp: savez(tmp, state))
    return path


def savez(tmp: str, state: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **state)


def load_weights(directory: str | Path, number: int) -> dict[str, np.ndarray]:
    """A trial's saved weights (``W1``, ``b1``, ..., ``sizes``), without pickle."""
    path = Path(directory) / "models" / f"trial_{number:05d}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise OptsweepError(f"{path}: damaged, not a NumPy .npz file ({e})") from None


def scaling(entry: dict | None) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """A standardisation as ``meta.json`` keeps it (``{"mean": ..., "std": ...}``,
    per column) as two arrays; ``(None, None)`` where there was none."""
    if entry is None:
        return None, None
    mean, std = (np.atleast_1d(np.asarray(entry[k], dtype=np.float64)) for k in ("mean", "std"))
    return mean, std


@dataclass(frozen=True)
class Model:
    """A trial's saved network with what it needs to predict on raw inputs:
    the study's input scaling (fitted on its training part) and class names,
    or a regression's target scaling.

    Attributes
    ----------
    network : optsweep.engine.Network
        The trained network (on scaled inputs).
    trial : int
    mean, std : ndarray or None
        The standardisation ``(x - mean) / std`` of the inputs; None: none.
    classes : tuple of str or int
        The label of each class code (empty: the codes are the labels).
    features : tuple of str
        The input columns, in order (empty where the results do not say).
    y_mean, y_std : ndarray or None
        A regression's target standardisation: predictions are ``z * y_std +
        y_mean`` for the network's output ``z``; None: the targets were raw.
    """

    network: Network
    trial: int
    mean: np.ndarray | None
    std: np.ndarray | None
    classes: tuple[str | int, ...]
    features: tuple[str, ...] = ()
    y_mean: np.ndarray | None = None
    y_std: np.ndarray | None = None

    def __repr__(self) -> str:
        def listed(items: tuple) -> str:
            return ", ".join(map(str, items[:10])) + (", ..." if len(items) > 10 else "")

        net = self.network
        scaling = "raw" if self.mean is None else "standardised"
        inputs = f"{listed(self.features)} ({scaling})" if self.features else scaling
        return (
            f"<Model of trial {self.trial}: network {net.sizes} ({net.activation.name}, "
            f"{net.head.name} head), inputs {inputs}"
            + (f", classes {listed(self.classes)}" if self.classes else "")
            + (", targets standardised" if self.y_mean is not None else "")
            + ">"
        )

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = self.network.sizes[0]
        if X.ndim != 2 or X.shape[1] != n:
            raise ValueError(f"X must have shape (samples, {n}) (got {X.shape})")
        return X if self.mean is None else (X - self.mean) / self.std

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The output layer's activations on raw inputs: class probabilities
        (the positive class's for a sigmoid head) or, for a regression,
        values in the targets' units (one column per output)."""
        out = self.network.predict_proba(self._scaled(X))
        if self.network.head.task == "regression" and self.y_mean is not None:
            return out * self.y_std + self.y_mean
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (as in the data: names, or the original numbers) or,
        for a regression, values in the targets' units (one column per
        output; flat for one)."""
        if self.network.head.task == "regression":
            y = self.predict_proba(X)
            return y[:, 0] if y.shape[1] == 1 else y
        y = self.network.predict(self._scaled(X))
        return np.asarray(self.classes)[y] if self.classes else y


@dataclass(frozen=True)
class Results:
    """A results directory loaded for analysis.

    Attributes
    ----------
    trials : DataFrame
        One row per trial (:data:`TRIAL_COLUMNS`).
    curves : DataFrame
        One row per trial and epoch (:data:`CURVE_COLUMNS`).
    meta : dict
        Study name, metrics, directions, storage and data summary.
    path : Path
    """

    trials: pd.DataFrame
    curves: pd.DataFrame
    meta: dict
    path: Path

    @property
    def name(self) -> str:
        return self.meta.get("study", self.path.name)

    def __repr__(self) -> str:
        """One line, not two tables: what a notebook shows for ``optsweep.load(...)``."""
        states = self.trials["state"].value_counts() if len(self.trials) else {}
        counts = ", ".join(f"{n} {s.lower()}" for s, n in states.items())
        metrics = ", ".join(self.meta.get("metrics", []))
        return (
            f"<Results {self.name!r} at {str(self.path)!r}: {len(self.trials)} trials "
            f"({counts or 'none'}), {len(self.curves)} curve rows; metric {metrics}; "
            ".trials, .curves, .meta>"
        )

    def model(self, number: int | None = None) -> Model:
        """The saved network of trial ``number`` (default: the best trial),
        ready to predict on raw inputs (:class:`Model`). The weights of the
        best trial overall and of each optimizer's best are kept."""
        if number is None:
            done = self.trials[(self.trials["state"] == "COMPLETE") & self.trials["value"].notna()]
            if done.empty:
                raise ValueError(f"{self.path}: no complete trial, so no model")
            asc = self.meta["directions"][0] == "minimize"
            number = int(
                done.sort_values(["value", "number"], ascending=[asc, True])["number"].iloc[0]
            )
        path = Path(self.path) / "models" / f"trial_{number:05d}.npz"
        if not path.exists():
            kept = sorted(int(f.stem.split("_")[1]) for f in path.parent.glob("trial_*.npz"))
            shown = ", ".join(map(str, kept)) or "none"
            raise ValueError(f"{path}: no saved weights for trial {number} (kept: {shown})")
        data, model = self.meta.get("data", {}), self.meta.get("model", {})
        scaler, target = data.get("scaler"), data.get("target_scaler")
        if scaler is None and data.get("standardized", True):
            raise ValueError(
                f"{self.path}/meta.json does not hold the inputs' scaling (written by an older "
                "optsweep): run the study again (it resumes) to record it"
            )
        net = Network.from_state(
            load_weights(self.path, number), activation=model["activation"], head=model["head"]
        )
        return Model(
            net,
            number,
            *scaling(scaler),
            tuple(data.get("classes") or ()),
            tuple(data.get("features") or ()),
            *scaling(target),
        )


def _results_of(sweep_file: str | Path) -> str:
    """Where ``optsweep run`` puts a sweep file's results, by default."""
    import tomllib

    try:
        name = tomllib.loads(Path(sweep_file).read_text())["study"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        name = "NAME"
    return f"results/{name}/ (by default)"


def read_meta(directory: str | Path) -> dict:
    p = Path(directory) / "meta.json"
    if not p.exists():
        hint = ""
        if Path(directory).suffix == ".toml" and Path(directory).is_file():
            hint = f"; that is a sweep file, whose results are in {_results_of(directory)}"
        elif (Path(directory).parent / "meta.json").exists():  # a study's report/ or models/
            hint = f"; its study is {Path(directory).parent}"
        elif studies := _studies_in(directory):
            shown = ", ".join(studies[:5]) + (
                f" and {len(studies) - 5} more" if len(studies) > 5 else ""
            )
            hint = f"; it holds the studies {shown}: give one, e.g. {Path(directory) / studies[0]}"
        raise FileNotFoundError(f"{directory}: not a results directory (no meta.json){hint}")
    try:
        return json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise OptsweepError(
            f"{p}: damaged, not JSON ({e}); `optsweep run` writes it again for its sweep file"
        ) from None


def _studies_in(directory: str | Path) -> list[str]:
    """The names of the results directories in ``directory`` (such as the
    ``results/`` root that ``optsweep run`` writes to), sorted."""
    try:
        return sorted(p.parent.name for p in Path(directory).glob("*/meta.json"))
    except OSError:
        return []


def load(directory: str | Path) -> Results:
    """Load a results directory's tables (``optsweep.load("results/NAME")``).

    Works on a directory copied from another machine: only the files are read.
    """
    d = Path(directory)
    meta = read_meta(d)
    trials = read_table(d, "trials")
    curves = read_table(d, "curves")
    if trials is None or curves is None:
        raise FileNotFoundError(f"{d}: no trials/curves tables (run: optsweep export {d})")
    # the analysis functions read the study's directions here (which way is better)
    trials.attrs["directions"] = list(meta.get("directions", ["maximize"]))
    return Results(trials, curves, meta, d)
