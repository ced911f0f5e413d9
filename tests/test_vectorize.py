"""Vectorized sweeps: the same tables as per-trial execution."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from helpers import assert_values_match_curves, cli, run_python, write_sweep

import optsweep
from optsweep.config import load_sweep
from optsweep.errors import ConfigError
from optsweep.runner import run_sweep

NUMERIC = [
    "value",
    "lr",
    "momentum_beta",
    "rmsprop_beta",
    "beta1",
    "beta2",
    "train_loss",
    "train_metric",
    "val_loss",
    "val_metric",
]


def _run(tmp_path, sub: str, vectorize: int, extra: str = "", n_jobs: int = 1, n_trials: int = 12):
    d = tmp_path / sub
    d.mkdir()
    path = write_sweep(d, "v", n_trials=n_trials, epochs=15, n_jobs=n_jobs, study_extra=extra)
    sweep = load_sweep(path).with_overrides(vectorize=vectorize)
    run_sweep(sweep, root=d / "results", progress=False)
    return optsweep.load(d / "results" / "v")


def test_vectorized_equals_per_trial_in_deterministic_mode(tmp_path):
    extra = 'deterministic = true\nbatch = 12\npruner = "median"\nwarmup_epochs = 3'
    a = _run(tmp_path, "one", 1, extra)
    b = _run(tmp_path, "vec", 12, extra, n_jobs=2)
    ta, tb = a.trials, b.trials
    for col in [
        "number",
        "state",
        "optimizer",
        "batch_size",
        "schedule",
        "seed",
        "epochs_run",
        "updates",
        "reason",
    ]:
        pd.testing.assert_series_equal(ta[col], tb[col])
    for col in NUMERIC:
        np.testing.assert_allclose(tb[col], ta[col], rtol=0, atol=1e-10, err_msg=col)
    assert (ta["state"] == "PRUNED").any() and (ta["state"] == "COMPLETE").any()
    assert_values_match_curves(a)
    assert_values_match_curves(b)
    ca, cb = a.curves, b.curves
    pd.testing.assert_series_equal(ca["trial"], cb["trial"])
    for col in ["lr", "train_loss", "val_loss", "val_metric"]:
        np.testing.assert_allclose(cb[col], ca[col], rtol=0, atol=1e-10, err_msg=col)


def test_vectorized_throughput_sweep_runs_the_budget_and_prunes(tmp_path):
    extra = 'pruner = "median"\nwarmup_epochs = 2\nsampler = "random"'
    r = _run(tmp_path, "thr", 8, extra, n_jobs=2, n_trials=24)
    t = r.trials
    assert t["number"].tolist() == list(range(24))
    assert set(t["state"]) <= {"COMPLETE", "PRUNED", "FAIL"} and (t["state"] == "PRUNED").any()
    assert r.curves.groupby("trial").size().to_dict() == dict(
        zip(t["number"], t["epochs_run"], strict=True)
    )
    assert (t["train_seconds"] > 0).all()
    assert_values_match_curves(r)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_timeout_sizes_vectorized_rounds_to_the_runs_pace(tmp_path, n_jobs):
    """vectorize = "auto" with random sampling asks up to 1024 trials at once;
    with a timeout, the first round asks at most 64 and the next ones what
    the run's pace finishes in the time left, so that the run stops about a
    round after its timeout instead of training 1024 trials (here about six
    times the timeout)."""
    from optsweep.config import AUTO_VECTORIZE, auto_vectorize

    text = write_sweep(tmp_path, "tv", epochs=300, n_jobs=n_jobs).read_text()
    text = text.replace("n_trials = 8", 'timeout = 0.5\nsampler = "random"')
    (tmp_path / "tv.toml").write_text(text)
    sweep = load_sweep(tmp_path / "tv.toml").with_overrides(vectorize=auto_vectorize("random"))
    assert sweep.execution.vectorize == 1024
    s = run_sweep(sweep, root=tmp_path / "results", progress=False)
    trials = optsweep.load(tmp_path / "results" / "tv").trials
    assert len(trials) == s.ran
    assert AUTO_VECTORIZE <= s.ran < 1024
    assert set(trials["state"]) <= {"COMPLETE", "PRUNED", "FAIL"}  # every round finished


def test_vectorize_refuses_legacy_mode(tmp_path):
    p = write_sweep(tmp_path, "leg")
    p.write_text(
        p.read_text()
        .replace("[train]", '[train]\nrandom_mode = "legacy"')
        .replace("report = false", "report = false\nvectorize = 4")
    )
    with pytest.raises(ConfigError, match=r"execution.vectorize needs train.random_mode 'default'"):
        load_sweep(p)


@pytest.mark.parametrize(
    ("how", "named"),
    [
        ("file", "execution.vectorize ... (got 8)"),
        ("file auto", "execution.vectorize ... (got 'auto')"),
        ("command line", "--vectorize ... (got 8)"),
        ("command line auto", "--vectorize ... (got 'auto')"),
    ],
)
def test_vectorize_refuses_a_time_objective(tmp_path, how, named):
    """The members of a population share its time: a study that minimises
    train_seconds cannot be vectorized, whether the file or --vectorize asks;
    the message names the key or argument and the value as given."""
    extra = 'metric = ["val_metric", "train_seconds"]\npruner = "none"'
    p = write_sweep(tmp_path, "mo", study_extra=extra)
    text = p.read_text()
    value = "auto" if how.endswith("auto") else "8"
    args = ["--vectorize", value] if how.startswith("command line") else []
    if how.startswith("file"):
        shown = '"auto"' if value == "auto" else value
        text = text.replace("report = false", f"report = false\nvectorize = {shown}")
    p.write_text(text)
    res = subprocess.run(
        cli("run", p, "--results-root", tmp_path / "r", *args), capture_output=True, text=True
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    key, got = named.split(" ... ")
    assert res.stderr == (
        f"optsweep: error: {p}: {key} must be 1 when study.metric includes "
        "train_seconds (the members of a population share its time: no trial's own time is "
        f"measured) {got}\n"
    )
    assert not (tmp_path / "r").exists()


def test_command_line_vectorize_refuses_legacy_mode(tmp_path):
    p = write_sweep(tmp_path, "leg")
    p.write_text(p.read_text().replace("[train]", '[train]\nrandom_mode = "legacy"'))
    res = subprocess.run(
        cli("run", p, "--results-root", tmp_path / "r", "--vectorize", "4"),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr == (
        f"optsweep: error: {p}: --vectorize needs train.random_mode 'default' "
        "(legacy runs are seeded one by one) (got 4)\n"
    )


@pytest.mark.parametrize("batch", [2, 16])
def test_deterministic_populations_hold_at_most_a_batch(tmp_path, monkeypatch, caplog, batch):
    """Deterministic mode asks study.batch trials before it tells any: that
    bounds a population, whatever execution.vectorize says, and a vectorize
    above it is named in a warning."""
    import optsweep.runner as runner

    sizes = []
    real = runner.run_population

    def counted(tasks, *args):
        sizes.append(len(tasks))
        return real(tasks, *args)

    monkeypatch.setattr(runner, "run_population", counted)
    p = write_sweep(
        tmp_path, "det", n_trials=16, epochs=3, study_extra=f"deterministic = true\nbatch = {batch}"
    )
    with caplog.at_level("WARNING", logger="optsweep"):
        run_sweep(load_sweep(p).with_overrides(vectorize=8), root=tmp_path / "r", progress=False)
    assert sum(sizes) == 16 and max(sizes) <= min(batch, 8)
    warned = [r.getMessage() for r in caplog.records if "study.batch" in r.getMessage()]
    if batch < 8:
        assert warned == [
            f"{p}: study.deterministic asks study.batch = 2 trials at a time, so a population "
            "has at most 2 members, not execution.vectorize's 8; study.batch = 8 trains larger "
            "ones (a study of its own)"
        ]
    else:
        assert warned == [] and max(sizes) > 2  # the batch allows larger populations


@pytest.mark.parametrize("pruner", ["median", "percentile"])
def test_population_reporter_prunes_exactly_the_members_the_pruner_would(tmp_path, pruner):
    """A population asks the pruner from its worst member up and stops at the
    first it keeps; the members pruned are exactly those the pruner prunes
    when asked for each one."""
    import optuna

    from optsweep.objective import TrialTask, _population_reporter
    from optsweep.runner import open_study, storage_spec

    extra = f'pruner = "{pruner}"\nwarmup_epochs = 0\npercentile = 40.0\nprune_every = 1'
    sweep = load_sweep(write_sweep(tmp_path, "p", study_extra=extra, epochs=10))
    spec = storage_spec(sweep, tmp_path / "results")
    study = open_study(sweep, spec)
    rng = np.random.default_rng(0)
    for _ in range(8):  # completed trials, with values at every epoch
        t = study.ask()
        for epoch in range(10):
            t.report(float(rng.uniform(0.5, 0.9)), epoch)
        study.tell(t, 0.8)
    asked = [study.ask() for _ in range(12)]
    tasks = [TrialTask(t.number, t._trial_id, 0, {}, run="r") for t in asked]
    reporter = _population_reporter(tasks, sweep, spec)
    members = np.arange(12)
    pruned_any = kept_any = False
    for epoch in range(3):
        values = rng.uniform(0.4, 1.0, 12)
        values[3] = np.nan  # a member without a finite value this epoch is not asked
        prune = reporter(epoch, members, values)
        each = [
            bool(np.isfinite(v)) and optuna.Trial(study, t._trial_id).should_prune()
            for t, v in zip(asked, values, strict=True)
        ]
        assert prune == each
        pruned_any |= any(prune)
        kept_any |= not all(prune)
    assert pruned_any and kept_any  # the test covers both answers


def test_populations_go_to_the_workers_costliest_first(tmp_path):
    """Groups are handed out longest first (so that the workers finish
    together): a population's cost is its updates (fixed NumPy calls each)
    plus its members' arithmetic, so many members at a large batch size can
    outweigh a few at a small one."""
    import optuna

    from optsweep.engine.population import population_cost
    from optsweep.objective import TrialTask, load_dataset
    from optsweep.runner import _Progress, _Runner

    sweep = load_sweep(write_sweep(tmp_path, "g")).with_overrides(vectorize=512)
    data = load_dataset(sweep.data, sweep.model.head)
    study = optuna.create_study()
    r = _Runner(sweep, study, data, tmp_path, "", _Progress("g", None, False))
    members = {8: 1, 16: 40, 64: 3, 256: 500}
    tasks, n = [], 0
    for batch, k in members.items():
        for _ in range(k):
            tasks.append(TrialTask(n, n, 0, {"batch_size": batch}, run="r"))
            n += 1
    groups = r.groups(tasks[::-1])
    assert [len(g) for g in groups] == [500, 40, 1, 3]  # not the order of batch sizes
    assert all(len({t.hparams["batch_size"] for t in g}) == 1 for g in groups)
    costs = [
        population_cost(r.sizes, g[0].hparams["batch_size"], len(g), r.n_train, r.n_val)
        for g in groups
    ]
    assert costs == sorted(costs, reverse=True)
    assert [t.number for t in groups[1]] == sorted(t.number for t in groups[1])


@pytest.mark.parametrize("vectorize", [1, 8])
def test_workers_train_without_importing_optuna_unless_they_prune(tmp_path, vectorize):
    """A worker imports Optuna only to report to a pruner (``run_task``'s
    promise): without one it starts with NumPy alone, about 0.06 s of CPU
    less in each worker's start-up, which a run that starts its workers pays."""
    path = write_sweep(tmp_path, "w", n_trials=4, epochs=3, n_jobs=2)
    code = (
        "import sys, joblib\n"
        "from optsweep.config import load_sweep\n"
        "from optsweep.pool import parallel\n"
        "from optsweep.runner import run_sweep\n"
        f"sweep = load_sweep({str(path)!r}).with_overrides(vectorize={vectorize})\n"
        f"run_sweep(sweep, root={str(tmp_path / 'results')!r}, progress=False)\n"
        "def imported():\n"
        "    return sorted({m.split('.')[0] for m in sys.modules} & {'optuna', 'pandas'})\n"
        "print(set(map(tuple, parallel(2)(joblib.delayed(imported)() for _ in range(4)))))\n"
    )
    out = run_python(code)
    assert out.stdout.strip() == "{()}", out.stderr
