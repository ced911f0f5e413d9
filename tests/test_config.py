"""Sweep-file validation: every rule gives one message naming file, key and value."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from helpers import BASE, cli, file_sweep, write_sweep

import optsweep
from optsweep.config import load_sweep, parse_sweep
from optsweep.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def base() -> dict:
    return tomllib.loads(BASE.format(name="x", n_trials=4, epochs=5, n_jobs=1, study_extra=""))


def err(raw: dict) -> str:
    with pytest.raises(ConfigError) as e:
        parse_sweep(raw, Path("sweeps/x.toml"))
    return str(e.value)


def test_the_base_file_is_valid():
    cfg = parse_sweep(base(), Path("sweeps/x.toml"))
    assert cfg.name == "x"
    assert cfg.search["lr"].kind == "float" and cfg.search["lr"].log  # lr is log by default
    assert cfg.search["batch_size"].kind == "pow2" and cfg.search["batch_size"].full
    assert cfg.search["beta1"].kind == "beta" and cfg.search["beta1"].log
    assert cfg.search["schedule"].kind == "fixed" and cfg.search["schedule"].value == "constant"
    assert cfg.study.metrics == ("val_metric",) and cfg.study.directions == ("maximize",)


def mutate(path: str, value, delete: bool = False) -> dict:
    raw = base()
    *parents, last = path.split(".")
    d = raw
    for p in parents:
        d = d.setdefault(p, {})
    if delete:
        del d[last]
    else:
        d[last] = value
    return raw


CASES = [
    # unknown keys
    (
        "study.nam",
        "x",
        "sweeps/x.toml: study.nam is not a known key, did you mean name? (known: name, metric,",
    ),
    ("search.learning_rate", 0.1, "sweeps/x.toml: search.learning_rate is not a known key ("),
    ("serach.lr", 0.1, "sweeps/x.toml: serach is not a known key, did you mean search? (known:"),
    # a choice in another case or with other separators is named; a near miss
    # of a name is often another method (gelu, adamw) and is not
    (
        "search.optimizer",
        ["Adam"],
        "sweeps/x.toml: search.optimizer[0] must be one of gd, momentum, rmsprop, adam, "
        "did you mean adam? (got 'Adam')",
    ),
    (
        "model.activation",
        "Leaky-ReLU",
        "sweeps/x.toml: model.activation must be one of relu, leaky_relu, tanh, sigmoid, "
        "did you mean leaky_relu? (got 'Leaky-ReLU')",
    ),
    (
        "model.activation",
        "gelu",
        "sweeps/x.toml: model.activation must be one of relu, leaky_relu, tanh, sigmoid (got",
    ),
    (
        "search.optimizer",
        ["adamw"],
        "sweeps/x.toml: search.optimizer[0] must be one of gd, momentum, rmsprop, adam (got",
    ),
    (
        "search.lr.typo",
        1,
        "sweeps/x.toml: search.lr.typo is not a known key (known: low, high, log) (got 'typo')",
    ),
    ("extra.x", 1, "sweeps/x.toml: extra is not a known key"),
    # wrong types
    ("study.n_trials", "ten", "sweeps/x.toml: study.n_trials must be an integer (got 'ten')"),
    ("train.epochs", 2.5, "sweeps/x.toml: train.epochs must be an integer (got 2.5)"),
    (
        "data.standardize",
        "yes",
        "sweeps/x.toml: data.standardize must be true or false (got 'yes')",
    ),
    ("model.hidden", 8, "sweeps/x.toml: model.hidden must be a list of layer sizes (got 8)"),
    ("model.hidden", [8, 0], "sweeps/x.toml: model.hidden[1] must be >= 1 (got 0)"),
    (
        "search.lr.low",
        "small",
        "sweeps/x.toml: search.lr.low must be a finite number (got 'small')",
    ),
    # empty ranges, low > high
    ("search.optimizer", [], "sweeps/x.toml: search.optimizer must not be an empty list (got [])"),
    (
        "search.lr",
        {"low": 0.1, "high": 0.01},
        "sweeps/x.toml: search.lr low must be <= high (got 'low=0.1, high=0.01')",
    ),
    (
        "search.lr",
        {"low": 0.1, "high": 0.1},
        "sweeps/x.toml: search.lr is an empty range (low == high): give a fixed value (got 0.1)",
    ),
    (
        "search.batch_size",
        {"low": 64, "high": 16},
        "sweeps/x.toml: search.batch_size low must be <= high (got 'low=64, high=16')",
    ),
    # log ranges touching 0
    (
        "search.lr",
        {"low": 0, "high": 0.1},
        "sweeps/x.toml: search.lr.low must be > 0 for a log range (got 0)",
    ),
    (
        "search.decay_rate",
        {"low": 0.0, "high": 1.0, "log": True},
        "sweeps/x.toml: search.decay_rate.low must be > 0 for a log range (got 0.0)",
    ),
    # powers of two
    (
        "search.batch_size",
        {"low": 16, "high": 100},
        "sweeps/x.toml: search.batch_size.high must be a power of two (got 100)",
    ),
    (
        "search.batch_size",
        {"low": 12, "high": 64},
        "sweeps/x.toml: search.batch_size.low must be a power of two (got 12)",
    ),
    # betas
    (
        "search.beta1",
        {"low": 0.5, "high": 1.0},
        "sweeps/x.toml: search.beta1.high must be in [0, 1) (got 1.0)",
    ),
    (
        "search.momentum_beta",
        -0.1,
        "sweeps/x.toml: search.momentum_beta must be in [0, 1) (got -0.1)",
    ),
    ("search.beta2", [0.9, 1.2], "sweeps/x.toml: search.beta2[1] must be in [0, 1) (got 1.2)"),
    # names
    (
        "search.optimizer",
        ["adam", "sgd"],
        "sweeps/x.toml: search.optimizer[1] must be one of gd, momentum, rmsprop, adam (got 'sgd')",
    ),
    (
        "study.sampler",
        "bayes",
        "sweeps/x.toml: study.sampler must be one of tpe, random, grid, qmc, cmaes, nsga2, gp (got 'bayes')",
    ),
    (
        "study.pruner",
        "early",
        "sweeps/x.toml: study.pruner must be one of none, median, percentile, successive_halving, hyperband (got 'early')",
    ),
    (
        "model.activation",
        "gelu",
        "sweeps/x.toml: model.activation must be one of relu, leaky_relu, tanh, sigmoid (got 'gelu')",
    ),
    (
        "search.schedule",
        ["cosine"],
        "sweeps/x.toml: search.schedule[0] must be one of constant, inverse_time, staircase, exponential, inverse_sqrt (got 'cosine')",
    ),
    # unsafe study names
    ("study.name", "../evil", "sweeps/x.toml: study.name must be a safe folder name"),
    ("study.name", "a/b", "sweeps/x.toml: study.name must be a safe folder name"),
    ("study.name", "..", "sweeps/x.toml: study.name must be a safe folder name"),
    # other rules
    (
        "execution.n_jobs",
        0,
        "sweeps/x.toml: execution.n_jobs must be -1 (all cores) or >= 1 (got 0)",
    ),
    ("data.val_fraction", 1.0, "sweeps/x.toml: data.val_fraction must be in [0, 1) (got 1.0)"),
    ("data.source", "mnist", "sweeps/x.toml: data.source must be a generator"),
    (
        "data.bogus",
        1,
        "sweeps/x.toml: data.bogus is not a known key (known: source, label, features, val_fraction, standardize, seed, legacy, n_samples, shuffle, noise)",
    ),
    (
        "study.metric",
        ["val_metric", "val_metric"],
        "sweeps/x.toml: study.metric must not repeat a metric",
    ),
    (
        "study.metric",
        "accuracy",
        "sweeps/x.toml: study.metric must be one of val_metric, val_loss, train_metric, train_loss, train_seconds (got 'accuracy')",
    ),
    ("study.timeout", -5, "sweeps/x.toml: study.timeout must be > 0 seconds (got -5)"),
    ("execution.sync_seconds", -1, "sweeps/x.toml: execution.sync_seconds must be >= 0 (got -1)"),
]


@pytest.mark.parametrize(("path", "value", "message"), CASES, ids=[c[0] for c in CASES])
def test_rule_message(path, value, message):
    assert err(mutate(path, value)).startswith(message)


def test_message_is_one_line():
    for path, value, _ in CASES:
        assert "\n" not in err(mutate(path, value))


def test_budget_required():
    assert err(mutate("study.n_trials", None, delete=True)) == (
        "sweeps/x.toml: study needs n_trials, timeout or both"
    )


def test_multi_objective_refuses_pruner():
    raw = mutate("study.metric", ["val_metric", "train_seconds"])
    raw["study"]["pruner"] = "median"
    assert err(raw) == (
        "sweeps/x.toml: study.pruner must be 'none' for a multi-objective study (got 'median')"
    )


def test_grid_needs_lists():
    raw = mutate("study.sampler", "grid")
    assert err(raw).startswith(
        "sweeps/x.toml: search.batch_size must be a value or a list for the grid sampler"
    )


def test_exponential_decay_range():
    raw = mutate("search.schedule", ["constant", "exponential"])
    raw["search"]["decay_rate"] = {"low": 0.5, "high": 2.0}
    assert err(raw) == (
        "sweeps/x.toml: search.decay_rate must lie in (0, 1] for an exponential schedule "
        "(got {'low': 0.5, 'high': 2.0})"
    )


@pytest.mark.parametrize(
    ("schedules", "given", "message"),
    [
        (
            ["constant", "inverse_time"],
            {},
            "search.decay_rate is needed with the inverse_time schedule: left out, it is 0 "
            "and the learning rate stays constant (not set)",
        ),
        (
            ["exponential"],
            {},
            "search.decay_rate is needed with the exponential schedule: the factor per epoch, "
            "in (0, 1] (not set)",
        ),
        (
            ["inverse_time", "staircase"],
            {"decay_rate": 0.1},
            "search.interval is needed with the staircase schedule: the epochs per step; "
            "left out, it steps every epoch, as inverse_time does (not set)",
        ),
    ],
)
def test_a_decaying_schedule_needs_its_coefficients(schedules, given, message):
    # left out, the schedule would silently be another one (staircase with
    # interval 1 is inverse_time, inverse_time with decay 0 is constant)
    raw = mutate("search.schedule", schedules)
    raw["search"].update(given)
    assert err(raw) == "sweeps/x.toml: " + message
    raw["search"].update(decay_rate=0.5, interval=10)
    assert parse_sweep(raw, Path("sweeps/x.toml")).search["schedule"].values() == tuple(schedules)


def test_a_hyperparameter_no_configuration_uses_is_warned_about(caplog):
    """momentum_beta searched with only Adam, k set without inverse_sqrt: set,
    and ignored without a word; now a warning each, saying who uses it."""
    raw = mutate("search.optimizer", ["adam", "rmsprop"])
    raw["search"]["k"] = 2.0
    with caplog.at_level("WARNING", logger="optsweep.config"):
        parse_sweep(raw, Path("sweeps/x.toml"))
    assert caplog.messages == [
        "sweeps/x.toml: search.momentum_beta is set but no configuration of this search uses "
        "it (used only by momentum; search.optimizer is adam, rmsprop); it is ignored",
        "sweeps/x.toml: search.k is set but no configuration of this search uses it (used "
        "only by the inverse_sqrt schedule; search.schedule is constant); it is ignored",
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="optsweep.config"):
        parse_sweep(base(), Path("sweeps/x.toml"))  # every key used: nothing to say
    assert caplog.messages == []


@pytest.mark.parametrize("warmup", [9, 12, 8])
def test_a_warmup_that_leaves_nothing_to_prune_is_warned_about(caplog, warmup):
    """A trial reports epochs 0..epochs-2 to the pruner: warmup_epochs 9 of 10
    epochs (or more) silently made the pruner stop nothing."""
    raw = mutate("study.pruner", "median")
    raw["study"]["warmup_epochs"] = warmup
    raw["train"]["epochs"] = 10
    with caplog.at_level("WARNING", logger="optsweep.config"):
        parse_sweep(raw, Path("sweeps/x.toml"))
    expected = [
        f"sweeps/x.toml: study.warmup_epochs {warmup} leaves no epoch to prune at "
        "(train.epochs is 10): the median pruner stops no trial"
    ]
    assert caplog.messages == (expected if warmup >= 9 else [])


@pytest.mark.parametrize(
    ("study", "overrides", "ignored"),
    [
        ({"batch": 8}, {}, ["study.batch is 8 but only deterministic mode"]),
        ({"batch": 8}, {"deterministic": True}, []),  # --deterministic: it counts
        ({"warmup_epochs": 3, "prune_every": 2}, {}, ["warmup_epochs is 3", "prune_every is 2"]),
        ({"warmup_epochs": 3, "pruner": "hyperband"}, {}, []),
        ({"percentile": 10.0, "pruner": "median"}, {}, ["percentile is 10 but study.pruner is"]),
        ({"percentile": 10.0, "pruner": "percentile"}, {}, []),
        ({"n_startup_trials": 20, "sampler": "random"}, {}, ["n_startup_trials is 20"]),
        ({"n_startup_trials": 20}, {}, []),  # TPE's
        ({}, {}, []),
    ],
)
def test_study_settings_that_nothing_uses_are_named(study, overrides, ignored):
    """[study] keys of one pruner, sampler or mode, set where another runs:
    ignored without a word before, as a search key no configuration uses."""
    from optsweep.config import study_setting_warnings

    raw = base()
    raw["study"].update(study)
    sweep = parse_sweep(raw, Path("sweeps/x.toml")).with_overrides(**overrides)
    said = study_setting_warnings(sweep)
    assert len(said) == len(ignored)
    for sentence, start in zip(said, ignored, strict=True):
        assert start in sentence and sentence.endswith("it is ignored")


@pytest.mark.parametrize(
    ("decay_rate", "warned"),
    [
        ({"low": 1e-3, "high": 1.0, "log": True}, "0.001 ... after 1 epoch(s) of 150"),
        ({"low": 0.5, "high": 0.99}, "0.5 ... after 10 epoch(s) of 150"),
        ({"low": 0.9, "high": 0.999}, None),  # a thousandth after 66 epochs: a choice
        (0.95, None),  # the course's
    ],
)
def test_exponential_factors_that_stop_training_are_warned_about(caplog, decay_rate, warned):
    """The lr_decay sweep searched the exponential schedule's factor per epoch
    with the other schedules' decay-rate range (down to 0.001), so most of its
    trials ran at a rate near zero and the report found it the worst schedule."""
    raw = mutate("search.schedule", ["constant", "inverse_time", "exponential"])
    raw["search"]["decay_rate"] = decay_rate
    raw["train"]["epochs"] = 150
    with caplog.at_level("WARNING", logger="optsweep.config"):
        parse_sweep(raw, Path("sweeps/x.toml"))
    if warned is None:
        assert caplog.messages == []
    else:
        bottom, after = warned.split(" ... ")
        assert caplog.messages == [
            f"sweeps/x.toml: search.decay_rate goes down to {bottom}, which as the "
            f"exponential schedule's factor per epoch leaves a thousandth of the learning "
            f"rate {after}: its factors want to be near 1 (the course's 0.95), on another "
            "scale than the other schedules' decay rates; search it with a range of its "
            "own, in a sweep of its own"
        ]


def test_train_schedule_needs_its_decay_rate_too():
    raw = mutate("train.schedule", "staircase")
    assert "search.decay_rate is needed with the staircase schedule" in err(raw)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("noise", "high", "data.noise must be a finite number (got 'high')"),
        ("n_samples", 10.5, "data.n_samples must be an integer (got 10.5)"),
        ("shuffle", 1, "data.shuffle must be true or false (got 1)"),
    ],
)
def test_generator_arguments_of_the_wrong_type(key, value, message):
    """Named, with the value, before the generator sees them (it said
    "could not convert string to float: 'high'")."""
    assert err(mutate(f"data.{key}", value)) == f"sweeps/x.toml: {message}"


def test_csv_feature_columns(tmp_path):
    (tmp_path / "d.csv").write_text("id,a,b,y\n1,2,3,0\n")
    csv = {"source": str(tmp_path / "d.csv"), "label": "y"}
    assert parse_sweep(
        mutate("data", {**csv, "features": ["a", "b"]}), Path("x.toml")
    ).data.features == ("a", "b")
    for bad, why in [
        ("a", "must be a list of column names (got 'a')"),
        (["a", "a"], "must name each column once, not the label (got ['a', 'a'])"),
        (["a", "y"], "must name each column once, not the label (got ['a', 'y'])"),
        ([1], "data.features[0] must be a string (got 1)"),
    ]:
        assert why in err(mutate("data", {**csv, "features": bad}))
    assert err(mutate("data.features", ["a"])) == (
        "sweeps/x.toml: data.features names the feature columns of a CSV source (got ['a'])"
    )


def test_csv_source_needs_label(tmp_path):
    (tmp_path / "d.csv").write_text("a,y\n1,0\n")
    raw = mutate("data", {"source": str(tmp_path / "d.csv")})
    assert (
        err(raw)
        == "sweeps/x.toml: data.label is required for a CSV source (the label column) (not set)"
    )


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.toml: no such sweep file"):
        load_sweep(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        load_sweep(bad)


def test_shipped_sweeps_are_valid():
    files = sorted((ROOT / "sweeps").glob("*.toml"))
    assert len(files) >= 1
    for f in files:
        assert load_sweep(f).name == f.stem


def test_cli_exit_2_one_line_nothing_written(tmp_path):
    p = write_sweep(
        tmp_path,
        "bad",
        text=BASE.format(name="bad", n_trials=2, epochs=2, n_jobs=1, study_extra="").replace(
            "lr = { low = 1e-3, high = 0.3 }", "lr = { low = 0, high = 0.3 }"
        ),
    )
    res = subprocess.run(
        cli("run", p, "--results-root", tmp_path / "r"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2
    assert (
        res.stderr == f"optsweep: error: {p}: search.lr.low must be > 0 for a log range (got 0)\n"
    )
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "S", "--n-jobs", "0"],
            "argument -n/--n-jobs: --n-jobs must be -1 (all cores) or >= 1 (got 0)",
        ),
        (["run", "S", "--trials", "x"], "argument --trials: --trials must be an integer (got 'x')"),
        (
            ["run", "S", "--timeout", "-1"],
            "argument --timeout: --timeout must be > 0 seconds (got -1)",
        ),
        (
            ["confirm", "nowhere", "--seeds", "1"],
            "argument --seeds: --seeds must be >= 2 (a spread needs two runs) (got 1)",
        ),
        (["status", "nowhere"], "nowhere: not a results directory (no meta.json)"),
        (["report", "nowhere"], "nowhere: not a results directory (no meta.json)"),
    ],
)
def test_cli_bad_arguments(tmp_path, args, message):
    res = subprocess.run(cli(*args), capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr


@pytest.mark.parametrize("command", ["status", "report", "export", "confirm"])
def test_the_results_root_or_a_report_given_for_a_study_says_which_to_give(
    tmp_path, monkeypatch, capsys, command
):
    """``optsweep report results`` (the root every study goes to) or
    ``results/NAME/report``: the error names the studies, or the study."""
    from optsweep.cli import main

    monkeypatch.chdir(tmp_path)
    for name in ("b", "a", "c", "d", "e", "f", "g"):
        (tmp_path / "results" / name).mkdir(parents=True)
        (tmp_path / "results" / name / "meta.json").write_text("{}")
    (tmp_path / "results" / "README.md").write_text("not a study")
    (tmp_path / "results" / "a" / "report").mkdir()
    assert main([command, "results"]) == 2
    assert capsys.readouterr().err == (
        "optsweep: error: results: not a results directory (no meta.json); it holds the "
        "studies a, b, c, d, e and 2 more: give one, e.g. results/a\n"
    )
    assert main([command, "results/a/report"]) == 2
    assert capsys.readouterr().err == (
        "optsweep: error: results/a/report: not a results directory (no meta.json); its "
        "study is results/a\n"
    )


def test_report_of_a_glob_leaves_out_what_holds_no_study(tmp_path, monkeypatch, capsys):
    """``optsweep report results/*`` also names results/README.md and the
    comparisons written there: those are left out, saying so, when two
    studies remain; a path that does not exist is still an error."""
    from optsweep import cli

    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "compare-a-b"):
        (tmp_path / "results" / name).mkdir(parents=True)
    for name in ("a", "b"):
        (tmp_path / "results" / name / "meta.json").write_text("{}")
    (tmp_path / "results" / "README.md").write_text("not a study")
    monkeypatch.setattr("optsweep.status.export_if_missing", lambda d: False)
    drawn, real = [], cli._write_report
    monkeypatch.setattr(cli, "_write_report", lambda dirs, *a: drawn.append(dirs))
    glob = sorted(str(p) for p in (tmp_path / "results").iterdir())
    assert cli.main(["report", *[str(Path(p).relative_to(tmp_path)) for p in glob]]) == 0
    assert drawn == [[Path("results/a"), Path("results/b")]]
    assert capsys.readouterr().err == (
        "left out, not results directories: results/README.md, results/compare-a-b\n"
    )
    monkeypatch.setattr(cli, "_write_report", real)
    assert cli.main(["report", "results/README.md", "results/a"]) == 2  # one study: said
    assert "results/README.md: not a results directory" in capsys.readouterr().err
    assert cli.main(["report", "results/c", "results/a", "results/b"]) == 2  # a typo
    assert "results/c: not a results directory" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "report", "export", "confirm"])
def test_a_sweep_file_given_for_a_results_directory_says_where_they_are(
    tmp_path, monkeypatch, capsys, command
):
    from optsweep.cli import main

    monkeypatch.chdir(tmp_path)
    write_sweep(tmp_path, "q")
    assert main([command, "q.toml"]) == 2
    assert capsys.readouterr().err == (
        "optsweep: error: q.toml: not a results directory (no meta.json); that is a sweep "
        "file, whose results are in results/q/ (by default)\n"
    )


@pytest.mark.parametrize(("storage", "got"), [(None, "(not set)"), ("x.db", "(got 'x.db')")])
def test_a_worker_without_a_server_storage_is_refused(tmp_path, capsys, storage, got):
    from optsweep.cli import main

    path = write_sweep(tmp_path, "q")
    assert main(["worker", str(path), *(["--storage", storage] if storage else [])]) == 2
    assert capsys.readouterr().err == (
        "optsweep: error: worker needs --storage with a server URL shared by the workers, "
        f"e.g. postgresql+psycopg://USER:PASSWORD@HOST/DB {got}\n"
    )


@pytest.mark.parametrize(
    ("argv", "resume"),
    [
        (["run", "sweeps/q.toml"], "optsweep run sweeps/q.toml"),
        (
            ["worker", "q.toml", "--storage", "postgresql+psycopg://u:secret@h/db", "-n", "2"],
            "optsweep worker q.toml --storage 'postgresql+psycopg://u:***@h/db'",
        ),
        (
            ["run", "q.toml", "--results-root", "my results", "--trials", "50"],
            "optsweep run q.toml --results-root 'my results' --trials 50",
        ),
    ],
)
def test_an_interrupted_run_names_the_command_that_resumes_it(argv, resume):
    """It said `optsweep run SWEEP` also to a worker of a PostgreSQL study (which
    would have started another study, in a journal file) and to a run with
    its results elsewhere."""
    from optsweep.cli import _resume_command, build_parser

    assert _resume_command(build_parser().parse_args(argv)) == resume


def test_version(capsys):
    from optsweep.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"optsweep {optsweep.__version__}\n"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("foo://bar", "not a database URL SQLAlchemy knows"),
        ("sqlite:////nonexistent/dir/study.db", r"cannot open it \(unable to open database file"),
        # nothing listens on port 1; without psycopg installed, the driver is missing
        ("postgresql+psycopg://me:secret@127.0.0.1:1/db", "Connection refused|driver is missing"),
    ],
)
def test_a_storage_that_does_not_open_is_one_line_without_its_password(tmp_path, url, why):
    p = write_sweep(tmp_path, "st", n_trials=2, epochs=2)
    res = subprocess.run(
        cli("run", p, "--storage", url, "--results-root", tmp_path / "r"),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "secret" not in res.stderr, res.stderr
    assert lines[0].startswith(f"optsweep: error: {p}: storage {url.replace('secret', '***')}: ")
    assert re.search(why, lines[0]), lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("labels", "head", "why"),
    [
        ("0 1 2", "sigmoid", r"head 'sigmoid' needs labels 0 and 1 \(got \[0, 1, 2\]\)"),
        ("0.5 1.5 2.5", "softmax", "head 'softmax' needs integer class labels"),
    ],
)
def test_a_head_that_does_not_fit_the_labels_is_refused_before_any_trial(
    tmp_path, labels, head, why
):
    """Every trial would fail alike: one line, exit 2, nothing written."""
    values = labels.split()
    rows = [f"{i},{-i},{values[i % len(values)]}" for i in range(30)]
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    p = file_sweep(tmp_path, "h", "d.csv", "y", n_trials=2, epochs=2)
    p.write_text(p.read_text().replace("hidden = [8]", f'hidden = [8]\nhead = "{head}"'))
    res = subprocess.run(
        cli("run", p, "--results-root", tmp_path / "r"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith(f"optsweep: error: {p}: model.head does not fit the data (")
    assert re.search(why, res.stderr) and res.stderr.endswith(f"(got '{head}')\n"), res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["", "run", "worker", "status", "export", "report", "confirm"])
def test_help_for_every_command(command):
    args = [command, "--help"] if command else ["--help"]
    res = subprocess.run(cli(*args), capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("usage: optsweep"), res.stderr


@pytest.mark.parametrize(("sampler", "k"), [("tpe", 64), ("cmaes", 64), ("random", 1024)])
def test_vectorize_auto_depends_on_whether_the_sampler_learns(tmp_path, monkeypatch, sampler, k):
    """``auto`` asks a few rounds of a sampler that learns from finished
    trials, and a whole budget at once (up to 1024) of one that does not;
    the same from the file and from ``--vectorize auto``."""
    from optsweep import cli as cli_module

    extra = f'sampler = "{sampler}"'
    text = BASE.format(name="a", n_trials=8, epochs=3, n_jobs=1, study_extra=extra)
    p = tmp_path / "a.toml"
    p.write_text(text.replace("report = false", 'report = false\nvectorize = "auto"'))
    assert load_sweep(p).execution.vectorize == k
    p.write_text(text)
    assert load_sweep(p).execution.vectorize == 1

    class Asked(Exception):  # the sweep the command line would run, not run
        pass

    def run_sweep(sweep, **kwargs):
        raise Asked(sweep)

    monkeypatch.setattr("optsweep.runner.run_sweep", run_sweep)
    with pytest.raises(Asked) as asked:
        cli_module.main(["run", str(p), "--vectorize", "auto"])
    assert asked.value.args[0].execution.vectorize == k


@pytest.mark.parametrize("command", ["run", "worker", "confirm", "report"])
def test_n_is_short_for_n_jobs(command):
    """As the README's multi-host example writes it: `optsweep worker ... -n 4`."""
    from optsweep.cli import build_parser

    target = "results/x" if command in ("confirm", "report") else "sweeps/x.toml"
    args = build_parser().parse_args([command, target, "-n", "3"])
    assert args.n_jobs == 3


def test_settings_in_words_with_defaults_filled_in(tmp_path):
    """What a comparison of studies shows: every setting of the experiment,
    defaults included, so that a key left out and the same key written with
    its default compare equal; the name, the budget and [execution] left out."""
    path = write_sweep(tmp_path, "w", n_trials=8, epochs=10)
    s = load_sweep(path).settings()
    assert s["study.sampler"] == "tpe" and s["train.dtype"] == "float64"  # defaults
    assert s["data.n_samples"] == "200" and s["data.noise"] == "0.2"  # the generator's keys
    assert s["model.hidden"] == "[8]" and s["train.epochs"] == "10"
    assert s["search.optimizer"] == "gd, momentum, rmsprop, adam"
    assert s["search.batch_size"] == "16 to 64 (powers of two, and the full batch)"
    assert s["search.lr"] == "0.001 to 0.3 (log)" and s["search.beta1"] == "0.8 to 0.99"
    assert s["search.eps"] == "1e-08" and s["data.label"] == "(not set)"
    assert not {"study.name", "study.n_trials", "study.timeout"} & set(s)
    assert not any(k.startswith("execution.") for k in s)
    explicit = path.read_text().replace("[train]", '[train]\ndtype = "float64"')
    assert load_sweep(write_sweep(tmp_path, "w", text=explicit)).settings() == s
