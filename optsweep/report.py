"""The report: every plot as PNG, plus ``report.md`` and a self-contained
``report.html``, written to ``RESULTS/report/`` from the stored tables only.

Regeneration never retrains and is reproducible: the same tables give
byte-identical files (fixed fonts and style, no timestamps, no software
version in the PNG metadata).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import joblib
import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import analysis as A
from . import plots as P
from .config import load_sweep
from .errors import OptsweepError
from .pool import PoolStart, parallel
from .results import (
    Results,
    atomic_write,
    load,
    read_meta,
    read_table,
    scaling,
    write_text,
)

log = logging.getLogger(__name__)


def save_figure(fig: Figure, path: Path) -> None:
    """PNG at 100 dpi, without the software-version metadata, atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png", dpi=100, metadata={"Software": None})

    atomic_write(path, write)


def md_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (no tabulate needed)."""
    if df.empty:
        return "_(none)_\n"

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, sep, *rows]) + "\n"


def _ready() -> int:
    """A worker's first job, while the main process reads the tables:
    unpickling it imports this module there, and with it matplotlib, pandas
    and the plots; a first small figure then loads what drawing loads on
    first use (Agg, the font, the PNG writer). About half a second in all."""
    fig = Figure(figsize=(1, 1))
    fig.subplots().set_title("0")
    with mpl.rc_context(P.STYLE):
        fig.savefig(io.BytesIO(), format="png")
    return os.getpid()


def _draw(plot: Callable[..., Figure], args: tuple, path: Path) -> str | None:
    """Save ``plot(*args)`` as ``path``; None, or what went wrong."""
    try:
        with mpl.rc_context(P.STYLE):
            save_figure(plot(*args), path)
    except Exception as e:  # a plot bug must not cost the user the whole report
        return f"{type(e).__name__}: {e}"
    return None


class _Painter:
    """Draws a report's figures in ``n_jobs`` of joblib's worker processes
    (default or -1: one per core), several at a time: drawing is most of a
    report's time, matplotlib's, spent in Python. The workers start (or a
    sweep's, still running, are reused) as the report begins, and import
    matplotlib while the main process reads the tables and computes what
    the figures show. ``n_jobs=1``: drawn in this process."""

    def __init__(self, n_jobs: int | None = None) -> None:
        self.n_jobs = joblib.cpu_count() if n_jobs in (None, -1) else n_jobs
        self.start = PoolStart(self.n_jobs, "loky", _ready)

    def __enter__(self) -> _Painter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.start.wait()

    def draw(self, jobs: list[tuple[Callable[..., Figure], tuple, Path]]) -> list[str | None]:
        """Each job's :func:`_draw`, in order."""
        self.start.wait()
        if self.n_jobs == 1 or len(jobs) < 2:
            return [_draw(*job) for job in jobs]
        # absolute paths: reused workers stay in the folder they started in
        # (a notebook may have changed its own since)
        return parallel(self.n_jobs)(
            joblib.delayed(_draw)(plot, args, Path(path).absolute()) for plot, args, path in jobs
        )


#: The figures a study's report may draw (``NAME.png`` in its folder)
STUDY_FIGURES = (
    "history",
    "learning_curves",
    "pareto",
    "batch_tradeoff",
    "schedules",
    "sensitivity",
    "importances",
    "parallel",
    "boundaries",
    "confirmation",
)


class _Doc:
    """Sections of text, tables and figures, rendered to Markdown and HTML.

    Figures are drawn when the document is written, all at once
    (:class:`_Painter`); one that fails leaves a note in its place."""

    def __init__(
        self, title: str, folder: Path, painter: _Painter, stale: Sequence[str] = ()
    ) -> None:
        self.title, self.folder, self.painter = title, folder, painter
        self.stale = stale  # figures removed when not drawn this time
        self.parts: list[tuple[str, object]] = []
        self.files: list[Path] = []
        self.jobs: list[tuple[Callable[..., Figure], tuple, Path]] = []
        self.section = ""  # the section being built, named when a figure fails

    def heading(self, text: str) -> None:
        self.parts.append(("h2", text))

    def text(self, text: str) -> None:
        self.parts.append(("p", text))

    def table(self, df: pd.DataFrame) -> None:
        self.parts.append(("table", df))

    def figure(self, name: str, plot: Callable[..., Figure], args: tuple, caption: str) -> None:
        """The figure ``plot(*args)``, saved as ``name.png`` when written."""
        assert not self.stale or name in self.stale, f"{name} missing from STUDY_FIGURES"
        path = self.folder / f"{name}.png"
        self.jobs.append((plot, args, path))
        self.parts.append(("img", (len(self.jobs) - 1, caption, self.section)))

    def write(self) -> list[Path]:
        errors = self.painter.draw(self.jobs)
        md, body = [f"# {self.title}\n"], []
        for kind, x in self.parts:
            if kind == "img":
                job, caption, section = x
                if errors[job] is not None:
                    log.warning("report section %r failed: %s", section, errors[job])
                    kind, x = "p", f"({section}: not drawn: {errors[job]})"
                else:
                    path = self.jobs[job][2]
                    self.files.append(path)
                    x = (path.name, caption)
            if kind == "h2":
                md.append(f"\n## {x}\n")
                body.append(f"<h2>{html.escape(x)}</h2>")
            elif kind == "p":
                md.append(f"{x}\n")
                body.append(f"<p>{html.escape(x)}</p>")
            elif kind == "table":
                md.append(md_table(x))
                body.append(
                    x.to_html(
                        index=False,
                        na_rep="",
                        float_format=lambda v: f"{v:.4g}",
                        border=0,
                        classes="t",
                    )
                )
            else:
                name, caption = x
                md.append(f"![{caption}]({name})\n\n_{caption}_\n")
                data = base64.b64encode((self.folder / name).read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
        style = (
            "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
            "table.t{border-collapse:collapse;font-size:13px}"
            "table.t td,table.t th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
            "img{max-width:100%}figcaption{color:#555;font-size:13px}"
        )
        page = (
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(self.title)}'
            f"</title><style>{style}</style></head><body><h1>{html.escape(self.title)}</h1>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )
        md_path, html_path = self.folder / "report.md", self.folder / "report.html"
        write_text(md_path, "\n".join(md))
        write_text(html_path, page)
        for name in self.stale:  # an earlier report's figure that this one did not draw
            path = self.folder / f"{name}.png"
            if path not in self.files:
                path.unlink(missing_ok=True)
        return [md_path, html_path, *self.files]


def _section(doc: _Doc, title: str, build: Callable[[], None]) -> None:
    """One section; a failure in it is logged and noted, the report goes on."""
    doc.section = title
    try:
        build()
    except Exception as e:  # a plot bug must not cost the user the whole report
        log.warning("report section %r failed: %s", title, e)
        doc.text(f"({title}: not drawn: {type(e).__name__}: {e})")
    finally:
        doc.section = ""


def study_report(res: Results, painter: _Painter | None = None) -> list[Path]:
    """Write ``res.path/report/`` and return the files written."""
    t, c, meta = res.trials, res.curves, res.meta
    minimize = meta["directions"][0] == "minimize"
    metric = meta["metrics"][0]
    folder = res.path / "report"
    folder.mkdir(parents=True, exist_ok=True)
    doc = _Doc(f"optsweep report: {res.name}", folder, painter or _Painter(), STUDY_FIGURES)
    d = meta.get("data", {})
    m = meta.get("model", {})
    labels = ""  # the classes, or a regression's targets
    if d.get("n_classes"):
        names = d.get("classes") or []
        listed = ", ".join(map(str, names[:10])) + (", ..." if len(names) > 10 else "")
        shown = f" ({listed})" if names else ""
        labels = f", {d['n_classes']} classes{shown}"
    mean, sd = scaling(d.get("target_scaler"))
    if mean is not None and mean.size == 1:
        labels = f", a real-valued target (mean {mean[0]:.4g}, sd {sd[0]:.4g}), standardised"
    elif mean is not None:
        labels = f", {mean.size} real-valued targets, standardised"
    doc.text(
        f"Data {Path(str(d.get('source', '?'))).name}: {d.get('n_train')} training and "
        f"{d.get('n_val')} validation samples, {d.get('n_features')} features{labels}. Network "
        f"{m.get('sizes')} ({m.get('activation')}, {m.get('head')} head), "
        f"{meta.get('epochs')} epoch{'' if meta.get('epochs') == 1 else 's'}. Objective: "
        + "; ".join(
            f"{m}, the {P.metric_label(m, meta)}, {'minimised' if d == 'minimize' else 'maximised'}"
            for m, d in zip(meta["metrics"], meta["directions"], strict=True)
        )
        + "."
    )
    doc.heading("Trials")
    counts = A.state_counts(t).query("count > 0")
    doc.table(counts)
    if counts["state"].isin(["INTERRUPTED", "LOST"]).any():
        doc.text(
            "INTERRUPTED: stopped by Ctrl-C or a kill; LOST: lost with its host. Their "
            "configurations run again, with the same seeds, when the study resumes "
            "(a re-run names the trial it repeats in the trials table's column rerun_of)."
        )
    fails = A.failures(t)
    if not fails.empty:
        doc.heading("Failures")
        doc.text(
            f"{int(fails['n'].sum())} trial(s) failed, by optimizer and cause, with the "
            "learning rates they had (the sensitivity plot marks them x); each trial's "
            "reason is in the trials table's column reason."
        )
        doc.table(fails)
    tried = t["optimizer"].dropna().unique() if "optimizer" in t else []
    if len(tried) > 1:
        doc.heading("Which optimizer wins")
        doc.text(
            f"Best complete trial of each optimizer by {metric}; gap is the distance "
            "to the overall best."
        )
    else:
        doc.heading("Best trial")
        doc.text(f"Best complete trial by {metric} (the study tried one optimizer).")
    best = A.best_per_optimizer(t, minimize)
    doc.table(best.dropna(axis=1, how="all") if len(best) else best)  # no column none has
    for r in A.without_complete(t).itertuples():
        doc.text(f"{r.optimizer}: no complete trial ({r.trials}).")
    if A.complete(t).empty:  # two empty frames say less than a line
        doc.text(
            "No trial has completed yet: the optimization history and the learning "
            "curves are drawn once one has."
        )
    else:
        _section(
            doc,
            "history",
            lambda: doc.figure(
                "history",
                P.plot_history,
                (t, meta),
                "Optimization history: each trial and the best so far",
            ),
        )
        _section(
            doc,
            "learning curves",
            lambda: doc.figure(
                "learning_curves",
                P.plot_learning_curves,
                (t, c, meta),
                "Training loss per epoch of each optimizer's best trial (log scale)",
            ),
        )
    if len(meta["metrics"]) > 1:
        _section(
            doc,
            "pareto",
            lambda: doc.figure(
                "pareto", P.plot_pareto, (t, meta), "Pareto front of the first two objectives"
            ),
        )
    searched = A.searched_params(t)
    if "batch_size" in searched:
        doc.heading("What the batch size trades")

        def batch() -> None:
            tab = A.batch_tradeoff(t, c)
            doc.text(
                "Per batch size: time and updates per epoch, and how long the trials took "
                f"to reach the training loss {tab['target'].iloc[0]:.3g} (1.5 times the "
                "middle one of the batch sizes' best losses, so that at least half of them "
                "reach it)."
            )
            doc.table(tab.drop(columns="target"))
            doc.figure(
                "batch_tradeoff",
                P.plot_batch_tradeoff,
                (t, c, meta),
                "Small batches: many noisy updates per epoch; the full batch: one smooth "
                "update per epoch",
            )

        _section(doc, "batch size", batch)
    if "schedule" in searched or "decay_rate" in searched:
        doc.heading("What learning-rate decay buys")

        def schedules() -> None:
            effect = A.schedule_effect(t, minimize)
            if effect["gain_over_constant"].isna().all():  # no trial at a constant rate
                effect = effect.drop(columns="gain_over_constant")
                gain = "."
            else:
                gain = (
                    ", and gain_over_constant, how much better its best trial is than the "
                    "best at a constant rate (negative: worse)."
                )
            doc.text(
                f"Per schedule: complete trials, best and median {metric}, spread "
                f"(interquartile range), median seconds per epoch{gain}"
            )
            doc.table(effect)
            doc.figure(
                "schedules",
                P.plot_schedules,
                (t, c, meta),
                "Learning rate per epoch of the best trial of each schedule",
            )

        _section(doc, "schedules", schedules)
    sensitive = not P.sensitivity_data(t).empty  # no rate or beta searched: nothing to show
    if sensitive or "lr" in searched:
        doc.heading("Sensitivity")
    if sensitive:
        _section(
            doc,
            "sensitivity",
            lambda: doc.figure(
                "sensitivity",
                P.plot_sensitivity,
                (t, meta),
                "Metric against the learning rate, the decay rate and 1 - beta",
            ),
        )
    if "lr" in searched:
        doc.text(
            f"By learning-rate bin: complete trials, best and median {metric}, spread "
            "(interquartile range), median seconds per epoch."
        )
        doc.table(A.param_summary(t, "lr", minimize))

    def importances() -> None:
        imp = A.importances(t, minimize)
        if imp.empty:
            doc.text(
                f"Too few complete trials for importances (they need {A.MIN_IMPORTANCE_TRIALS})."
            )
            return
        scopes = list(dict.fromkeys(imp["scope"]))  # all first
        params = list(dict.fromkeys(imp["param"]))  # the most important overall first
        table = imp.pivot(index="param", columns="scope", values="importance")
        doc.table(table.loc[params, scopes].reset_index().rename_axis(None, axis=1))
        if "optimizer" in searched:
            n = A.complete(t)["optimizer"].value_counts()
            few = [
                f"{o} ({n.get(o, 0)})"
                for o in sorted(t["optimizer"].dropna().unique())
                if n.get(o, 0) < A.MIN_IMPORTANCE_TRIALS
            ]
            if few:
                doc.text(
                    f"Optimizers left out, with fewer than {A.MIN_IMPORTANCE_TRIALS} "
                    f"complete trials: {', '.join(few)}."
                )
        unranked = [p for p in A.searched_params(A.complete(t)) if p not in params]
        if unranked:
            doc.text(
                f"Not ranked: {', '.join(unranked)} (a hyperparameter is ranked in a scope "
                "whose every trial has it, and only there with enough trials)."
            )
        doc.figure(
            "importances",
            P.plot_importances,
            (imp,),
            "Hyperparameter importances (Optuna's PED-ANOVA)"
            + (f": {', '.join(scopes)}" if len(scopes) > 1 else ""),
        )

    doc.heading("Importances")
    _section(doc, "importances", importances)
    if len(A.searched_params(A.complete(t))) >= 2:  # what parallel coordinates need
        _section(
            doc,
            "parallel coordinates",
            lambda: doc.figure(
                "parallel",
                P.plot_parallel,
                (t, meta),
                "Parallel coordinates, coloured by the metric",
            ),
        )
    boundaries = _boundaries(res)
    regression = m.get("head") == "linear"
    if boundaries is not None:
        doc.heading("Predictions" if regression else "Decision boundaries")
        _section(
            doc,
            "boundaries",
            lambda: doc.figure(
                "boundaries",
                P.plot_boundaries,
                boundaries,
                "Predictions of each optimizer's best model over the training points"
                if regression
                else "Decision regions of each optimizer's best model",
            ),
        )
    conf = read_table(res.path, "confirm")
    if conf is not None:
        doc.heading("Confirmation runs")
        summary = A.confirmation_summary(conf, t, A.metric_range(metric, meta))
        doc.text(
            "Each configuration retrained with fresh seeds; search_value is what its "
            "trial found (the best trials of a search tend to be luckier than their "
            "configuration), ci_low and ci_high the 95% interval of the mean."
        )
        doc.table(summary)
        _section(
            doc,
            "confirmation",
            lambda: doc.figure(
                "confirmation",
                P.plot_confirmation,
                (summary, t, meta),
                "Retrained with fresh seeds: mean and 95% confidence interval",
            ),
        )
    return doc.write()


def _boundaries(res: Results) -> tuple | None:
    """The arguments of :func:`~.plots.plot_boundaries`: the best model of each
    optimizer whose weights were kept, and the training data."""
    data_path = res.path / "data.npz"
    models_dir = res.path / "models"
    if not data_path.exists() or not models_dir.exists():
        return None
    from .results import load_weights

    with np.load(data_path, allow_pickle=False) as z:
        X, y = z["X_train"], z["y_train"]
    minimize = res.meta["directions"][0] == "minimize"
    best = P.best_trials(res.trials, minimize)
    models = []
    for _, b in best.iterrows():
        if (models_dir / f"trial_{b['number']:05d}.npz").exists():
            try:
                weights = load_weights(res.path, b["number"])
            except OptsweepError as e:  # the other optimizers' models are still drawn
                log.warning("%s", e)
                continue
            models.append((b["optimizer"], int(b["number"]), weights))
    if not models:
        return None
    return models, X, y, res.meta


def study_labels(results: Sequence[Results]) -> list[str]:
    """Study names, with as many of their parent folders as tell apart the
    studies that share a name (numbered if nothing does: the same folder twice)."""
    names = [r.name for r in results]
    folders = [Path(r.path).resolve().parent.parts for r in results]
    shared = {i for i, n in enumerate(names) if names.count(n) > 1}
    labels = names
    for k in range(1, max(map(len, folders)) + 1):
        if len(set(labels)) == len(labels):
            return labels
        labels = [
            Path(*folders[i][-k:], n).as_posix() if i in shared else n for i, n in enumerate(names)
        ]
    if len(set(labels)) == len(labels):
        return labels
    return [f"{label} ({i + 1})" for i, label in enumerate(labels)]


def comparison_report(
    results: Sequence[Results], out: Path, painter: _Painter | None = None
) -> list[Path]:
    """Studies side by side: best per optimizer for each, in one table and one figure."""
    out.mkdir(parents=True, exist_ok=True)
    names = study_labels(results)
    doc = _Doc(f"optsweep comparison: {', '.join(names)}", out, painter or _Painter())
    studies = [(n, r.trials, r.meta) for n, r in zip(names, results, strict=True)]
    rows = []
    for name, r in zip(names, results, strict=True):
        c = A.state_counts(r.trials).set_index("state")["count"]
        best = A.best_per_optimizer(r.trials, r.meta["directions"][0] == "minimize")
        rows.append(
            {
                "study": name,
                "metric": r.meta["metrics"][0],
                "trials": len(r.trials),
                "complete": c["COMPLETE"],
                "pruned": c["PRUNED"],
                "failed": c["FAIL"],
                "interrupted or lost": c["INTERRUPTED"] + c["LOST"],
                "best": best["value"].iloc[0] if len(best) else np.nan,
                "best optimizer": best["optimizer"].iloc[0] if len(best) else "",
            }
        )
    table = pd.DataFrame(rows)
    kinds = [P.metric_label(r.meta["metrics"][0], r.meta) for r in results]
    if len(set(kinds)) > 1:  # the same name, other quantities: say which
        table["metric"] = [f"{m}: {k}" for m, k in zip(table["metric"], kinds, strict=True)]
    if not table["interrupted or lost"].any():  # the common case: no column for it
        table = table.drop(columns="interrupted or lost")
    doc.table(table)
    differ = settings_that_differ(results, names)
    if len(differ):
        doc.heading("What differs")
        doc.text("The studies' settings that differ (their budgets and [execution] aside).")
        doc.table(differ)
    data = P.comparison_data(studies)
    if not data.empty:
        doc.heading("Best value per optimizer")
        doc.table(
            data.pivot(index="optimizer", columns="study", values="value")
            .reindex(columns=names)
            .reset_index()
            .rename_axis(None, axis=1)
        )
        for name, r in zip(names, results, strict=True):
            for w in A.without_complete(r.trials).itertuples():
                doc.text(f"{name}: {w.optimizer} has no complete trial ({w.trials}).")
    doc.figure("comparison", P.plot_comparison, (studies,), "Best value per optimizer, by study")
    return doc.write()


def settings_that_differ(results: Sequence[Results], names: Sequence[str]) -> pd.DataFrame:
    """The settings (:meth:`~.config.SweepConfig.settings`) whose values are
    not the same in every study whose settings are known: a column
    ``setting``, then one per study: ``(not recorded)`` where its settings
    are unknown, ``(n/a)`` where the setting has no place in them (a
    generator's ``noise`` for a real data set)."""
    every = [_settings(r) for r in results]
    known = [s for s in every if s]
    keys = list(dict.fromkeys(k for s in known for k in s))
    rows = [
        [k, *(s.get(k, "(n/a)") if s else "(not recorded)" for s in every)]
        for k in keys
        if len({s.get(k) for s in known}) > 1
    ]
    return pd.DataFrame(rows, columns=["setting", *names])


def _settings(res: Results) -> dict[str, str]:
    """A study's settings as run (``meta.json``), or, in results written before
    they were kept there, as its copy of the sweep file gives them (none
    where that is missing or no longer reads)."""
    if "settings" in res.meta:
        return res.meta["settings"]
    quiet = logging.getLogger("optsweep.config")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warnings were given when the study ran
    try:
        source = res.meta["data"].get("source")
        return load_sweep(res.path / "sweep.toml", data_source=source).settings()
    except (OSError, OptsweepError):
        return {}
    finally:
        quiet.setLevel(level)


def write_report(
    dirs: Sequence[str | Path], out: str | Path | None = None, n_jobs: int | None = None
) -> list[Path]:
    """Write each results directory's report; with several, also a comparison
    (in ``out``, default ``<parent>/compare-A-B``). Returns the report pages.
    The figures are drawn by ``n_jobs`` processes (default: one per core; 1:
    this one)."""
    for d in dirs:
        read_meta(d)  # each a results directory, before starting workers
    unique: dict[Path, str | Path] = {}  # each folder once, as first given
    for d in dirs:
        unique.setdefault(Path(d).resolve(), d)
    dirs = list(unique.values())
    with _Painter(n_jobs) as painter:  # the workers start as the tables load
        results = [load(d) for d in dirs]
        pages = [study_report(r, painter)[0] for r in results]
        if len(results) > 1:
            label = "-".join(n.replace("/", "_") for n in study_labels(results))
            target = Path(out) if out else Path(dirs[0]).parent / f"compare-{label}"
            pages.append(comparison_report(results, target, painter)[0])
    return pages
