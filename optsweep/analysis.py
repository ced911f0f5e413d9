"""Analysis of result tables: pandas in, pandas out, nothing drawn.

Every function takes the ``trials`` and/or ``curves`` tables of
:func:`optsweep.load` (or hand-built frames with the same columns) and
returns a DataFrame. Empty or degenerate input (no complete trial, one trial,
a parameter that never applied) gives an empty frame with the right columns,
not an exception.

The questions are the seed's: which optimizer wins and by how much, what the
batch size trades (batch 1 loses vectorisation, the full batch makes slow
progress per epoch), what learning-rate decay buys, and how sensitive each
optimizer is to its learning rate and betas.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings

import numpy as np
import pandas as pd

from .config import BETAS, HPARAMS
from .results import INTERRUPTED, LOST

log = logging.getLogger(__name__)

#: Trial states as counted: Optuna's, with the FAILs that never ended apart
#: (:func:`shown_states`)
STATES = ("COMPLETE", "PRUNED", "FAIL", "INTERRUPTED", "LOST", "RUNNING", "WAITING")
#: Hyperparameters summarised by value; the others are binned on a log scale.
DISCRETE = ("optimizer", "batch_size", "schedule", "interval")


def minimizes(trials: pd.DataFrame, minimize: bool | None = None) -> bool:
    """Whether lower values are better: ``minimize`` when given, else the
    study's first direction, which :func:`optsweep.load` keeps in
    ``trials.attrs["directions"]`` (so that a notebook need not repeat it),
    else False (a hand-built table: larger is better)."""
    if minimize is not None:
        return bool(minimize)
    directions = trials.attrs.get("directions") or ["maximize"]
    return directions[0] == "minimize"


def complete(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that finished with a value."""
    return trials[(trials["state"] == "COMPLETE") & trials["value"].notna()]


def _rank(df: pd.DataFrame, minimize: bool) -> pd.DataFrame:
    return df.sort_values(["value", "number"], ascending=[minimize, True], kind="mergesort")


def shown_states(trials: pd.DataFrame) -> pd.Series:
    """Each trial's state, with a FAIL that never ended apart from a trial
    that failed: ``INTERRUPTED`` (Ctrl-C or a kill) or ``LOST`` (with its
    host). Both run again, with the same seed, when the study resumes
    (:func:`optsweep.results.unfinished`)."""
    state = trials["state"]
    if "reason" in trials:
        state = state.mask(trials["reason"] == INTERRUPTED, "INTERRUPTED")
        state = state.mask(trials["reason"] == LOST, "LOST")
    return state


def state_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials by state (:func:`shown_states`): columns ``state`` and ``count``
    (every state listed)."""
    counts = shown_states(trials).value_counts() if len(trials) else pd.Series(dtype="int64")
    return pd.DataFrame({"state": list(STATES), "count": [int(counts.get(s, 0)) for s in STATES]})


def searched_params(trials: pd.DataFrame) -> list[str]:
    """Hyperparameters that vary across the trials (in :data:`HPARAMS` order)."""
    out = []
    for p in HPARAMS:
        if p in trials and trials[p].dropna().nunique() > 1:
            out.append(p)
    return out


def best_per_optimizer(trials: pd.DataFrame, minimize: bool | None = None) -> pd.DataFrame:
    """The best complete trial of each optimizer, best first.

    Columns: ``optimizer``, ``number``, ``value``, ``gap`` (distance to the
    overall best, in the metric's units), the searched hyperparameters that
    apply to it, ``train_seconds``, ``seconds_per_epoch``. ``minimize``:
    see :func:`minimizes`.
    """
    minimize = minimizes(trials, minimize)
    params = [p for p in searched_params(trials) if p != "optimizer"]
    cols = ["optimizer", "number", "value", "gap", *params, "train_seconds", "seconds_per_epoch"]
    done = complete(trials)
    if done.empty:
        return pd.DataFrame(columns=cols)
    best = _rank(done, minimize).groupby("optimizer", sort=False).head(1)
    best = best.assign(gap=(best["value"] - best["value"].iloc[0]).abs())
    return best[cols].reset_index(drop=True)


def without_complete(trials: pd.DataFrame) -> pd.DataFrame:
    """The optimizers tried that have no complete trial, which
    :func:`best_per_optimizer` cannot list. Columns: ``optimizer``,
    ``pruned``, ``failed`` (interrupted and lost trials are neither) and
    ``trials``, the two in words (``"3 pruned, 1 failed"``)."""
    cols = ["optimizer", "pruned", "failed", "trials"]
    state = shown_states(trials)
    ended = trials.assign(state=state)[state.isin(["PRUNED", "FAIL"])]
    ended = ended[~ended["optimizer"].isin(complete(trials)["optimizer"])]
    if ended.empty:
        return pd.DataFrame(columns=cols)
    n = pd.crosstab(ended["optimizer"], ended["state"]).reindex(
        columns=["PRUNED", "FAIL"], fill_value=0
    )
    out = pd.DataFrame({"pruned": n["PRUNED"], "failed": n["FAIL"]}).rename_axis("optimizer")
    words = [
        ", ".join(f"{k} {w}" for k, w in ((p, "pruned"), (f, "failed")) if k)
        for p, f in zip(out["pruned"], out["failed"])
    ]
    return out.assign(trials=words).reset_index()[cols]


def failed(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that failed (diverged or raised), not those interrupted or lost."""
    return trials[shown_states(trials) == "FAIL"]


def failures(trials: pd.DataFrame) -> pd.DataFrame:
    """Failed trials by optimizer and cause, most first.

    ``cause`` is ``diverged`` (a non-finite loss or one far above its start)
    or the exception a trial raised. Columns: ``optimizer``, ``cause``, ``n``,
    ``lr_low`` and ``lr_high`` (the learning rates they had), ``trials`` (up
    to ten numbers) and ``example`` (the first one's reason).
    """
    cols = ["optimizer", "cause", "n", "lr_low", "lr_high", "trials", "example"]
    bad = failed(trials).sort_values("number")
    if bad.empty:
        return pd.DataFrame(columns=cols)
    reason = bad["reason"].fillna("").astype(str)
    cause = reason.str.split(":", n=1).str[0].str.replace(r" at epoch \d+$", "", regex=True)
    bad = bad.assign(cause=cause.where(cause != "", "unknown"), reason=reason)
    lr = bad["lr"].astype(float) if "lr" in bad else pd.Series(np.nan, index=bad.index)
    g = bad.assign(lr=lr).groupby(["optimizer", "cause"], sort=True, dropna=False)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "lr_low": g["lr"].min(),
            "lr_high": g["lr"].max(),
            "trials": g["number"].agg(
                lambda n: ", ".join(map(str, n.iloc[:10])) + (", ..." if len(n) > 10 else "")
            ),
            "example": g["reason"].first(),
        }
    ).reset_index()
    return out.sort_values("n", ascending=False, kind="mergesort").reset_index(drop=True)[cols]


def _bins(values: pd.Series, log: bool) -> pd.Series:
    """Bins labelled ``low-high``: decade-aligned on a log scale (half decades
    when the range spans three decades or fewer), else five equal widths."""
    v = values.astype(float)
    if log and (v > 0).all():
        lo, hi = math.floor(np.log10(v.min())), math.ceil(np.log10(v.max()))
        hi = max(hi, lo + 1)
        per = 2 if hi - lo <= 3 else 1
        edges = 10.0 ** np.linspace(lo, hi, (hi - lo) * per + 1)
        fmt = "{:.2g}"
    else:
        edges = np.linspace(v.min(), v.max(), 6)
        if edges[0] == edges[-1]:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        fmt = "{:.3g}"
    labels = [f"{fmt.format(a)}-{fmt.format(b)}" for a, b in itertools.pairwise(edges)]
    return pd.cut(v, edges, labels=labels, include_lowest=True)


def param_summary(trials: pd.DataFrame, param: str, minimize: bool | None = None) -> pd.DataFrame:
    """Metric by value (or log-scale bin) of one hyperparameter: by value for
    a discrete one or one with at most five values (a list of choices), else
    by bins (of ``1 - beta`` for a beta).

    Columns: the value or bin, named after the hyperparameter (``lr``;
    ``one_minus_beta1`` for bins of ``1 - beta1``), ``n``, ``best``,
    ``median``, ``spread`` (interquartile range), ``median_seconds_per_epoch``.
    Only the complete trials in which the hyperparameter applied are used
    (none: an empty table); a name that is neither a hyperparameter nor a column
    raises ``KeyError``. ``minimize``: see :func:`minimizes`.
    """
    if param not in trials.columns and param not in HPARAMS:  # a typo, not an unused one
        known = ", ".join(h for h in HPARAMS if h in trials.columns)
        raise KeyError(
            f"param {param!r} is not a column of the trials table (hyperparameters: {known})"
        )
    minimize = minimizes(trials, minimize)
    name = param  # of the first column
    stats = ["n", "best", "median", "spread", "median_seconds_per_epoch"]
    done = complete(trials)
    if param not in done or done[param].dropna().empty:  # not searched, or never applied
        return pd.DataFrame(columns=[name, *stats])
    done = done[done[param].notna()]
    if param in DISCRETE:
        key = done[param]
    elif done[param].nunique() <= 5:  # a list of choices (lr = [0.01, 0.1]): its values
        key = done[param].map("{:.4g}".format).rename(param)
        key = pd.Categorical(key, categories=[f"{v:.4g}" for v in sorted(done[param].unique())])
    elif param in BETAS:  # betas: bins of 1 - beta on a log scale, as they are sampled
        key = _bins(1 - done[param].astype(float), log=True)
        name = f"one_minus_{param}"
    else:
        key = _bins(done[param], log=True)
    g = done.groupby(key, observed=True, sort=True)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "best": g["value"].min() if minimize else g["value"].max(),
            "median": g["value"].median(),
            "spread": g["value"].quantile(0.75) - g["value"].quantile(0.25),
            "median_seconds_per_epoch": g["seconds_per_epoch"].median(),
        }
    )
    out.index = out.index.astype(str)
    return out.rename_axis(name).reset_index()[[name, *stats]]


def loss_target(
    curves: pd.DataFrame,
    target: float | None = None,
    factor: float = 1.5,
    loss: str = "train_loss",
    groups: pd.Series | None = None,
) -> float:
    """The loss to reach: ``target`` if given, else ``factor`` times the best
    (lowest) epoch loss found in any trial; with ``groups`` (a group per
    trial number, such as its batch size), ``factor`` times the middle one
    (the lower of two) of the groups' best losses, so that at least half of
    the groups reach it. The best loss of a study alone can be one trial's
    luck: on data that a network separates, a loss falls without end
    (8e-11 in the digits sweep, where the other batch sizes' best were 9e-9
    to 6e-3) and nothing else reaches 1.5 times it."""
    if target is not None:
        return float(target)
    finite = curves[np.isfinite(curves[loss])] if len(curves) else curves
    if finite.empty:
        return float("nan")
    best = finite.groupby("trial")[loss].min()
    if groups is not None:
        best = best.groupby(groups.reindex(best.index)).min().sort_values()
        return float(best.iloc[(len(best) - 1) // 2] * factor) if len(best) else float("nan")
    return float(best.min() * factor)


def time_to_target(curves: pd.DataFrame, target: float, loss: str = "train_loss") -> pd.DataFrame:
    """Per trial: the first epoch (counted from 1) and the seconds at which
    ``loss`` is at or below ``target``; NaN where never reached."""
    cols = ["trial", "epochs_to_target", "seconds_to_target", "updates_to_target"]
    if curves.empty:
        return pd.DataFrame(columns=cols)
    hit = curves[curves[loss] <= target]
    first = hit.sort_values(["trial", "epoch"]).groupby("trial").head(1).set_index("trial")
    out = pd.DataFrame(index=pd.Index(sorted(curves["trial"].unique()), name="trial"))
    out["epochs_to_target"] = (first["epoch"] + 1).astype("float64")
    out["seconds_to_target"] = first["seconds"]
    out["updates_to_target"] = first["updates"].astype("float64")
    return out.reset_index()[cols]


def batch_tradeoff(
    trials: pd.DataFrame,
    curves: pd.DataFrame,
    target: float | None = None,
    factor: float = 1.5,
    loss: str = "train_loss",
) -> pd.DataFrame:
    """The batch-size trade-off, one row per batch size.

    Columns: ``batch_size``, ``n`` (trials), ``seconds_per_epoch`` and
    ``updates_per_epoch`` (medians), ``reached`` (trials that reached the
    target loss), ``epochs_to_target`` and ``seconds_to_target`` (medians
    over those), ``final_metric`` (best final value of the study metric among
    complete trials), and ``target`` (the loss used: ``target``, or ``factor``
    times the middle one of the batch sizes' best losses; see :func:`loss_target`).
    All trials with a curve count, pruned ones included: they did train.
    """
    cols = [
        "batch_size",
        "n",
        "seconds_per_epoch",
        "updates_per_epoch",
        "reached",
        "epochs_to_target",
        "seconds_to_target",
        "final_metric",
        "target",
    ]
    if trials.empty or curves.empty or trials["batch_size"].dropna().empty:
        return pd.DataFrame(columns=cols)
    goal = loss_target(curves, target, factor, loss, trials.set_index("number")["batch_size"])
    ttt = time_to_target(curves, goal, loss)
    t = trials[trials["epochs_run"].fillna(0) > 0].merge(
        ttt, left_on="number", right_on="trial", how="left"
    )
    t = t.assign(updates_per_epoch=t["updates"] / t["epochs_run"])
    g = t.groupby("batch_size", sort=True)
    done = complete(t)
    out = pd.DataFrame(
        {
            "n": g.size(),
            "seconds_per_epoch": g["seconds_per_epoch"].median(),
            "updates_per_epoch": g["updates_per_epoch"].median(),
            "reached": g["epochs_to_target"].count(),
            "epochs_to_target": g["epochs_to_target"].median(),
            "seconds_to_target": g["seconds_to_target"].median(),
            "final_metric": done.groupby("batch_size")["value"].max() if not done.empty else np.nan,
        }
    )
    out["target"] = goal
    return out.rename_axis("batch_size").reset_index()[cols]


def schedule_effect(trials: pd.DataFrame, minimize: bool | None = None) -> pd.DataFrame:
    """What decay buys: :func:`param_summary` of ``schedule``, with the gap of
    each schedule's best to the constant rate's best (positive = better)."""
    minimize = minimizes(trials, minimize)
    s = param_summary(trials, "schedule", minimize)
    if s.empty:
        return s.assign(gain_over_constant=pd.Series(dtype=float))
    const = s.loc[s["schedule"] == "constant", "best"]
    base = const.iloc[0] if len(const) else np.nan
    gain = (base - s["best"]) if minimize else (s["best"] - base)
    return s.assign(gain_over_constant=gain)


def metric_range(metric: str, meta: dict) -> tuple[float, float]:
    """The values ``metric`` can take: an accuracy [0, 1], an R^2 at most 1,
    a loss or a time at least 0 (``meta``: the study's, for its output head)."""
    if metric.endswith("_metric"):
        linear = meta.get("model", {}).get("head") == "linear"
        return (-math.inf, 1.0) if linear else (0.0, 1.0)
    if metric.endswith("_loss") or metric == "train_seconds":
        return (0.0, math.inf)
    return (-math.inf, math.inf)


def confirmation_summary(
    runs: pd.DataFrame,
    trials: pd.DataFrame | None = None,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> pd.DataFrame:
    """Mean, standard deviation and 95% confidence interval per configuration.

    ``runs`` has one row per retraining: ``number`` (the configuration's
    trial) and ``value``. The interval is ``mean +/- t(0.975, n - 1) * sd /
    sqrt(n)`` (Student's t), cut to ``bounds``, the values the metric can
    take (:func:`metric_range`): the mean lies there, so the cut interval
    still covers it as often (an accuracy's interval [0.89, 1.09] from two
    runs is [0.89, 1]). With ``trials``, each configuration's ``optimizer``
    and ``search_value`` (what its trial found: the top trials of a search
    are, on average, luckier than their configuration) come first.
    """
    cols = ["number", "n", "mean", "std", "ci_low", "ci_high"]
    if trials is not None:
        cols[1:1] = ["optimizer", "search_value"]
    ok = runs[runs["value"].notna()] if len(runs) else runs
    if ok.empty:
        return pd.DataFrame(columns=cols)
    g = ok.groupby("number", sort=False)["value"]
    out = pd.DataFrame({"n": g.size(), "mean": g.mean(), "std": g.std(ddof=1)})
    half = [
        t_quantile(n - 1) * s / math.sqrt(n) if n > 1 else np.nan
        for n, s in zip(out["n"], out["std"].fillna(0))
    ]
    out["ci_low"] = np.maximum(out["mean"] - half, bounds[0])
    out["ci_high"] = np.minimum(out["mean"] + half, bounds[1])
    out = out.reset_index()
    if trials is not None:
        found = trials.set_index("number")
        out["optimizer"] = out["number"].map(found["optimizer"])
        out["search_value"] = out["number"].map(found["value"])
    return out[cols]


# Student's t 0.975 quantiles for 1..30 degrees of freedom (standard tables)
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return float("nan")
    return _T975[df - 1] if df <= len(_T975) else 1.96 + 2.4 / df  # Cornish-Fisher tail


#: The fewest complete trials a scope of :func:`importances` needs.
MIN_IMPORTANCE_TRIALS = 6


def importances(
    trials: pd.DataFrame, minimize: bool | None = None, by_optimizer: bool = True
) -> pd.DataFrame:
    """Hyperparameter importances by Optuna's default evaluator (PED-ANOVA,
    which needs no scikit-learn), for the whole study and per optimizer.

    The study is rebuilt in memory from the trials table, so this works on a
    copied results directory. Columns: ``scope`` (``all``, an optimizer, or
    ``decaying schedules``), ``param``, ``importance`` and ``n`` (the scope's
    complete trials); ``all`` first (and alone when one optimizer was tried),
    each scope's parameters most important first. A hyperparameter is ranked
    in a scope whose every trial has it: the betas in their optimizers', the
    decay rate in ``decaying schedules`` (the trials with one), when some
    trials ran at a constant rate. Scopes with fewer than
    :data:`MIN_IMPORTANCE_TRIALS` complete trials are left out.
    ``minimize``: see :func:`minimizes`.
    """
    minimize = minimizes(trials, minimize)
    cols = ["scope", "param", "importance", "n"]
    done = complete(trials)
    rows = []
    scopes = [("all", done)]
    if by_optimizer and "optimizer" in done and done["optimizer"].nunique() > 1:
        scopes += [(o, g) for o, g in done.groupby("optimizer", sort=True)]
    if "decay_rate" in done and done["decay_rate"].isna().any():
        scopes.append(("decaying schedules", done[done["decay_rate"].notna()]))
    for scope, df in scopes:
        for param, value in _importance(df, minimize).items():  # most important first
            rows.append((scope, param, value, len(df)))
    return pd.DataFrame(rows, columns=cols)


def _importance(df: pd.DataFrame, minimize: bool) -> dict[str, float]:
    with warnings.catch_warnings():
        # Optuna imports tqdm.auto, which warns in a notebook without ipywidgets
        # ("IProgress not found"): about progress bars no importance draws
        warnings.filterwarnings("ignore", message="IProgress not found")
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution

    params = [p for p in searched_params(df) if df[p].notna().all()]
    if len(df) < MIN_IMPORTANCE_TRIALS or not params:
        return {}
    dists = {}
    for p in params:
        v = df[p]
        if p in ("optimizer", "schedule"):
            dists[p] = CategoricalDistribution(sorted(v.unique()))
        elif p in BETAS:
            dists[p] = FloatDistribution(float(v.min()), float(v.max()))
        else:
            positive = bool((v > 0).all())
            dists[p] = FloatDistribution(float(v.min()), float(v.max()), log=positive)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize" if minimize else "maximize")
    columns = {
        p: df[p].tolist() if p in ("optimizer", "schedule") else df[p].astype(float).tolist()
        for p in params
    }
    study.add_trials(
        optuna.trial.create_trial(
            params={p: columns[p][i] for p in params}, distributions=dists, value=value
        )
        for i, value in enumerate(df["value"].astype(float).tolist())
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        log.info("no importances: %s", e)
        return {}


def pareto_front(trials: pd.DataFrame, metrics: list[str], directions: list[str]) -> pd.DataFrame:
    """The complete trials that no other complete trial beats on every metric.

    Returns the trials with a boolean column ``pareto`` (all complete trials).
    """
    cols = [f"value_{m}" for m in metrics]
    done = trials[(trials["state"] == "COMPLETE")].dropna(subset=cols)
    if done.empty:
        return done.assign(pareto=pd.Series(dtype=bool))
    sign = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    v = done[cols].to_numpy(dtype=float) * sign  # all minimised
    dominated = np.zeros(len(v), dtype=bool)
    for i in range(len(v)):
        better_eq = (v <= v[i]).all(axis=1)
        strictly = (v < v[i]).any(axis=1)
        dominated[i] = bool((better_eq & strictly).any())
    return done.assign(pareto=~dominated)
