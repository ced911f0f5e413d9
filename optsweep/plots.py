"""Figures: one function per plot, tables in, ``matplotlib.figure.Figure`` out
(a :class:`ShownFigure`, which a notebook shows as the plot).

Each figure has a ``*_data`` function that computes what is drawn (a plain
DataFrame, testable without images) and a ``plot_*`` function that draws it.
Figures are built without pyplot (no global state, no GUI backend), so they
render with Agg wherever they are saved. Empty data gives a figure that says
so instead of an exception.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import analysis as A
from .config import BETAS
from .results import scaling

OPTIMIZER_COLORS = {"gd": "#1f77b4", "momentum": "#ff7f0e", "rmsprop": "#2ca02c", "adam": "#d62728"}
STYLE = {
    "font.family": "DejaVu Sans",  # matplotlib's bundled font: the same pixels everywhere
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "figure.dpi": 100,
}
_LOSS_NAMES = {
    "sigmoid": "binary cross-entropy",
    "softmax": "cross-entropy",
    "linear": "squared error",
}


def color(optimizer: str) -> str:
    return OPTIMIZER_COLORS.get(optimizer, "#7f7f7f")


def fit_label(label: str, limit: int = 50) -> str:
    """``label`` broken into lines of at most ``limit`` characters where it
    can be, before a `` (`` or after a ``,`` or ``;`` (an axis label longer than its
    axis is clipped); a label that fits is left as it is."""
    lines = []
    while len(label) > limit:
        cuts = [m.start() for m in re.finditer(r" \(|[,;] ", label) if 0 < m.start() <= limit]
        if not cuts:
            break
        k = cuts[-1]
        lines.append(label[:k] + (label[k] if label[k] in ",;" else ""))
        label = label[k + 1 :].lstrip(" ")
    return "\n".join([*lines, label])


def metric_label(metric: str, meta: dict) -> str:
    """Axis label of a study metric, with its unit."""
    head = meta.get("model", {}).get("head", "sigmoid")
    kind = "R\u00b2" if head == "linear" else "accuracy (fraction correct)"
    part = "validation" if metric.startswith("val_") else "training"
    if metric.endswith("_metric"):
        return f"{part} {kind}"
    if metric.endswith("_loss"):
        name = _LOSS_NAMES.get(head, "loss")
        if meta.get("data", {}).get("target_scaler"):
            name += " of standardised targets"
        return f"{part} loss ({name})"
    if metric == "train_seconds":
        return "training time (s)"
    return metric


#: Where a plot's R^2 axis stops: R^2 = 1 - SSE/SST is -1 for predictions twice
#: as far off as the mean's, and a few trials far below (-1600 after too few
#: epochs) would flatten every useful difference.
R2_FLOOR = -1.0


def r2_floor(values: pd.Series, metric: str, meta: dict) -> float | None:
    """:data:`R2_FLOOR` where ``values`` are a regression's R^2 and some fall
    below it; else None (the axis shows every value)."""
    is_r2 = meta.get("model", {}).get("head") == "linear" and metric.endswith("_metric")
    return R2_FLOOR if is_r2 and (values < R2_FLOOR).any() else None


def scatter_floored(ax, x, values, floor: float | None, **kwargs) -> None:
    """``ax.scatter(x, values)``, values below ``floor`` drawn at it as
    downward triangles (the axis label says so, see :func:`floored_label`)."""
    x, values = np.asarray(x), np.asarray(values, dtype=float)
    low = values < floor if floor is not None else np.zeros(values.shape, bool)
    ax.scatter(x[~low], values[~low], **kwargs)
    if low.any():
        ax.scatter(x[low], np.full(low.sum(), floor), **{**kwargs, "marker": "v", "label": None})


def floor_axis(ax, values, floor: float | None) -> None:
    """The y axis from ``floor`` to the largest value (a line through lower
    values, such as a best-so-far, is cut at the floor)."""
    if floor is not None:
        top = max(float(np.nanmax(values)), floor)
        pad = 0.05 * (top - floor) or 0.05
        ax.set_ylim(floor - pad, top + pad)


def floored_label(label: str, floor: float | None) -> str:
    return label if floor is None else f"{label} (below {floor:g}: \u25bc at {floor:g})"


def spans_decades(values: pd.Series) -> bool:
    """Whether positive ``values`` (losses, seconds) span more than a factor
    of 20, so that a log axis shows them better than a linear one."""
    v = values.dropna()
    return len(v) > 0 and bool((v > 0).all()) and v.max() / v.min() > 20


def dots(points: int) -> dict:
    """Markers for a line of few points (``ax.plot`` keywords): a curve of
    one epoch is otherwise invisible, and of a few, hard to read."""
    return {"marker": "o", "ms": 4} if points <= 10 else {}


def log_axis(ax, which: str = "x", base: float = 10) -> None:
    """A log scale whose labels never collide: no minor labels; when the data
    span less than a decade, majors at 1, 2 and 5 times powers of ten, in
    plain notation."""
    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        ScalarFormatter,
    )

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log", base=base)
    axis.set_minor_formatter(NullFormatter())
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    if base == 10 and hi / lo < 100:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        fmt = ScalarFormatter()
        fmt.set_scientific(False)
        axis.set_major_formatter(fmt)
        k = np.floor(np.log10(lo))
        majors = np.outer(10.0 ** np.arange(k - 1, k + 4), (1.0, 2.0, 5.0)).ravel()
        # a major just outside the data's range is taken in, so that the
        # highest and lowest lines have a label near them
        above, below = majors[majors > hi], majors[majors < lo]
        if len(above) and above.min() / hi < 1.25:
            hi = above.min()
        if len(below) and lo / below.max() < 1.25:
            lo = below.max()
        (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
        if ((majors >= lo) & (majors <= hi)).sum() < 2:
            # narrower still (0.00033 to 0.00068 s): matplotlib then falls back to
            # linear ticks, as many as fit numbers like 0.0005, whose labels
            # collide; a few, with three significant digits
            axis.set_major_locator(MaxNLocator(nbins=3 if which == "x" else 5))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))


def _empty(fig: Figure, ax, text: str) -> Figure:
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    return fig


class ShownFigure(Figure):
    """A Figure that a Jupyter notebook shows as the plot. Built without
    pyplot, a plain Figure is shown as its text (``<Figure size ...>``),
    since IPython's matplotlib display hook comes with pyplot's backend."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def _new(ncols: int = 1, width: float = 6.4, height: float = 4.0, nrows: int = 1):
    fig = ShownFigure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


# --- optimisation history ---------------------------------------------------------------


def history_data(trials: pd.DataFrame, minimize: bool | None = None) -> pd.DataFrame:
    """Complete trials in order: ``number``, ``value``, ``optimizer``,
    ``best_so_far`` (``minimize``: see :func:`~.analysis.minimizes`)."""
    minimize = A.minimizes(trials, minimize)
    done = A.complete(trials).sort_values("number")
    best = done["value"].cummin() if minimize else done["value"].cummax()
    return pd.DataFrame(
        {
            "number": done["number"].to_numpy(),
            "value": done["value"].to_numpy(),
            "optimizer": done["optimizer"].to_numpy(),
            "best_so_far": best.to_numpy(),
        }
    )


def plot_history(trials: pd.DataFrame, meta: dict) -> Figure:
    """Metric of each complete trial, coloured by optimizer, and the best so far."""
    minimize = meta["directions"][0] == "minimize"
    d = history_data(trials, minimize)
    fig, (ax,) = _new()
    if d.empty:
        return _empty(fig, ax, "no complete trial")
    from matplotlib.ticker import MaxNLocator

    floor = r2_floor(d["value"], meta["metrics"][0], meta)
    for opt, g in d.groupby("optimizer", sort=True):
        kw = {"s": 18, "color": color(opt), "label": opt, "alpha": 0.8}
        scatter_floored(ax, g["number"], g["value"], floor, **kw)
    ax.step(d["number"], d["best_so_far"], where="post", color="black", lw=1.2, label="best so far")
    ax.set_xlabel("trial number")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no trial 0.25
    ylabel = floored_label(metric_label(meta["metrics"][0], meta), floor)
    floor_axis(ax, d["value"], floor)
    if spans_decades(d["value"]):  # losses
        log_axis(ax, "y")
        ylabel += ", log scale"
    ax.set_ylabel(fit_label(ylabel))
    ax.set_title(f"Optimization history ({len(d)} complete of {len(trials)} trials)")
    ax.legend(loc="best")
    return fig


# --- learning curves ----------------------------------------------------------------------


def best_trials(
    trials: pd.DataFrame, minimize: bool | None = None, by: str = "optimizer"
) -> pd.DataFrame:
    """The best complete trial of each value of ``by`` (``minimize``: see
    :func:`~.analysis.minimizes`)."""
    minimize = A.minimizes(trials, minimize)
    done = A.complete(trials)
    if done.empty:
        return done
    ranked = done.sort_values(["value", "number"], ascending=[minimize, True], kind="mergesort")
    return ranked.groupby(by, sort=True).head(1).sort_values(by)


def best_curves(
    trials: pd.DataFrame, curves: pd.DataFrame, minimize: bool | None = None
) -> pd.DataFrame:
    """The curves of the best trial of each optimizer, with columns
    ``optimizer`` and ``schedule`` added."""
    best = best_trials(trials, minimize)
    if best.empty:
        return curves.iloc[:0].assign(
            optimizer=pd.Series(dtype="str"), schedule=pd.Series(dtype="str")
        )
    keys = best[["number", "optimizer", "schedule"]].rename(columns={"number": "trial"})
    return curves.merge(keys, on="trial", how="inner")


def learning_curves_data(
    trials: pd.DataFrame,
    curves: pd.DataFrame,
    minimize: bool | None = None,
    column: str = "train_loss",
) -> pd.DataFrame:
    """Per-epoch ``column`` of the best trial of each optimizer (long format:
    ``optimizer``, ``trial``, ``epoch``, ``value``)."""
    d = best_curves(trials, curves, minimize)
    return d[["optimizer", "trial", "epoch", column]].rename(columns={column: "value"})


def plot_learning_curves(trials: pd.DataFrame, curves: pd.DataFrame, meta: dict) -> Figure:
    """The seed's cost-versus-epochs figure: training loss of each optimizer's best trial."""
    minimize = meta["directions"][0] == "minimize"
    d = learning_curves_data(trials, curves, minimize)
    fig, (ax,) = _new()
    if d.empty:
        return _empty(fig, ax, "no complete trial")
    # dashes of their own, so that curves that coincide (gd and momentum in the
    # seed's course run) are all seen
    styles = ["-", (0, (5, 3)), (0, (1, 2)), (0, (6, 2, 1, 2))]
    for i, ((opt, trial), g) in enumerate(d.groupby(["optimizer", "trial"], sort=True)):
        ax.plot(
            g["epoch"] + 1,
            g["value"],
            color=color(opt),
            ls=styles[i % len(styles)],
            lw=1.6,
            label=f"{opt} (trial {trial})",
            **dots(len(g)),
        )
    log_axis(ax, "y")
    ax.set_xlabel("epoch")
    ax.set_ylabel(fit_label(metric_label("train_loss", meta) + ", log scale"))
    ax.set_title("Learning curves of the best trial of each optimizer")
    ax.legend(loc="best")
    return fig


# --- batch size ----------------------------------------------------------------------------


def size_labels(sizes: Sequence[float]) -> list[str]:
    """Tick labels for batch sizes on a log2 axis: a size less than twice the
    one before it (the full batch after 256) goes a line lower, not on top of it."""
    return [
        ("\n" if i and b < 1.9 * sizes[i - 1] else "") + str(int(b)) for i, b in enumerate(sizes)
    ]


def batch_curves_data(trials: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Training-loss curves for the smallest, a middle and the largest batch
    size that trained: for each, its trial with the lowest final training loss.
    Long format: ``batch_size``, ``trial``, ``epoch``, ``updates``, ``seconds``, ``loss``."""
    cols = ["batch_size", "trial", "epoch", "updates", "seconds", "loss"]
    t = trials[trials["epochs_run"].fillna(0) > 0].dropna(subset=["batch_size"])
    if t.empty:
        return pd.DataFrame(columns=cols)
    sizes = sorted(t["batch_size"].unique())
    chosen = sorted({sizes[0], sizes[len(sizes) // 2], sizes[-1]})
    parts = []
    for b in chosen:
        g = t[t["batch_size"] == b].sort_values(["train_loss", "number"], na_position="last")
        n = g["number"].iloc[0]
        c = curves[curves["trial"] == n]
        parts.append(
            pd.DataFrame(
                {
                    "batch_size": b,
                    "trial": n,
                    "epoch": c["epoch"].to_numpy(),
                    "updates": c["updates"].to_numpy(dtype=float),
                    "seconds": c["seconds"].to_numpy(),
                    "loss": c["train_loss"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[cols]


def plot_batch_tradeoff(trials: pd.DataFrame, curves: pd.DataFrame, meta: dict) -> Figure:
    """The seed's picture: small batches make many noisy updates an epoch,
    the full batch one smooth update; by updates, by wall time, and the time
    each batch size needs to reach a common loss."""
    d = batch_curves_data(trials, curves)
    tab = A.batch_tradeoff(trials, curves)
    fig, axes = _new(ncols=3, width=13.5, height=4.0)
    if d.empty:
        return _empty(fig, axes[0], "no trial with a curve")
    n_train = meta.get("data", {}).get("n_train")
    cmap = {
        b: c for b, c in zip(sorted(d["batch_size"].unique()), ("#9467bd", "#17becf", "#1f77b4"))
    }
    for (b, trial), g in d.groupby(["batch_size", "trial"], sort=True):
        name = f"batch {b}" + (" (full)" if b == n_train else "") + f", trial {trial}"
        style = {"color": cmap[b], "lw": 1.3, "label": name, **dots(len(g))}
        axes[0].plot(g["updates"], g["loss"], **style)
        axes[1].plot(g["seconds"], g["loss"], **style)
    for ax, x in zip(axes[:2], ("parameter updates, log scale", "wall time (s), log scale")):
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(x)
        ax.set_ylabel(fit_label(metric_label("train_loss", meta) + ", log"))
        ax.legend(loc="best")
    axes[0].set_title("Loss against updates")
    axes[1].set_title("Loss against wall time")
    ok = tab.dropna(subset=["seconds_to_target"])
    ax = axes[2]
    if ok.empty:
        ax.text(
            0.5,
            0.5,
            "no trial reached the target loss",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        ax.plot(ok["batch_size"], ok["seconds_to_target"], "o-", color="black")
        ax.set_xscale("log", base=2)
        log_axis(ax, "y")
        sizes = ok["batch_size"].astype(float).tolist()
        ax.set_xticks(sizes, size_labels(sizes))
        ax.minorticks_off()
        # batch sizes none of whose trials reached the loss have no point: say which
        missed = [int(b) for b in tab.loc[tab["seconds_to_target"].isna(), "batch_size"]]
        note = ", ".join(f"{b}" + (" (full)" if b == n_train else "") for b in missed)
        ax.set_xlabel(
            "batch size, log2 scale" + (f"\nnot reached by batch {note}" if missed else "")
        )
        ax.set_ylabel("median seconds to the target loss, log scale")
    target = tab["target"].iloc[0] if len(tab) else float("nan")
    ax.set_title(f"Time to reach loss {target:.3g}")
    return fig


# --- sensitivity ------------------------------------------------------------------------------


def sensitivity_data(trials: pd.DataFrame) -> pd.DataFrame:
    """Long format for the sensitivity panels: ``param``, ``x`` (the learning
    rate, the decay rate, or ``1 - beta`` for a beta), ``value``, ``optimizer``,
    ``failed`` (a trial that diverged or raised: no value, but where it was)."""
    shown = pd.concat([A.complete(trials), A.failed(trials)]).sort_values("number")
    searched = A.searched_params(shown)
    parts = []
    for p in ("lr", "decay_rate", *BETAS):
        if p not in searched:
            continue
        g = shown[shown[p].notna()]
        x = 1 - g[p].astype(float) if p in BETAS else g[p].astype(float)
        parts.append(
            pd.DataFrame(
                {
                    "param": p,
                    "x": x.to_numpy(),
                    "value": g["value"].to_numpy(dtype=float),
                    "optimizer": g["optimizer"].to_numpy(),
                    "failed": (g["state"] != "COMPLETE").to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["param", "x", "value", "optimizer", "failed"])
    return pd.concat(parts, ignore_index=True)


_X_LABELS = {
    "lr": "initial learning rate, log scale",
    "decay_rate": "decay rate, log scale",
    **{b: f"1 - {b}, log scale" for b in BETAS},
}


def plot_sensitivity(trials: pd.DataFrame, meta: dict) -> Figure:
    """Metric against the learning rate, the decay rate and 1 - beta, by optimizer."""
    d = sensitivity_data(trials)
    params = list(dict.fromkeys(d["param"]))
    n = max(len(params), 1)
    ncols = min(n, 3)
    nrows = (n + ncols - 1) // ncols
    fig, axes = _new(ncols=ncols, nrows=nrows, width=4.4 * ncols, height=3.5 * nrows)
    if d.empty:
        return _empty(fig, axes[0], "no learning rate, decay or beta searched in finished trials")
    floor = r2_floor(d["value"], meta["metrics"][0], meta)
    ylabel = floored_label(metric_label(meta["metrics"][0], meta), floor)
    logy = spans_decades(d.loc[~d["failed"], "value"])  # losses, as on the history plot
    if logy:
        ylabel += ", log scale"
    # a failed trial has no value: an x at the panel's worse edge, where it was tried
    worse = 0.96 if meta["directions"][0] == "minimize" else 0.04
    for ax, p in zip(axes, params):
        g = d[d["param"] == p]
        for opt, h in g.groupby("optimizer", sort=True):
            ok, bad = h[~h["failed"]], h[h["failed"]]
            if len(ok):
                kw = {"s": 16, "color": color(opt), "label": opt, "alpha": 0.8}
                scatter_floored(ax, ok["x"], ok["value"], floor, **kw)
            if len(bad):
                ax.scatter(
                    bad["x"],
                    np.full(len(bad), worse),
                    s=22,
                    marker="x",
                    color=color(opt),
                    transform=ax.get_xaxis_transform(),
                    label=f"{opt} failed",
                )
        if not g["failed"].all():
            floor_axis(ax, g["value"], floor)
            if logy:
                log_axis(ax, "y")
        lo, hi = g["x"].min(), g["x"].max()  # the x markers do not widen the axis themselves
        if (g["x"] > 0).all():
            ax.set_xlim(lo / 1.3, hi * 1.3)
            log_axis(ax, "x")
        else:
            pad = 0.05 * (hi - lo) or 0.5
            ax.set_xlim(lo - pad, hi + pad)
        if g["failed"].all():
            ax.set_yticks([])
        elif g["failed"].any():  # a band below (or above) the values for the x markers
            y0, y1 = ax.get_ylim()
            if logy:  # a tenth of the span in decades, not in values (y0 - pad < 0)
                pad = (y1 / y0) ** 0.1
                ax.set_ylim(*((y0, y1 * pad) if worse > 0.5 else (y0 / pad, y1)))
            else:
                pad = 0.1 * (y1 - y0)
                ax.set_ylim(*((y0, y1 + pad) if worse > 0.5 else (y0 - pad, y1)))
        ax.set_xlabel(_X_LABELS.get(p, p))
        ax.set_ylabel(fit_label(ylabel, 40))  # a panel 3.5 inches high
        ax.set_title(f"Sensitivity to {p}")
        ax.legend(loc="best", fontsize=8)
    for ax in axes[len(params) :]:
        ax.axis("off")
    return fig


# --- schedules ----------------------------------------------------------------------------------


def schedules_data(
    trials: pd.DataFrame, curves: pd.DataFrame, minimize: bool | None = None
) -> pd.DataFrame:
    """Per-epoch learning rate of the best trial of each schedule:
    ``schedule``, ``optimizer``, ``trial``, ``value`` (the trial's), ``epoch``, ``lr``."""
    types = {"schedule": "str", "optimizer": "str", "trial": "Int64", "value": "float64"}
    cols = [*types, "epoch", "lr"]
    best = best_trials(trials, minimize, by="schedule")
    if best.empty:
        types |= {"epoch": "Int64", "lr": "float64"}
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in types.items()})
    keys = best[["number", "optimizer", "schedule", "value"]].rename(columns={"number": "trial"})
    return curves.merge(keys, on="trial", how="inner")[cols]


def plot_schedules(trials: pd.DataFrame, curves: pd.DataFrame, meta: dict) -> Figure:
    """Learning rate over the epochs for the best trial of each schedule."""
    d = schedules_data(trials, curves, meta["directions"][0] == "minimize")
    fig, (ax,) = _new()
    if d.empty:
        return _empty(fig, ax, "no complete trial")
    metric = meta["metrics"][0]
    for (sched, opt, trial, value), g in d.groupby(
        ["schedule", "optimizer", "trial", "value"], sort=True
    ):
        ax.plot(
            g["epoch"] + 1,
            g["lr"],
            lw=1.4,
            label=f"{sched}: {metric} {value:.3g} ({opt}, trial {trial})",
            **dots(len(g)),
        )
    log_axis(ax, "y")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate, log scale")
    ax.set_title("Learning-rate schedules: the best trial of each")
    ax.legend(loc="best")
    return fig


# --- importances, parallel coordinates ---------------------------------------------------------


def plot_importances(imp: pd.DataFrame) -> Figure:
    """Horizontal bars of PED-ANOVA importances, one panel per scope."""
    scopes = list(dict.fromkeys(imp["scope"])) if len(imp) else []
    # at most four panels a row (six in a row, all, four optimizers and the
    # decaying schedules, had their titles run into each other)
    nrows = max(math.ceil(len(scopes) / 4), 1)
    ncols = max(math.ceil(len(scopes) / nrows), 1)
    fig, axes = _new(ncols=ncols, nrows=nrows, width=3.4 * ncols + 1.0, height=3.2 * nrows)
    if not scopes:
        return _empty(fig, axes[0], "too few complete trials for importances")
    for ax in axes[len(scopes) :]:
        ax.set_visible(False)
    for ax, scope in zip(axes, scopes):
        g = imp[imp["scope"] == scope].sort_values("importance")
        ax.barh(g["param"], g["importance"], color=color(scope) if scope != "all" else "#555555")
        ax.set_xlim(0, 1)
        ax.set_xlabel("importance (share, PED-ANOVA)")
        ax.set_title(f"{scope}\n{g['n'].iloc[0]} complete trials", fontsize=10)
    return fig


def parallel_data(trials: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, tuple]]:
    """Complete trials with each searched hyperparameter scaled to [0, 1]
    (log scale for rates, 1 - beta on a log scale for betas; categories at
    even spacing). Returns the scaled frame (plus ``value``) and, per column,
    its tick positions and labels."""
    done = A.complete(trials)
    params = A.searched_params(done)
    out = pd.DataFrame(index=done.index)
    ticks: dict[str, tuple] = {}
    for p in params:
        v = done[p]
        if p in ("optimizer", "schedule"):
            cats = sorted(v.dropna().unique())
            pos = np.linspace(0, 1, len(cats)) if len(cats) > 1 else np.array([0.5])
            out[p] = v.map(dict(zip(cats, pos))).astype(float)
            ticks[p] = (pos.tolist(), cats)
            continue
        x = v.astype(float)
        if p in BETAS:
            x = 1 - x
        logx = bool((x.dropna() > 0).all()) and p not in ("interval",)
        y = np.log10(x) if logx else x
        lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
        out[p] = (y - lo) / (hi - lo) if hi > lo else 0.5
        fmt = "{:.0f}" if p in ("batch_size", "interval") else "{:.2g}"
        ticks[p] = ([0.0, 1.0], [fmt.format(10**u if logx else u) for u in (lo, hi)])
    out["value"] = done["value"]
    return out, ticks


def plot_parallel(trials: pd.DataFrame, meta: dict) -> Figure:
    """Parallel coordinates of the searched hyperparameters, coloured by the metric."""
    d, ticks = parallel_data(trials)
    params = [c for c in d.columns if c != "value"]
    fig, (ax,) = _new(width=max(6.4, 1.5 * len(params) + 2), height=4.2)
    if d.empty or len(params) < 2:
        return _empty(fig, ax, "fewer than two searched hyperparameters")
    import matplotlib as mpl

    # colours from the 5th to the 95th percentile (an outlier, such as one
    # loss far above the rest, would leave every other line one colour);
    # bright is good whichever the direction
    minimize = meta["directions"][0] == "minimize"
    lo, hi = d["value"].quantile([0.05, 0.95]) if len(d) >= 20 else d["value"].agg(["min", "max"])
    if (floor := r2_floor(d["value"], meta["metrics"][0], meta)) is not None:
        lo, hi = max(lo, floor), max(hi, floor)  # R^2 far below 0, as on the other plots
    logc = spans_decades(d["value"]) and lo > 0  # losses: colours by decades
    Norm = mpl.colors.LogNorm if logc else mpl.colors.Normalize
    norm = Norm(lo, hi if hi > lo else lo * (1 + 1e-9) + 1e-12, clip=True)
    cmap = mpl.colormaps["viridis_r" if minimize else "viridis"]
    xs = np.arange(len(params), dtype=float)
    order = d.sort_values("value", ascending=not minimize, kind="mergesort")  # best last, on top
    # each trial as its segments between neighbouring axes, all in one
    # collection (a line per trial took seconds for thousands of trials); a
    # parameter a trial did not use (NaN) leaves a gap, as a line's NaN does
    Y = order[params].to_numpy(dtype=float)  # (trials, axes)
    X = np.broadcast_to(xs, Y.shape)
    segments = np.stack(
        [np.stack([X[:, :-1], Y[:, :-1]], axis=-1), np.stack([X[:, 1:], Y[:, 1:]], axis=-1)],
        axis=2,
    )  # (trials, axes - 1, 2 ends, xy)
    drawn = np.isfinite(Y[:, :-1]) & np.isfinite(Y[:, 1:])
    rgba = cmap(norm(order["value"].to_numpy(dtype=float)))  # (trials, RGBA)
    colours = np.broadcast_to(rgba[:, None, :], (*drawn.shape, 4))
    ax.add_collection(
        mpl.collections.LineCollection(
            segments[drawn], colors=colours[drawn], linewidths=1.0, alpha=0.75
        )
    )
    # a value with no segment on either side (momentum's beta between axes
    # that momentum's trials do not use) would not show at all: a dot
    edge = np.zeros((len(Y), 1), dtype=bool)
    alone = np.isfinite(Y) & ~np.hstack([edge, drawn]) & ~np.hstack([drawn, edge])
    if alone.any():
        rows, cols = np.nonzero(alone)
        ax.scatter(xs[cols], Y[rows, cols], s=12, c=rgba[rows], alpha=0.75, zorder=2)
    for i, p in enumerate(params):
        ax.axvline(i, color="black", lw=0.6)
        pos, labels = ticks[p]
        for y, lab in zip(pos, labels):
            ax.text(i + 0.04, y, lab, fontsize=7, va="center")
    names = [f"1-{p}" if p in BETAS else p for p in params]
    ax.set_xticks(xs, names, rotation=20)
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.2, len(params) - 0.5)
    ax.grid(False)
    clipped = (d["value"] < lo).any(), (d["value"] > hi).any()
    fig.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
        ax=ax,
        label=fit_label(metric_label(meta["metrics"][0], meta) + (", log scale" if logc else "")),
        extend={(True, True): "both", (True, False): "min", (False, True): "max"}.get(
            clipped, "neither"
        ),
    )
    title = "Parallel coordinates (each line a complete trial; scales: log for rates, 1-beta)"
    ax.set_title(title if len(params) > 4 else fit_label(title))  # narrow: two lines
    return fig


# --- decision boundaries -------------------------------------------------------------------------


def boundary_grid(X: np.ndarray, n: int = 200, margin: float = 0.5) -> tuple[np.ndarray, ...]:
    """A mesh over the data's range: ``xx``, ``yy`` (n x n) and their points (n*n, 2)."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def plot_boundaries(
    models: Sequence[tuple[str, int, dict]], X: np.ndarray, y: np.ndarray, meta: dict
) -> Figure:
    """Decision regions of each optimizer's best model over the training points
    (the course's figures); for a regression, each model's predictions over
    the plane, the points coloured by their targets on the same scale. With
    one input feature, the regions along it (each point at its class's
    height), or a regression's predictions as curves over the points.
    ``models``: (optimizer, trial, weights) triples."""
    from .engine import Network

    head = meta.get("model", {}).get("head", "sigmoid")
    act = meta.get("model", {}).get("activation", "relu")
    d = meta.get("data", {})
    nets = [
        (opt, trial, Network.from_state(w, activation=act, head=head)) for opt, trial, w in models
    ]
    if models and X is not None and X.shape[1] == 1 and head == "linear":
        return _prediction_curves(nets, X, y, d)
    n = max(len(models), 1)
    fig, axes = _new(ncols=n, width=3.6 * n, height=3.6)
    if not models or X is None or X.shape[1] > 2:
        return _empty(fig, axes[0], "decision boundaries need one or two input features")
    import matplotlib as mpl

    features = d.get("features") or ["x1", "x2"]
    scale = " (standardised)" if d.get("standardized", True) else ""
    for ax in axes:
        ax.set_xlabel(features[0] + scale)
        ax.set_ylabel(features[1] + scale if X.shape[1] == 2 else "class")
        ax.grid(False)
    if head == "linear":
        return _prediction_surfaces(fig, axes, nets, X, y, boundary_grid(X), d)
    k = max(int(y.max()) + 1, 2, len(d.get("classes") or []))
    names = list(d.get("classes") or [])
    classes = [str(names[c]) if c < len(names) else str(c) for c in range(k)]
    # one colour per class: blue and red for two, tab10's first k for up to ten
    cmap = mpl.colormaps["coolwarm" if k == 2 else "tab10" if k <= 10 else "turbo"]
    norm = mpl.colors.Normalize(-0.5, (10 if 2 < k <= 10 else k) - 0.5)
    if X.shape[1] == 1:
        # one feature: the regions along it, and each point at the height of
        # its class (jittered a little, so that points of a class stay apart)
        lo, hi = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
        xs = np.linspace(lo, hi, 400)[:, None]
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(y))
        points = (X[:, 0], y + jitter)
    else:
        xx, yy, pts = boundary_grid(X)
        points = (X[:, 0], X[:, 1])
    for ax, (opt, trial, net) in zip(axes, nets):
        if X.shape[1] == 1:
            regions = net.predict(xs)[None, :]
            ax.imshow(
                regions, extent=(lo, hi, -0.5, k - 0.5), aspect="auto", origin="lower",
                cmap=cmap, norm=norm, alpha=0.35, interpolation="nearest",
            )  # fmt: skip
            ax.set_yticks(range(k), classes)
        else:
            pred = net.predict(pts).reshape(xx.shape)
            ax.contourf(
                xx, yy, pred, alpha=0.35, cmap=cmap, norm=norm, levels=np.arange(k + 1) - 0.5
            )
        ax.scatter(
            *points, c=y, cmap=cmap, s=8, edgecolors="black", linewidths=0.2, norm=norm
        )  # fmt: skip
        ax.set_title(f"{opt} (trial {trial})")
    if k > 12:  # a legend of more classes would be taller than the figure: a colour bar
        bar = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes))
        bar.set_label("class")
        bar.ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=10, integer=True))
        bar.ax.yaxis.set_major_formatter(
            mpl.ticker.FuncFormatter(lambda v, _: classes[int(v)] if 0 <= v < k else "")
        )
        return fig
    handles = [
        mpl.lines.Line2D([], [], ls="", marker="o", ms=5, mec="black", mew=0.3, color=cmap(norm(c)))
        for c in range(k)
    ]
    fig.legend(
        handles, classes, title="class", loc="outside right center", fontsize=8, title_fontsize=8
    )
    return fig


def _targets(
    y: np.ndarray, data: dict
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, str]:
    """A regression's figures: a function taking standardised targets back
    to their own units, the training points' (first) targets so, and that
    target's name."""
    mean, std = scaling(data.get("target_scaler"))

    def units(z: np.ndarray) -> np.ndarray:
        return z if mean is None else z * std[0] + mean[0]

    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    label = data.get("label") or "target"
    if y.shape[1] > 1:
        label = f"target 1 of {y.shape[1]}"
    return units, units(y[:, 0]), label


def _prediction_curves(nets, X, y, data: dict) -> Figure:
    """A regression on one feature's :func:`plot_boundaries`: each network's
    prediction of the (first) target along the feature, in the targets'
    units, over the training points."""
    units, truth, label = _targets(y, data)
    fig, (ax,) = _new()
    ax.scatter(X[:, 0], truth, s=8, color="#999999", label="training points")
    xs = np.linspace(X[:, 0].min() - 0.25, X[:, 0].max() + 0.25, 400)[:, None]
    for opt, trial, net in nets:
        pred = units(net.predict(xs)[:, 0])
        ax.plot(xs[:, 0], pred, color=color(opt), label=f"{opt} (trial {trial})")
    feature = (data.get("features") or ["x1"])[0]
    ax.set_xlabel(feature + (" (standardised)" if data.get("standardized", True) else ""))
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
    return fig


def _prediction_surfaces(fig, axes, nets, X, y, grid, data: dict) -> Figure:
    """A regression's :func:`plot_boundaries`: each network's prediction of
    the (first) target over the plane, in the targets' units, and the
    training points coloured by their targets on the same colour scale."""
    import matplotlib as mpl

    xx, yy, pts = grid
    units, truth, label = _targets(y, data)
    preds = [units(net.predict(pts)[:, 0]).reshape(xx.shape) for _, _, net in nets]
    norm = mpl.colors.Normalize(truth.min(), truth.max() if truth.max() > truth.min() else 1.0)
    cmap = mpl.colormaps["viridis"]
    for ax, (opt, trial, _), pred in zip(axes, nets, preds):
        ax.contourf(xx, yy, pred, levels=15, cmap=cmap, norm=norm, alpha=0.6, extend="both")
        ax.scatter(
            X[:, 0], X[:, 1], c=truth, cmap=cmap, norm=norm, s=8, edgecolors="black", linewidths=0.2
        )
        ax.set_title(f"{opt} (trial {trial})")
    fig.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
        ax=list(axes),
        label=f"{label}\n(shading: predicted; points: true)",
        extend="both",
    )
    return fig


# --- multi-objective, confirmation -------------------------------------------------------------


def plot_pareto(trials: pd.DataFrame, meta: dict) -> Figure:
    """The first two objectives of a multi-objective study, the Pareto front joined."""
    metrics, dirs = meta["metrics"][:2], meta["directions"][:2]
    d = A.pareto_front(trials, metrics, dirs)
    fig, (ax,) = _new()
    if d.empty:
        return _empty(fig, ax, "no complete trial")
    cols = [f"value_{m}" for m in metrics]
    ax.scatter(d[cols[0]], d[cols[1]], s=14, color="#bbbbbb", label="dominated")
    front = d[d["pareto"]].sort_values(cols[0])
    for opt, g in front.groupby("optimizer", sort=True):
        ax.scatter(g[cols[0]], g[cols[1]], s=30, color=color(opt), label=f"front: {opt}", zorder=3)
    ax.plot(front[cols[0]], front[cols[1]], color="black", lw=1, zorder=2)
    labels = [metric_label(m, meta) for m in metrics]
    for which, col, i in (("x", cols[0], 0), ("y", cols[1], 1)):
        if spans_decades(d[col]):  # losses from 0.005 to 1.5: the front is at the small end
            log_axis(ax, which)
            labels[i] += ", log scale"
    ax.set_xlabel(labels[0])
    ax.set_ylabel(fit_label(labels[1]))
    ax.set_title(f"Pareto front ({len(front)} of {len(d)} complete trials)")
    ax.legend(loc="best")
    return fig


def plot_confirmation(summary: pd.DataFrame, trials: pd.DataFrame, meta: dict) -> Figure:
    """Mean and 95% interval of each retrained configuration, with the value
    its original trial found (a hollow marker)."""
    fig, (ax,) = _new(height=max(2.5, 0.5 * len(summary) + 1.5))
    if summary.empty:
        return _empty(fig, ax, "no confirmation runs")
    s = summary.reset_index(drop=True)
    orig = trials.set_index("number")
    labels, ys = [], np.arange(len(s))[::-1]
    for y, (_, r) in zip(ys, s.iterrows()):
        o = orig.loc[r["number"]]
        c = color(o["optimizer"])
        err = (
            [[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]]
            if np.isfinite(r["ci_low"])
            else None
        )
        ax.errorbar(r["mean"], y, xerr=err, fmt="o", color=c, capsize=4)
        ax.scatter(o["value"], y, facecolors="none", edgecolors=c, s=40, zorder=3)
        labels.append(f"trial {r['number']} ({o['optimizer']}), n={r['n']}")
    ax.set_yticks(ys, labels)
    ax.set_xlabel(metric_label(meta["metrics"][0], meta) + ": mean and 95% interval")
    ax.set_title("Confirmation runs (hollow: the original trial's value)")
    return fig


# --- comparison of studies --------------------------------------------------------------------


def comparison_data(studies: Sequence[tuple[str, pd.DataFrame, dict]]) -> pd.DataFrame:
    """Best value per optimizer for each study: ``study``, ``optimizer``, ``value``."""
    rows = []
    for name, trials, meta in studies:
        b = A.best_per_optimizer(trials, meta["directions"][0] == "minimize")
        for _, r in b.iterrows():
            rows.append((name, r["optimizer"], r["value"]))
    return pd.DataFrame(rows, columns=["study", "optimizer", "value"])


def plot_comparison(studies: Sequence[tuple[str, pd.DataFrame, dict]]) -> Figure:
    """Grouped bars: each study's best value per optimizer; a panel per
    metric, with its own axis, where the studies' metrics differ (an
    accuracy beside a loss or an R^2)."""
    d = comparison_data(studies)
    labels = {n: metric_label(m["metrics"][0], m) for n, _, m in studies}
    panels: dict[str, list[str]] = {}  # metric label -> its studies, in order
    for name in dict.fromkeys(d["study"]) if not d.empty else []:
        panels.setdefault(labels[name], []).append(name)
    # rows of at most three panels (five metrics in a row made a figure 29 inches wide)
    items = list(panels.items())
    rows = [items[i : i + 3] for i in range(0, len(items), 3)] or [[]]
    widths = [1.6 * sum(len(names) for _, names in r) + 3.2 * max(len(r), 1) for r in rows]
    fig = ShownFigure(figsize=(max(6.4, *widths), 4.0 * len(rows)), layout="constrained")
    if d.empty:
        return _empty(fig, fig.subplots(), "no complete trial in these studies")
    parts = fig.subfigures(len(rows), 1) if len(rows) > 1 else [fig]
    axes = [
        ax
        for part, r in zip(parts, rows, strict=True)
        for ax in part.subplots(
            1, len(r), squeeze=False, width_ratios=[len(names) + 1.5 for _, names in r]
        ).ravel()
    ]
    opts = sorted(d["optimizer"].unique())
    width = 0.8 / len(opts)
    for ax, (label, names) in zip(axes, panels.items(), strict=True):
        for k, name in enumerate(names):  # each study's bars side by side, centred on its name
            g = d[d["study"] == name].set_index("optimizer").reindex(opts).dropna(subset=["value"])
            x = k + (np.arange(len(g)) - (len(g) - 1) / 2) * width
            bars = ax.bar(x, g["value"], width, color=[color(o) for o in g.index])
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
        values = d.loc[d["study"].isin(names), "value"]
        lo, hi = float(values.min()), float(values.max())
        span = max(hi - lo, abs(hi) * 0.02, 1e-12)
        bottom = lo - 0.6 * span  # the differences, not the zero, matter
        if lo >= 0:
            bottom = max(bottom, 0.0)  # an accuracy or a loss: not below 0
        ax.set_ylim(bottom, hi + 0.35 * span)
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel(fit_label(label))
        if bottom != 0:
            ax.set_title("axis not from zero", fontsize=9)
    for opt in opts:  # one legend entry per optimizer
        axes[0].bar([np.nan], [np.nan], color=color(opt), label=opt)
    fig.suptitle("Best value per optimizer, by study")
    fig.legend(loc="outside lower center", ncol=len(opts), frameon=False)
    return fig
