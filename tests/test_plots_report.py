"""Plots (their data checked before drawing) and the report, on the tables of
real small sweeps and on edge cases."""

from __future__ import annotations

import itertools
import json
import operator
import shutil
import subprocess
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from helpers import cli, file_sweep, hide_import, run_python, write_sweep
from matplotlib.figure import Figure

import optsweep
from optsweep import analysis as A
from optsweep import plots as P
from optsweep.config import load_sweep
from optsweep.errors import ConfigError
from optsweep.report import _Doc, _Painter, study_report, write_report
from optsweep.results import INTERRUPTED, write_table
from optsweep.runner import run_sweep

SEARCH_EXTRA = """
schedule = ["constant", "inverse_time"]
decay_rate = { low = 0.001, high = 1.0, log = true }
"""


def _sweep(
    root: Path, name: str, n_trials: int, study_extra: str = "", edit=None
) -> optsweep.Results:
    path = write_sweep(root, name, n_trials=n_trials, epochs=8, study_extra=study_extra)
    text = path.read_text().replace("[execution]", SEARCH_EXTRA + "\n[execution]")
    path.write_text(edit(text) if edit else text)
    run_sweep(load_sweep(path), root=root / "results", progress=False)
    return optsweep.load(root / "results" / name)


@pytest.fixture(scope="module")
def res(tmp_path_factory) -> optsweep.Results:
    return _sweep(tmp_path_factory.mktemp("plots"), "small", 16)


def test_history_data(res):
    d = P.history_data(res.trials)
    done = res.trials[res.trials["state"] == "COMPLETE"]
    assert len(d) == len(done)
    assert (np.diff(d["best_so_far"]) >= 0).all() and d["best_so_far"].iloc[-1] == done[
        "value"
    ].max()
    assert isinstance(P.plot_history(res.trials, res.meta), Figure)
    few = res.trials[res.trials["state"] == "COMPLETE"].head(3)  # the course's three trials
    ax = P.plot_history(few, res.meta).axes[0]
    assert all(t == int(t) for t in ax.get_xticks())  # trial numbers, not 0.25


def test_learning_curves_data(res):
    d = P.learning_curves_data(res.trials, res.curves)
    best = P.best_trials(res.trials, minimize=False)
    assert sorted(d["optimizer"].unique()) == sorted(best["optimizer"])
    for _, b in best.iterrows():
        got = d[d["trial"] == b["number"]]
        assert len(got) == b["epochs_run"]
        np.testing.assert_array_equal(
            got["value"], res.curves.loc[res.curves["trial"] == b["number"], "train_loss"]
        )
    P.plot_learning_curves(res.trials, res.curves, res.meta)


def test_curves_of_one_epoch_are_seen(res):
    """A one-epoch study: each curve is one point, which a line without
    markers does not draw (its learning curves were an empty plot)."""
    short = res.curves[res.curves["epoch"] == 0]
    for fig in (
        P.plot_learning_curves(res.trials, short, res.meta),
        P.plot_batch_tradeoff(res.trials, short, res.meta),
    ):
        lines = [ln for ax in fig.axes[:2] for ln in ax.get_lines() if len(ln.get_xdata()) == 1]
        assert lines and all(ln.get_marker() == "o" for ln in lines)


def test_batch_curves_data_picks_smallest_and_largest(res):
    d = P.batch_curves_data(res.trials, res.curves)
    trained = res.trials[res.trials["epochs_run"] > 0]
    assert d["batch_size"].min() == trained["batch_size"].min()
    assert d["batch_size"].max() == trained["batch_size"].max()
    assert (d.groupby("trial")["updates"].apply(lambda u: (np.diff(u) > 0).all())).all()
    P.plot_batch_tradeoff(res.trials, res.curves, res.meta)


def test_batch_sizes_that_never_reach_the_target_are_named(res):
    """A batch size none of whose trials reached the loss had no point on the
    time-to-target panel, and no word on why: its axis label names it."""
    sizes = sorted(res.trials.loc[res.trials["epochs_run"] > 0, "batch_size"].unique())
    assert len(sizes) >= 2
    slow = int(sizes[-1])
    numbers = res.trials.loc[res.trials["batch_size"] == slow, "number"]
    c = res.curves.copy()
    c.loc[c["trial"].isin(numbers), "train_loss"] = 1e3  # never near the target
    tab = A.batch_tradeoff(res.trials, c)
    assert tab.loc[tab["batch_size"] == slow, "seconds_to_target"].isna().all()
    label = P.plot_batch_tradeoff(res.trials, c, res.meta).axes[2].get_xlabel()
    full = " (full)" if slow == res.meta["data"]["n_train"] else ""
    missed = tab.loc[tab["seconds_to_target"].isna(), "batch_size"].astype(int).tolist()
    assert missed[-1] == slow and label.endswith(f"{slow}{full}"), label
    assert label.startswith("batch size, log2 scale\nnot reached by batch ")
    assert all(str(b) in label.split("\n")[1] for b in missed)


def test_figures_show_as_plots_in_a_notebook(res):
    """IPython shows an object by its _repr_png_: without it, a Figure made
    without pyplot appears in Jupyter as '<Figure size 640x400 with 1 Axes>'."""
    for fig in (
        P.plot_history(res.trials, res.meta),
        P.plot_history(res.trials.iloc[:0], res.meta),
    ):
        png = fig._repr_png_()
        assert isinstance(fig, P.ShownFigure) and png.startswith(b"\x89PNG\r\n")
        size = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert size == (640, 400)  # 6.4 x 4 inches at 100 dpi


def test_sensitivity_data_uses_one_minus_beta(res):
    d = P.sensitivity_data(res.trials)
    b = d[d["param"] == "beta1"]
    adam = res.trials[(res.trials["state"] == "COMPLETE") & (res.trials["optimizer"] == "adam")]
    if len(adam) > 1:
        np.testing.assert_allclose(sorted(b["x"]), sorted(1 - adam["beta1"]))
    assert set(d["param"]) <= {
        "lr",
        "decay_rate",
        "momentum_beta",
        "rmsprop_beta",
        "beta1",
        "beta2",
    }
    assert "lr" in set(d["param"])
    P.plot_sensitivity(res.trials, res.meta)


def test_schedules_and_parallel_data(res):
    s = P.schedules_data(res.trials, res.curves)
    # the best trial of each schedule (it showed each optimizer's, whose
    # schedules could all be the same one)
    done = A.complete(res.trials)
    ranked = done.sort_values(["value", "number"], ascending=[False, True])  # ties: earliest
    best = ranked.groupby("schedule")["number"].first()
    assert s.groupby("schedule")["trial"].unique().map(list).to_dict() == {
        k: [v] for k, v in best.items()
    }
    assert len(best) == 2  # constant and inverse_time
    for _, g in s.groupby("trial"):
        sched = g["schedule"].iloc[0]
        if sched == "constant":
            assert g["lr"].nunique() == 1
        else:
            assert (np.diff(g["lr"]) <= 0).all()
    d, ticks = P.parallel_data(res.trials)
    params = [c for c in d if c != "value"]
    assert "lr" in params and set(ticks) == set(params)
    vals = d[params].to_numpy(dtype=float)
    assert np.nanmin(vals) >= 0 and np.nanmax(vals) <= 1
    P.plot_schedules(res.trials, res.curves, res.meta)
    P.plot_parallel(res.trials, res.meta)


def test_parallel_coordinates_show_every_value(res):
    """Each value a complete trial has is drawn: a segment's end, or a dot
    where the trial used neither neighbouring axis (momentum's beta between
    Adam's and RMSprop's was not drawn at all)."""
    t = res.trials.copy()
    done = t["state"] == "COMPLETE"
    # the searched axes in order: put a beta between two others a trial lacks
    t.loc[done & (t["optimizer"] != "adam"), ["beta1", "beta2"]] = np.nan
    d, _ = P.parallel_data(t)
    params = [c for c in d.columns if c != "value"]
    fig = P.plot_parallel(t, res.meta)
    ax = fig.axes[0]
    points = set()
    for c in ax.collections:
        if hasattr(c, "get_segments"):
            for seg in c.get_segments():
                points.update((round(x, 9), round(y, 9)) for x, y in seg)
        else:
            points.update((round(x, 9), round(y, 9)) for x, y in c.get_offsets())
    values = d[params].to_numpy(dtype=float)
    wanted = {
        (float(i), round(float(y), 9))
        for row in values
        for i, y in enumerate(row)
        if np.isfinite(y)
    }
    assert wanted <= points
    lonely = [
        (i, row[i])
        for row in values
        for i in range(1, len(row) - 1)
        if np.isfinite(row[i]) and not np.isfinite(row[i - 1]) and not np.isfinite(row[i + 1])
    ]
    assert lonely  # the case this test is about occurs


def test_report_files_and_reproducibility(res, tmp_path):
    copy = tmp_path / "copied"
    shutil.copytree(res.path, copy)
    (copy / "study.journal").unlink()  # a copied directory needs no storage
    shutil.rmtree(copy / "report", ignore_errors=True)
    write_report([copy])
    first = {p.name: p.read_bytes() for p in (copy / "report").iterdir()}
    assert {
        "report.md",
        "report.html",
        "history.png",
        "learning_curves.png",
        "batch_tradeoff.png",
        "sensitivity.png",
        "schedules.png",
        "parallel.png",
        "boundaries.png",
    } <= set(first)
    write_report([copy])
    second = {p.name: p.read_bytes() for p in (copy / "report").iterdir()}
    assert first == second  # byte-identical regeneration
    md = first["report.md"].decode()
    assert "## Which optimizer wins" in md and "![" in md
    assert '<img src="data:image/png;base64,' in first["report.html"].decode()  # self-contained


def test_figures_drawn_in_workers_equal_those_drawn_here(res, tmp_path):
    """The report draws its figures in worker processes; drawn in this
    process instead (one core), every file is the same, byte for byte."""
    copies = {}
    for n_jobs in (2, 1):
        copy = copies[n_jobs] = tmp_path / f"jobs{n_jobs}"
        shutil.copytree(res.path, copy)
        shutil.rmtree(copy / "report", ignore_errors=True)
        with _Painter(n_jobs) as painter:
            study_report(optsweep.load(copy), painter)
    files = [{p.name: p.read_bytes() for p in (c / "report").iterdir()} for c in copies.values()]
    assert len(files[0]) >= 10 and files[0] == files[1]


def test_a_figure_that_fails_leaves_a_note_and_the_others(res, tmp_path):
    with _Painter(2) as painter:
        doc = _Doc("t", tmp_path, painter)
        doc.section = "broken"
        doc.figure("bad", operator.truediv, (1, 0), "never drawn")
        doc.section = "history"
        doc.figure("good", P.plot_history, (res.trials, res.meta), "drawn")
        files = doc.write()
    md = (tmp_path / "report.md").read_text()
    assert "(broken: not drawn: ZeroDivisionError: division by zero)" in md
    assert "never drawn" not in md and "![drawn](good.png)" in md
    assert (tmp_path / "good.png").exists() and not (tmp_path / "bad.png").exists()
    assert tmp_path / "good.png" in files and tmp_path / "bad.png" not in files


def test_command_line_report_has_importances_without_scikit_learn_ensembles(res, tmp_path):
    """The command line keeps scikit-learn's ensembles out of its process (Optuna's
    importance package would import them for an evaluator optsweep does not
    use); the importances, Optuna's PED-ANOVA, are drawn all the same."""
    pytest.importorskip("sklearn", reason="scikit-learn makes Optuna import its ensembles")
    copy = tmp_path / "copied"
    shutil.copytree(res.path, copy)
    shutil.rmtree(copy / "report", ignore_errors=True)
    code = (
        "import sys; from optsweep.cli import main; rc = main(['report', sys.argv[1]]); "
        "print(rc, sys.modules.get('sklearn.ensemble'), 'optuna.importance' in sys.modules)"
    )
    out = run_python(code, str(copy))
    assert out.stdout.splitlines()[-1] == "0 None True"
    md = (copy / "report" / "report.md").read_text()
    assert "## Importances" in md and "importances.png" in md and "not drawn" not in md
    assert (copy / "report" / "importances.png").exists()


def test_comparison_report(res, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(res.path, other)
    pages = write_report([res.path, other], tmp_path / "cmp")
    assert pages[-1] == tmp_path / "cmp" / "report.md"
    assert (tmp_path / "cmp" / "comparison.png").exists()
    d = P.comparison_data([("a", res.trials, res.meta), ("b", res.trials, res.meta)])
    assert (
        set(d["study"]) == {"a", "b"}
        and len(d) == 2 * res.trials.query("state == 'COMPLETE'")["optimizer"].nunique()
    )


def test_long_axis_labels_fit_in_their_figures(res):
    """A regression's loss label, "training loss (squared error of
    standardised targets), log scale", ran off a 4-inch figure: long labels
    go on two lines, and every label is inside its figure."""
    assert P.fit_label("training loss (binary cross-entropy), log") == (
        "training loss (binary cross-entropy), log"  # short: as it is
    )
    assert P.fit_label("training loss (squared error of standardised targets), log scale") == (
        "training loss\n(squared error of standardised targets), log scale"
    )
    assert P.fit_label("validation loss (squared error of standardised targets), log", 40) == (
        "validation loss\n(squared error of standardised targets),\nlog"  # more lines if need be
    )
    meta = {**res.meta, "model": {**res.meta["model"], "head": "linear"}}
    meta["data"] = {**meta["data"], "target_scaler": {"mean": 100.0, "std": 2.0}}
    losses = {**meta, "metrics": ["val_loss"], "directions": ["minimize"]}
    spread = res.trials.assign(value=np.geomspace(0.005, 1.5, len(res.trials)))
    for fig in (
        P.plot_learning_curves(res.trials, res.curves, meta),
        P.plot_batch_tradeoff(res.trials, res.curves, meta),
        P.plot_sensitivity(spread, losses),  # a loss spanning decades: log, three lines
    ):
        fig.draw_without_rendering()  # lays out the figure, as saving does
        for ax in fig.axes:
            box = ax.yaxis.label.get_window_extent()
            assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, ax.get_ylabel()
    spread.loc[spread.index[0], ["state", "value"]] = ["FAIL", np.nan]  # an x mark's band
    ax = P.plot_sensitivity(spread, losses).axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] > 0


@pytest.mark.parametrize("k", [3, 30])
def test_decision_boundaries_name_every_class_inside_the_figure(k):
    """Up to twelve classes in a legend; thirty made a legend taller than the
    figure, cut off: a colour bar of classes instead."""
    from optsweep.engine import Network

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 2)), rng.integers(0, k, 200)
    net = Network([2, 8, k], head="softmax", rng=rng)
    meta = {"model": {"head": "softmax", "activation": "relu"}, "data": {}}
    fig = P.plot_boundaries([("adam", 0, net.state_dict())], X, y, meta)
    fig.draw_without_rendering()
    if k <= 12:
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.texts] == [str(c) for c in range(k)]
        boxes = [legend.get_window_extent()]
    else:
        assert fig.legends == [] and fig.axes[-1].get_ylabel() == "class"
        boxes = [t.get_window_extent() for t in fig.axes[-1].get_yticklabels() if t.get_text()]
        assert len(boxes) >= 5
    for b in boxes:
        assert fig.bbox.y0 <= b.y0 and b.y1 <= fig.bbox.y1 and b.x1 <= fig.bbox.x1


@pytest.mark.parametrize("target", ["regression", "classes"])
def test_a_study_on_one_input_feature_draws_what_its_models_predict(tmp_path, target):
    """With one input feature the report drew no figure of the models (its
    decision boundaries needed two): a regression's best models are curves
    over the training points, in the targets' units; a classifier's, its
    regions along the feature. Both are what the models predict from raw
    inputs (``res.model``)."""
    from optsweep.report import _boundaries

    x = np.random.default_rng(0).uniform(-3, 3, 120)
    y = [f"{v:.4f}" for v in 10 + 3 * np.sin(x)] if target == "regression" else (
        np.where(x < 0.5, "neg", "pos")
    )  # fmt: skip
    csv = tmp_path / "one.csv"
    csv.write_text("x,y\n" + "".join(f"{a:.4f},{b}\n" for a, b in zip(x, y, strict=True)))
    path = file_sweep(tmp_path, "one", csv, "y", n_trials=4, epochs=20)
    run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
    res = optsweep.load(tmp_path / "r" / "one")
    args = _boundaries(res)
    assert args is not None and len(args[0]) >= 2  # the best model of each optimizer
    fig = P.plot_boundaries(*args)
    assert _text_problems(fig) == []
    trials = [trial for _, trial, _ in args[0]]
    if target == "regression":
        (ax,) = fig.axes
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == [f"{o} (trial {t})" for o, t, _ in args[0]]
        assert ax.get_ylabel() == "y" and ax.get_xlabel() == "x (standardised)"
        for line, trial in zip(lines, trials, strict=True):
            model = res.model(trial)
            raw = line.get_xdata()[:, None] * model.std + model.mean
            np.testing.assert_allclose(line.get_ydata(), model.predict(raw), rtol=1e-9)
        return
    assert len(fig.axes) == len(trials)
    for ax, trial in zip(fig.axes, trials, strict=True):
        model = res.model(trial)
        (img,) = ax.images
        x0, x1 = img.get_extent()[:2]
        raw = np.linspace(x0, x1, img.get_array().shape[1])[:, None] * model.std + model.mean
        codes = np.asarray(img.get_array()[0], dtype=int)
        assert np.asarray(model.classes)[codes].tolist() == model.predict(raw).tolist()
        assert [t.get_text() for t in ax.get_yticklabels()] == ["neg", "pos"]


def _text_problems(fig: Figure) -> list[str]:
    """Drawn text of ``fig`` (titles, axis and tick labels, legends) that
    reaches outside the figure, or that overlaps other such text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    texts = [t for leg in fig.legends for t in leg.get_texts()]
    for ax in fig.axes:  # a subfigure's too
        if not ax.get_visible():
            continue
        texts += [ax.title, *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            texts.append(axis.label)
            lo, hi = sorted(axis.get_view_interval())
            span = (hi - lo) * 1e-9
            locs, labels = axis.get_majorticklocs(), axis.get_majorticklabels()
            texts += [t for x, t in zip(locs, labels) if lo - span <= x <= hi + span]
    shown = [
        (t.get_text(), t.get_window_extent()) for t in texts if t.get_visible() and t.get_text()
    ]
    box = fig.bbox
    out = [
        f"outside: {text!r}"
        for text, b in shown
        if b.x0 < box.x0 - 1 or b.x1 > box.x1 + 1 or b.y0 < box.y0 - 1 or b.y1 > box.y1 + 1
    ]
    inner = [(text, b.shrunk(0.9, 0.8)) for text, b in shown]
    out += [
        f"overlap: {a!r} and {b!r}"
        for i, (a, ba) in enumerate(inner)
        for b, bb in inner[i + 1 :]
        if ba.overlaps(bb)
    ]
    return out


def test_every_report_figure_keeps_its_text_inside_and_apart(res, tmp_path, monkeypatch):
    """Every figure of a study's report, and of a comparison of a classifier
    with a regression: no label cut at the figure's edge, none over another."""
    import optsweep.report as R

    problems: dict[str, list[str]] = {}
    draw = R._draw

    def checked(plot, args, path):
        with mpl.rc_context(P.STYLE):
            problems[Path(path).name] = _text_problems(plot(*args))
        return draw(plot, args, path)

    monkeypatch.setattr(R, "_draw", checked)
    reg = tmp_path / "reg" / "small"
    shutil.copytree(res.path, reg)
    meta = json.loads((reg / "meta.json").read_text())
    meta["model"]["head"] = "linear"
    (reg / "meta.json").write_text(json.dumps(meta))
    write_report([res.path, reg], tmp_path / "cmp", n_jobs=1)
    assert {"history.png", "importances.png", "comparison.png"} <= set(problems)
    assert {name: p for name, p in problems.items() if p} == {}


def test_importances_of_many_scopes_fit_the_figure():
    """Six scopes (all, four optimizers, the decaying schedules) were six
    panels in one row of 15 inches: their titles ran into each other and the
    last was cut at the edge. Rows of at most four, every label inside."""
    scopes = ["all", "adam", "gd", "momentum", "rmsprop", "decaying schedules"]
    imp = pd.DataFrame(
        [
            {"scope": s, "param": p, "importance": w, "n": 123}
            for s in scopes
            for p, w in (("lr", 0.6), ("batch_size", 0.3), ("momentum_beta", 0.1))
        ]
    )
    fig = P.plot_importances(imp)
    fig.draw_without_rendering()
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 6 and len({ax.get_position().y0 for ax in shown}) == 2
    titles = [ax.title.get_window_extent() for ax in shown]
    texts = titles + [
        t.get_window_extent()
        for ax in shown
        for t in (ax.xaxis.label, *ax.get_yticklabels(), *ax.get_xticklabels())
    ]
    box = fig.bbox
    assert all(
        box.x0 <= b.x0 and b.x1 <= box.x1 and box.y0 <= b.y0 and b.y1 <= box.y1 for b in texts
    )
    assert not any(a.overlaps(b) for i, a in enumerate(titles) for b in titles[i + 1 :])


def test_comparison_of_a_classifier_and_a_regression(res):
    """Accuracy beside R^2: a panel for each metric, with its own axis and
    label (one axis zoomed on both showed neither, and went below 0 for
    accuracies); each study's bars centred on its name, with no gap for an
    optimizer it did not try."""
    reg_meta = {**res.meta, "model": {**res.meta["model"], "head": "linear"}}
    one = res.trials[res.trials["optimizer"] == res.trials["optimizer"].iloc[0]]
    studies = [("cls", res.trials, res.meta), ("reg", one, reg_meta), ("cls2", one, res.meta)]
    fig = P.plot_comparison(studies)
    assert len(fig.axes) == 2
    (acc, r2) = fig.axes
    assert [t.get_text() for t in acc.get_xticklabels()] == ["cls", "cls2"]
    assert [t.get_text() for t in r2.get_xticklabels()] == ["reg"]
    assert acc.get_ylabel() == "validation accuracy (fraction correct)"
    assert r2.get_ylabel() == "validation R\u00b2"
    n_cls = P.comparison_data(studies[:1])["optimizer"].nunique()
    centres = [
        np.array([b.get_x() + b.get_width() / 2 for b in ax.patches if np.isfinite(b.get_height())])
        for ax in (acc, r2)
    ]
    assert centres[0][:n_cls].mean() == pytest.approx(0) and centres[0][n_cls:] == pytest.approx(
        [1]
    )
    assert centres[1] == pytest.approx([0])
    values = P.comparison_data(studies)["value"]
    low, high = acc.get_ylim()
    assert 0 <= low < values.min() and values.max() < high  # an accuracy: not below 0
    same = [("a", res.trials, res.meta), ("b", one, res.meta)]
    (ax,) = P.plot_comparison(same).axes
    assert ax.get_ylabel().startswith("validation acc")
    # four metrics: rows of at most three panels (five in a row: 29 inches wide)
    four = [
        *studies[:2],
        ("loss", one, {**res.meta, "metrics": ["val_loss"], "directions": ["minimize"]}),
        ("train", one, {**res.meta, "metrics": ["train_metric"]}),
    ]
    fig = P.plot_comparison(four)
    assert [len(sub.axes) for sub in fig.subfigs] == [3, 1] and fig.get_figwidth() < 16
    assert _text_problems(fig) == []


def test_comparison_of_studies_that_share_a_name_and_a_folder_name(res, tmp_path):
    """Labels take as many parent folders as tell the studies apart; the same
    folder given twice is reported once (it was a pandas traceback)."""
    a, b = tmp_path / "a" / "results" / "small", tmp_path / "b" / "results" / "small"
    shutil.copytree(res.path, a)
    shutil.copytree(res.path, b)
    pages = write_report([a, b], tmp_path / "cmp")
    md = pages[-1].read_text()
    assert md.startswith("# optsweep comparison: a/results/small, b/results/small\n")
    pages = write_report([a, tmp_path / "a" / "results" / ".." / "results" / "small"])
    assert pages == [a / "report" / "report.md"]  # one study: no comparison


def test_report_names_optimizers_without_a_complete_trial(res, tmp_path):
    """Every trial of Adam pruned: the winners' table had no row for it and
    an empty column for each of its betas; now no such columns, and a line
    saying so."""
    copy = tmp_path / "no_adam"
    shutil.copytree(res.path, copy)
    (copy / "study.journal").unlink()  # the report reads the edited table
    t = res.trials.copy()
    adam = t["optimizer"] == "adam"
    assert adam.any() and (~adam & (t["state"] == "COMPLETE")).any()
    t.loc[adam, "state"] = "PRUNED"
    write_table(t, copy, "trials", res.meta.get("format", "auto"))
    write_report([copy])
    md = (copy / "report" / "report.md").read_text()
    wins = md.split("## Which optimizer wins")[1].split("![")[0]
    assert f"adam: no complete trial ({int(adam.sum())} pruned)." in wins
    header = next(line for line in wins.splitlines() if line.startswith("| optimizer |"))
    assert "beta1" not in header and "beta2" not in header and "| lr |" in header


def test_report_of_a_run_before_its_first_tables(res, tmp_path, capsys):
    """`optsweep report` while a run has not yet written its tables (they are
    written at the end, and every 30 s): it said "no trials/curves tables
    (run: optsweep export ...)"; it writes them from the study's storage."""
    from optsweep.cli import main

    d = tmp_path / "running"
    shutil.copytree(res.path, d)
    for p in [*d.glob("trials.*"), *d.glob("curves.*")]:
        p.unlink()
    assert main(["report", str(d)]) == 0
    out = capsys.readouterr().out
    assert f"{d}: tables written from the study's storage" in out
    assert (d / "report" / "report.md").exists()
    again = optsweep.load(d)
    assert len(again.trials) == len(res.trials) and len(again.curves) == len(res.curves)
    (d / "study.journal").unlink()  # neither tables nor storage: the error says so
    for p in [*d.glob("trials.*"), *d.glob("curves.*")]:
        p.unlink()
    assert main(["report", str(d)]) == 2
    assert "no trials/curves tables" in capsys.readouterr().err


def test_interrupted_trials_are_not_counted_as_failures(res, tmp_path):
    """A resumed study's interrupted trials (run again since) are shown apart
    from the trials that failed, as ``optsweep status`` shows them."""
    copy = tmp_path / "resumed"
    shutil.copytree(res.path, copy)
    (copy / "study.journal").unlink()  # the report reads the edited table
    t = res.trials.copy()
    t.loc[t.index[:2], ["state", "reason"]] = ["FAIL", INTERRUPTED]
    write_table(t, copy, "trials", res.meta.get("format", "auto"))
    write_report([copy])
    md = (copy / "report" / "report.md").read_text()
    assert "| INTERRUPTED | 2 |" in md and "run again, with the same seeds" in md
    assert "| FAIL |" not in md  # the small sweep has no failure of its own
    write_report([res.path, copy], tmp_path / "cmp")
    cmp = (tmp_path / "cmp" / "report.md").read_text()
    assert "| failed | interrupted or lost |" in cmp
    assert "| 16 | 16 | 0 | 0 | 0 |" in cmp  # the original: trials, complete, ..., none
    assert "| 16 | 14 | 0 | 0 | 2 |" in cmp  # the copy: two interrupted, not failed
    write_report([res.path])  # none interrupted: no such note
    assert "interrupted" not in (res.path / "report" / "report.md").read_text()


# --- edge cases -------------------------------------------------------------------


def _all_plots(r: optsweep.Results) -> None:
    t, c, m = r.trials, r.curves, r.meta
    figs = [
        P.plot_history(t, m),
        P.plot_learning_curves(t, c, m),
        P.plot_batch_tradeoff(t, c, m),
        P.plot_sensitivity(t, m),
        P.plot_schedules(t, c, m),
        P.plot_parallel(t, m),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    write_report([r.path])
    assert (r.path / "report" / "report.html").exists()


def test_one_trial(tmp_path):
    r = _sweep(tmp_path, "one", 1)
    assert len(P.history_data(r.trials)) == (r.trials["state"] == "COMPLETE").sum()
    _all_plots(r)


def test_all_failed(tmp_path):
    r = _sweep(
        tmp_path,
        "fails",
        3,
        edit=lambda s: s.replace("lr = { low = 1e-3, high = 0.3 }", "lr = 1e250"),
    )
    assert (r.trials["state"] == "FAIL").all()
    assert P.history_data(r.trials).empty and P.learning_curves_data(r.trials, r.curves).empty
    _all_plots(r)
    # the report says so in a line rather than drawing two empty frames, and
    # drops those an earlier report drew
    (r.path / "report").mkdir(exist_ok=True)
    for name in ("history", "learning_curves"):
        (r.path / "report" / f"{name}.png").write_bytes(b"an earlier report's")
    names = {p.name for p in study_report(r)}
    assert not {"history.png", "learning_curves.png"} & names
    assert not (r.path / "report" / "history.png").exists()
    md = (r.path / "report" / "report.md").read_text()
    assert "No trial has completed yet: the optimization history and the learning curves" in md


def test_no_validation_set(tmp_path):
    r = _sweep(
        tmp_path,
        "noval",
        4,
        study_extra='metric = "train_metric"',
        edit=lambda s: s.replace("val_fraction = 0.25", "val_fraction = 0.0"),
    )
    assert r.curves["val_loss"].isna().all()
    assert P.metric_label("train_metric", r.meta) == "training accuracy (fraction correct)"
    _all_plots(r)


def test_conditional_parameter_absent_in_most_trials(tmp_path):
    r = _sweep(
        tmp_path,
        "cond",
        6,
        edit=lambda s: s.replace(
            'optimizer = ["gd", "momentum", "rmsprop", "adam"]', 'optimizer = ["gd", "adam"]'
        ),
    )
    d = P.sensitivity_data(r.trials)
    assert d[d["param"] == "beta1"]["optimizer"].eq("adam").all()
    _all_plots(r)


def test_multi_objective_pareto(tmp_path):
    r = _sweep(tmp_path, "mo", 6, study_extra='metric = ["val_metric", "train_seconds"]')
    assert isinstance(P.plot_pareto(r.trials, r.meta), Figure)
    write_report([r.path])
    assert (r.path / "report" / "pareto.png").exists()
    # a loss spanning decades (0.005 to 1.5): a log axis, or the front is a
    # clump at its left edge; accuracies stay linear
    t = r.trials.assign(value_val_metric=np.geomspace(0.005, 1.5, len(r.trials)))
    meta = {**r.meta, "metrics": ["val_loss", "train_seconds"]}
    ax = P.plot_pareto(t.rename(columns={"value_val_metric": "value_val_loss"}), meta).axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel().endswith(", log scale")
    assert P.plot_pareto(r.trials, r.meta).axes[0].get_xscale() == "linear"


def test_confirm_retrains_top_configurations(res, tmp_path):
    from optsweep.confirm import confirm

    d = tmp_path / "c"
    shutil.copytree(res.path, d)
    runs = confirm(d, top=2, seeds=3, n_jobs=1)
    done = res.trials[res.trials["state"] == "COMPLETE"].sort_values(
        ["value", "number"], ascending=[False, True]
    )
    assert runs["number"].tolist() == [done["number"].iloc[0]] * 3 + [done["number"].iloc[1]] * 3
    assert runs["seed"].nunique() == 6 and not set(runs["seed"]) & set(res.trials["seed"].dropna())
    assert (runs["status"] == "complete").all()
    again = confirm(d, top=2, seeds=3, n_jobs=2)  # parallel, same seeds: same numbers
    np.testing.assert_array_equal(runs["value"], again["value"])
    write_report([d])
    assert (d / "report" / "confirmation.png").exists()
    md = (d / "report" / "report.md").read_text()
    assert "## Confirmation runs" in md and "| number | optimizer | search_value | n |" in md
    from optsweep.confirm import summary_text

    best = done.iloc[0]
    row = summary_text(runs, res.trials, res.meta).splitlines()[1].split()
    assert row[:4] == [str(best["number"]), best["optimizer"], f"{best['value']:.4g}", "3"]


def test_confirm_finds_a_relative_data_file_and_refuses_changed_data(tmp_path):
    """A sweep's CSV named relative to the sweep file: confirm retrains on it
    from any folder (the copied sweep file's relative path meant the
    original's folder), and refuses once the file's contents changed."""
    from optsweep.confirm import confirm

    proj = tmp_path / "proj"
    proj.mkdir()
    rng = np.random.default_rng(0)
    rows = [f"{a:.5f},{b:.5f},{int(a * b > 0)}" for a, b in rng.normal(size=(80, 2))]
    (proj / "d.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    path = file_sweep(proj, "rel", "d.csv", "y", n_trials=3, epochs=3)
    run_sweep(load_sweep(path), root=tmp_path / "results", progress=False)
    runs = confirm(tmp_path / "results" / "rel", top=1, seeds=2)  # run from the repository
    assert len(runs) == 2 and (runs["status"] == "complete").all()
    flipped = [r[:-1] + str(1 - int(r[-1])) for r in rows]
    (proj / "d.csv").write_text("a,b,y\n" + "\n".join(flipped) + "\n")
    with pytest.raises(ConfigError, match="differ from those the study trained on"):
        confirm(tmp_path / "results" / "rel", top=1, seeds=2)


def test_failed_trials_in_the_sensitivity_plot_and_the_report(tmp_path):
    """Diverged trials have no value but a learning rate: the sensitivity data
    keep them (failed), the plot marks them x at its bottom edge, and the
    report lists them by optimizer and cause."""
    r = _sweep(
        tmp_path,
        "div",
        8,
        edit=lambda s: s.replace(
            "lr = { low = 1e-3, high = 0.3 }", "lr = { low = 0.01, high = 1e3 }"
        ),
    )
    bad = r.trials[r.trials["state"] == "FAIL"]
    assert 0 < len(bad) < len(r.trials)
    d = P.sensitivity_data(r.trials)
    lr = d[d["param"] == "lr"]
    assert sorted(lr.loc[lr["failed"], "x"]) == sorted(bad["lr"])
    assert (
        lr.loc[lr["failed"], "value"].isna().all() and lr.loc[~lr["failed"], "value"].notna().all()
    )
    fig = P.plot_sensitivity(r.trials, r.meta)
    ax = fig.axes[0]
    crosses = [c for c in ax.collections if c.get_label().endswith(" failed")]
    assert sum(len(c.get_offsets()) for c in crosses) == len(bad)
    assert ax.get_xlim()[1] > bad["lr"].max()  # the axis reaches the failed trials
    write_report([r.path])
    md = (r.path / "report" / "report.md").read_text()
    assert "## Failures" in md and "| diverged |" in md
    from optsweep.status import status_text

    text = status_text(r.path)  # the command says it too: how many, why, at which rates
    assert f"{len(bad)} failed" in text and "\nfailed: " in text and " diverged " in text
    for opt, g in bad.groupby("optimizer"):
        assert f"{opt} diverged {len(g)} (lr " in text


def test_decay_section_without_a_constant_rate(tmp_path):
    """No trial at a constant rate: the schedules table has no empty
    gain_over_constant column; its first column is named schedule."""
    r = _sweep(
        tmp_path,
        "decays",
        6,
        edit=lambda s: s.replace('["constant", "inverse_time"]', '["inverse_time", "exponential"]'),
    )
    write_report([r.path])
    md = (r.path / "report" / "report.md").read_text()
    section = md.split("## What learning-rate decay buys")[1].split("##")[0]
    assert "| schedule | n | best |" in section
    assert "gain_over_constant" not in section and "| lr | n | best |" in md
    assert (r.path / "report" / "schedules.png").exists()


def test_results_repr_is_one_line(res):
    """What a notebook shows for ``optsweep.load(...)``: counts, not two tables."""
    text = repr(res)
    n_complete = int((res.trials["state"] == "COMPLETE").sum())
    assert "\n" not in text and text.startswith("<Results 'small' at ")
    assert "16 trials (" in text and f"{n_complete} complete" in text
    assert f"{len(res.curves)} curve rows" in text


def test_report_leaves_out_what_a_study_did_not_search(tmp_path):
    """One trial per optimizer, nothing else searched (the seed's course
    study): no sensitivity or parallel-coordinates section, and an earlier
    report's figures of those are removed; other files are left alone."""
    from optsweep.report import STUDY_FIGURES

    path = write_sweep(tmp_path, "fixed", n_trials=4, epochs=5, study_extra='sampler = "grid"')
    search = path.read_text().split("[search]")[1].split("[execution]")[0]
    fixed = 'optimizer = ["gd", "momentum", "rmsprop", "adam"]\nbatch_size = 32\nlr = 0.05\n'
    path.write_text(path.read_text().replace(search, "\n" + fixed + "\n"))
    run_sweep(load_sweep(path), root=tmp_path / "results", progress=False)
    folder = tmp_path / "results" / "fixed" / "report"
    folder.mkdir()
    for name in ("sensitivity.png", "parallel.png", "mine.png"):
        (folder / name).write_bytes(b"old")
    write_report([tmp_path / "results" / "fixed"])
    md = (folder / "report.md").read_text()
    assert "## Sensitivity" not in md and "parallel.png" not in md
    pngs = {p.name for p in folder.glob("*.png")}
    assert pngs == {"history.png", "learning_curves.png", "boundaries.png", "mine.png"}
    assert {p.stem for p in folder.glob("*.png")} - {"mine"} <= set(STUDY_FIGURES)


def test_parallel_colours_are_not_squeezed_by_an_outlier(res):
    """One trial far below the rest: the colour scale spans the 5th to 95th
    percentile, the colour bar says it is clipped, and the best is brightest."""
    import matplotlib as mpl
    import pandas as pd

    done = res.trials[res.trials["state"] == "COMPLETE"]
    t = pd.concat([done] * (20 // len(done) + 1), ignore_index=True)
    t["number"] = range(len(t))
    t.loc[0, "value"] = -100.0
    fig = P.plot_parallel(t, res.meta)
    bar = fig.axes[-1]
    lo = bar.get_ylim()[0]
    assert lo > -100 and lo >= t["value"].quantile(0.05) - 1e-12
    lines = fig.axes[0].collections[0]  # each trial's segments, the best trial's last
    best = lines.get_colors()[-1]
    assert tuple(best[:3]) == pytest.approx(mpl.colormaps["viridis"](1.0)[:3])
    # a loss from 0.005 to 1.5: colours by decades, or all but a few lines alike
    losses = {**res.meta, "metrics": ["val_loss"], "directions": ["minimize"]}
    t["value"] = np.geomspace(0.005, 1.5, len(t))
    bar = P.plot_parallel(t, losses).axes[-1]
    assert bar.get_yscale() == "log" and bar.get_ylabel().endswith(", log scale")
    # three axes: a figure narrower than the title on one line (it was cut at both ends)
    few = t.assign(**{b: np.nan for b in ("momentum_beta", "rmsprop_beta", "beta1", "beta2")})
    few = few.assign(schedule="constant", decay_rate=np.nan)
    fig = P.plot_parallel(few, losses)
    fig.draw_without_rendering()
    box = fig.axes[0].title.get_window_extent()
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1


def test_r2_far_below_zero_does_not_flatten_the_history_and_sensitivity(res):
    """A regression whose trials end at R^2 -1600 (too few epochs on raw
    targets): the axes and the parallel coordinates' colours stop at -1, with those trials drawn there as
    triangles and the label saying so; a classification's are untouched."""
    t = res.trials.copy()
    done = t.index[t["state"] == "COMPLETE"]
    t.loc[done, "value"] = np.linspace(0.5, 0.95, len(done))
    t.loc[done[:2], "value"] = [-1600.0, -3.0]
    meta = {**res.meta, "model": {**res.meta["model"], "head": "linear"}}
    for fig in (P.plot_history(t, meta), P.plot_sensitivity(t, meta)):
        ax = fig.axes[0]
        assert -1.2 < ax.get_ylim()[0] < -1 and ax.get_ylim()[1] < 1.1
        assert "(below -1: \u25bc at -1)" in ax.get_ylabel()
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert (points[:, 1] >= -1).all() and (points[:, 1] == -1).sum() >= 2
    bar = P.plot_parallel(t, meta).axes[-1]  # the colours too
    assert bar.get_ylim()[0] == pytest.approx(-1)
    fig = P.plot_history(t, res.meta)  # accuracy: the values as they are
    assert fig.axes[0].get_ylim()[0] < -1600 and "below" not in fig.axes[0].get_ylabel()


def test_batch_size_ticks_do_not_collide():
    """The full batch (384) beside 256 is labelled a line lower; powers of two are not."""
    assert P.size_labels([1, 2, 4, 256, 384]) == ["1", "2", "4", "256", "\n384"]
    assert P.size_labels([8, 16, 450]) == ["8", "16", "450"]


@pytest.mark.parametrize("span", [(3.3e-4, 6.8e-4), (0.02, 0.9), (1e-4, 1.0), (5.0, 20.0)])
def test_log_axis_tick_labels_do_not_overlap(span):
    """Seconds of one-epoch trials (0.00033 to 0.00068) gave matplotlib's
    linear fall-back ticks, labels run together ("0.000500.00060"); on every
    span the drawn labels are apart, and at least two."""
    fig, axes = P._new(ncols=3, width=13.5, height=4.0)
    ax = axes[1]
    ax.plot(span, [1, 2], marker="o")
    P.log_axis(ax, "x")
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    boxes = sorted((b.x0, b.x1) for b in (t.get_window_extent() for t in shown))
    assert len(boxes) >= 2
    assert all(a[1] < b[0] for a, b in itertools.pairwise(boxes)), [t.get_text() for t in shown]


@pytest.mark.parametrize(
    ("span", "ends"), [((0.021, 0.42), ("0.02", "0.5")), ((0.3, 4.2), ("", "5"))]
)
def test_a_log_axis_labels_a_major_just_beyond_its_data(span, ends):
    """A constant learning rate of 0.42 drew the schedules figure's top line
    with no label above 0.2: a 1-2-5 major within a quarter of the data's
    ends is taken into the axis."""
    fig, (ax,) = P._new()
    ax.plot([1, 2], span)
    P.log_axis(ax, "y")
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
    assert float(shown[-1]) == float(ends[1]) and (not ends[0] or float(shown[0]) == float(ends[0]))


def test_a_loaded_table_knows_which_way_is_better(tmp_path):
    """optsweep.load keeps the study's direction with the trials table, so
    that a notebook's analysis.best_per_optimizer(trials) of a study that
    minimises a loss ranks the lowest first without being told."""

    r = _sweep(tmp_path, "low", 8, study_extra='metric = "val_loss"')
    t = r.trials
    assert t.attrs["directions"] == ["minimize"] and A.minimizes(t)
    done = t[t["state"] == "COMPLETE"]
    best = A.best_per_optimizer(t)
    assert best["value"].iloc[0] == done["value"].min()
    assert best["value"].tolist() == sorted(best["value"])
    assert A.best_per_optimizer(t, minimize=False)["value"].iloc[0] == done["value"].max()
    assert P.history_data(t)["best_so_far"].iloc[-1] == done["value"].min()


def test_parquet_results_read_where_pyarrow_is_missing(res, monkeypatch):
    """Results copied to a machine without pyarrow: one line saying what to
    install, not pandas' message about engines."""
    from optsweep.errors import OptsweepError

    assert (res.path / "trials.parquet").exists()
    hide_import(monkeypatch, "pyarrow")
    with pytest.raises(OptsweepError, match=r"trials.parquet: reading Parquet needs pyarrow: pip"):
        optsweep.load(res.path)


@pytest.mark.parametrize("damaged", ["trials.parquet", "curves.parquet", "meta.json"])
def test_damaged_results_files_are_one_line_each(res, tmp_path, damaged):
    """A truncated table or meta.json (a disk full, a copy cut short): one
    line naming the file and what writes it again, exit code 1, not a
    pyarrow or JSON traceback; `optsweep export` mends a table."""
    copy = tmp_path / "copy"
    shutil.copytree(res.path, copy)
    (copy / damaged).write_bytes((copy / damaged).read_bytes()[:200])
    out = subprocess.run(cli("report", copy), capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.splitlines()
    again = "optsweep export" if damaged.endswith(".parquet") else "optsweep run` writes it again"
    assert line.startswith(f"optsweep: error: {copy / damaged}: ") and again in line
    if damaged.endswith(".parquet"):
        subprocess.run(cli("export", copy), check=True, capture_output=True)
        assert len(optsweep.load(copy).trials) == len(res.trials)


def test_damaged_weights_cost_their_model_only(res, tmp_path):
    """A truncated models/trial_N.npz: res.model(N) says the file is damaged
    (not zipfile's BadZipFile), and the report is written, the other
    optimizers' decision boundaries with it, a warning naming the file."""
    from optsweep.errors import OptsweepError

    copy = tmp_path / "copy"
    shutil.copytree(res.path, copy)
    best = P.best_trials(res.trials)
    number = int(best["number"].iloc[0])
    weights = copy / "models" / f"trial_{number:05d}.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(OptsweepError, match=rf"trial_{number:05d}.npz: damaged, not a NumPy"):
        optsweep.load(copy).model(number)
    out = subprocess.run(cli("report", copy), capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert f"trial_{number:05d}.npz: damaged" in out.stderr
    assert (copy / "report" / "boundaries.png").exists() == (len(best) > 1)


def test_loading_and_analysing_tables_does_not_import_optuna(res):
    """A notebook that reads tables needs no Optuna: importing it costs time
    and, through tqdm.auto, warns in Jupyter without ipywidgets."""
    code = (
        "import sys, optsweep\n"
        "from optsweep import analysis, plots\n"
        f"r = optsweep.load({str(res.path)!r})\n"
        "analysis.best_per_optimizer(r.trials); analysis.failures(r.trials)\n"
        "plots.plot_history(r.trials, r.meta); r.model()\n"
        "print(sorted(m for m in ('optuna', 'tqdm') if m in sys.modules))\n"
    )
    out = run_python(code)
    assert out.stdout.strip() == "[]", out.stderr


def test_report_out_with_one_study_is_refused(res, tmp_path):
    """--out places a comparison; with one study it would be ignored."""
    out = tmp_path / "elsewhere"
    proc = subprocess.run(
        cli("report", res.path, "--out", out), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and proc.stderr == (
        "optsweep: error: --out is where the comparison of several studies goes; a study's own "
        f"report goes to {res.path / 'report'} (got {str(out)!r})\n"
    )
    assert not out.exists()


def test_importances_table_reads_all_first_and_names_optimizers_left_out(res, tmp_path):
    """The importances table had its columns in alphabetical order (``all``
    between ``adam`` and ``rmsprop``), its rows too, and optimizers with too
    few complete trials for importances of their own vanished without a word."""
    copy = tmp_path / "few"
    shutil.copytree(res.path, copy)
    (copy / "study.journal").unlink()  # the report reads the edited table
    t = res.trials.copy()
    t["state"], t["value"] = "COMPLETE", np.linspace(0.5, 0.9, len(t))
    t["optimizer"] = ["adam"] * (len(t) - 2) + ["momentum", "gd"]
    t.loc[t["optimizer"] == "gd", "state"] = "PRUNED"
    write_table(t, copy, "trials", res.meta.get("format", "auto"))
    imp = A.importances(t)
    assert list(dict.fromkeys(imp["scope"]))[:2] == ["all", "adam"]  # then decaying schedules
    n = imp.groupby("scope")["n"].first().to_dict()
    assert n["all"] == len(t) - 1 and n["adam"] == len(t) - 2
    write_report([copy])
    md = (copy / "report" / "report.md").read_text()
    section = md.split("## Importances")[1].split("![")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    assert rows[0][:3] == ["| param", "all", "adam"]
    overall = [float(r[1]) for r in rows[2:] if r[1].strip()]
    assert overall == sorted(overall, reverse=True) and len(overall) >= 2
    assert (
        "Optimizers left out, with fewer than 6 complete trials: gd (0), momentum (1)." in section
    )


def test_a_study_of_one_optimizer_has_no_per_optimizer_copies(res, tmp_path):
    """With one optimizer tried, the importances had a column for it equal
    to 'all', and the report asked which optimizer wins."""
    copy = tmp_path / "one"
    shutil.copytree(res.path, copy)
    (copy / "study.journal").unlink()  # the report reads the edited table
    t = res.trials.copy()
    t["state"], t["value"], t["optimizer"] = "COMPLETE", np.linspace(0.5, 0.9, len(t)), "adam"
    t["interval"] = pd.array([10, 30, 10] + [None] * (len(t) - 3), dtype="Int64")  # 3 staircases
    write_table(t, copy, "trials", res.meta.get("format", "auto"))
    assert "adam" not in set(A.importances(t)["scope"])
    write_report([copy])
    md = (copy / "report" / "report.md").read_text()
    assert "## Which optimizer wins" not in md
    assert (
        "## Best trial\n\nBest complete trial by val_metric (the study tried one optimizer)." in md
    )
    section = md.split("## Importances")[1].split("## ")[0]
    header = next(line for line in section.splitlines() if line.startswith("| param |"))
    assert header.startswith("| param | all |") and "adam" not in header
    unranked = next(line for line in section.splitlines() if line.startswith("Not ranked: "))
    assert "interval" in unranked.split(" (")[0]  # in 3 trials: no scope has it in all


def test_comparison_says_what_differs_and_which_optimizers_never_completed(res, tmp_path):
    """A comparison showed the studies' results without a word on how they
    differed, and an optimizer without a complete trial as an empty cell."""
    other = tmp_path / "tanh" / "small"
    shutil.copytree(res.path, other)
    meta = json.loads((other / "meta.json").read_text())
    assert meta["settings"] == load_sweep(res.path / "sweep.toml").settings()  # as run
    meta["settings"]["model.activation"] = "tanh"
    del meta["settings"]["data.noise"]  # as for a real data set: no generator's noise
    (other / "meta.json").write_text(json.dumps(meta))
    old = tmp_path / "old" / "small"  # results from before meta.json kept the settings
    shutil.copytree(res.path, old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["settings"]
    (old / "meta.json").write_text(json.dumps(meta))
    (old / "study.journal").unlink()  # the report reads the edited table
    t = res.trials.copy()
    adam = t["optimizer"] == "adam"
    t.loc[adam, "state"] = "PRUNED"
    write_table(t, old, "trials", res.meta.get("format", "auto"))
    write_report([res.path, other, old], tmp_path / "cmp")
    md = (tmp_path / "cmp" / "report.md").read_text()
    differ = md.split("## What differs")[1].split("## ")[0]
    rows = [line for line in differ.splitlines() if line.startswith("| ")]
    assert rows[0] == "| setting | results/small | tanh/small | old/small |"
    noise = load_sweep(res.path / "sweep.toml").settings()["data.noise"]
    assert rows[2:] == [
        f"| data.noise | {noise} | (n/a) | {noise} |",
        "| model.activation | relu | tanh | relu |",
    ]
    assert f"old/small: adam has no complete trial ({int(adam.sum())} pruned)." in md
    write_report([res.path, old], tmp_path / "same")  # nothing differs: no such section
    assert "## What differs" not in (tmp_path / "same" / "report.md").read_text()
    (old / "sweep.toml").unlink()  # settings unknown: not every setting a difference
    write_report([res.path, other, old], tmp_path / "unknown")
    md = (tmp_path / "unknown" / "report.md").read_text()
    differ = md.split("## What differs")[1].split("## ")[0]
    rows = [line for line in differ.splitlines() if line.startswith("| ")]
    assert rows[2:] == [
        f"| data.noise | {noise} | (n/a) | (not recorded) |",
        "| model.activation | relu | tanh | (not recorded) |",
    ]
