"""Samplers, pruners (also across processes), multi-objective studies, time
budgets, Ctrl-C, and the shipped sweep files."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import assert_values_match_curves, cli, subdir, write_sweep

import optsweep
from optsweep.config import load_sweep
from optsweep.errors import ConfigError
from optsweep.runner import run_sweep
from optsweep.status import status_text

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, name, **kw):
    path = write_sweep(tmp_path, name, **kw)
    run_sweep(load_sweep(path), root=tmp_path / "results", progress=False)
    return optsweep.load(tmp_path / "results" / name).trials


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "nsga2"])
def test_sampler_by_name(tmp_path, sampler):
    if sampler == "qmc" and importlib.util.find_spec("scipy") is None:
        pytest.skip("the qmc sampler needs scipy")
    t = _run(tmp_path, sampler, n_trials=5, epochs=3, study_extra=f'sampler = "{sampler}"')
    assert len(t) == 5 and (t["state"] == "COMPLETE").all()


def test_samplers_are_seeded(tmp_path):
    extra = 'sampler = "random"'
    a, b = (_run(subdir(tmp_path, d), "s", n_trials=4, epochs=2, study_extra=extra) for d in "ab")
    assert a["lr"].tolist() == b["lr"].tolist()
    assert a["optimizer"].tolist() == b["optimizer"].tolist()


def _grid_sweep(tmp_path: Path, name: str, n_trials: int) -> Path:
    """A grid sweep of 8 points: gd and adam, two batch sizes, two rates."""
    text = write_sweep(tmp_path, name).read_text()
    text = text.replace("[study]", '[study]\nsampler = "grid"')
    text = text.replace(
        "batch_size = { low = 16, high = 64, full = true }", 'batch_size = [16, "full"]'
    )
    text = text.replace("lr = { low = 1e-3, high = 0.3 }", "lr = [0.01, 0.1]")
    text = text.replace(
        'optimizer = ["gd", "momentum", "rmsprop", "adam"]', 'optimizer = ["gd", "adam"]'
    )
    text = text.replace("n_trials = 8", f"n_trials = {n_trials}")
    text = text.replace("beta1 = { low = 0.8, high = 0.99 }", "beta1 = 0.9").replace(
        "beta2 = { low = 0.99, high = 0.9999 }", "beta2 = 0.999"
    )
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_grid_sampler_covers_the_grid_once(tmp_path, capsys):
    path = _grid_sweep(tmp_path, "g", n_trials=100)
    run_sweep(load_sweep(path), root=tmp_path / "results", progress=True)
    t = optsweep.load(tmp_path / "results" / "g").trials
    assert len(t) == 8  # the budget is capped at the grid's size
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "8/8" in [f for f in bar if f.startswith("g:")][-1]  # not 8/100
    combos = set(zip(t["optimizer"], t["batch_size"], t["lr"], strict=True))
    assert combos == {(o, b, lr) for o in ("gd", "adam") for b in (16, 150) for lr in (0.01, 0.1)}


def test_a_grid_smaller_than_its_budget_says_so(tmp_path, capsys, caplog):
    """n_trials = 100 on a grid of 8 points: the run warns that the study ends
    at 8, status counts the grid's points as the budget (it said "92 to go,
    run the same command again to resume", which ran nothing), and a second
    run says why it has nothing to run; with n_trials below the grid's size,
    the budget that runs the rest of the grid is named."""
    from optsweep.cli import main

    root = ["--results-root", str(tmp_path / "r")]
    path = _grid_sweep(tmp_path, "g", n_trials=100)
    with caplog.at_level(logging.WARNING, logger="optsweep"):
        assert main(["run", str(path), "-q", *root]) == 0
    assert (
        f"{path}: the grid has 8 points, fewer than study.n_trials (100): the study ends once "
        "each has run" in caplog.text
    )
    assert "budget: 8 trials, the grid's points (n_trials 100), met\n" in status_text(
        tmp_path / "r" / "g"
    )
    caplog.clear()
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="optsweep"):
        assert main(["run", str(path), *root]) == 0
    assert "nothing to run: each of the grid's 8 points has run" in capsys.readouterr().out
    assert "the grid has 8 points" not in caplog.text  # said while it had points to run
    part = _grid_sweep(tmp_path, "p", n_trials=5)
    assert main(["run", str(part), "-q", *root]) == 0
    assert "budget: 5 trials, met" in status_text(tmp_path / "r" / "p")
    assert main(["run", str(part), *root]) == 0
    out = capsys.readouterr().out
    assert (
        "nothing to run: the study has 5 trials, its budget of 5 is met; `--trials 8` runs 3 more"
        in out
    )


@pytest.mark.parametrize(("sampler", "needs"), [("cmaes", "cmaes"), ("gp", "torch")])
def test_optional_samplers_run_or_name_what_they_need(tmp_path, sampler, needs):
    path = write_sweep(tmp_path, "m", n_trials=3, epochs=2, study_extra=f'sampler = "{sampler}"')
    if importlib.util.find_spec(needs) is None:
        with pytest.raises(ConfigError, match=f"study.sampler '{sampler}' needs .*{needs}"):
            run_sweep(load_sweep(path), root=tmp_path / "results", progress=False)
    else:
        run_sweep(load_sweep(path), root=tmp_path / "results", progress=False)
        assert len(optsweep.load(tmp_path / "results" / "m").trials) == 3


@pytest.mark.parametrize("pruner", ["median", "percentile", "successive_halving", "hyperband"])
def test_pruners_prune_in_parallel_runs(tmp_path, pruner):
    extra = f'pruner = "{pruner}"\nwarmup_epochs = 2\nsampler = "random"'
    t = _run(tmp_path, pruner, n_trials=24, epochs=30, n_jobs=2, study_extra=extra)
    assert len(t) == 24
    pruned = t[t["state"] == "PRUNED"]
    assert len(pruned) > 0, t[["state", "value"]]
    assert (pruned["epochs_run"] < 30).all()
    assert pruned["reason"].str.startswith("pruned at epoch").all()
    assert_values_match_curves(optsweep.load(tmp_path / "results" / pruner))


def test_multi_objective_study(tmp_path):
    extra = 'metric = ["val_metric", "train_seconds"]'
    t = _run(tmp_path, "mo", n_trials=6, epochs=5, study_extra=extra)
    assert {"value_val_metric", "value_train_seconds"} <= set(t.columns)
    done = t[t["state"] == "COMPLETE"]
    assert (done["value_train_seconds"] == done["train_seconds"]).all()
    assert (done["value_val_metric"] == done["val_metric"]).all()


def test_timeout_budget(tmp_path):
    text = (
        write_sweep(tmp_path, "to", epochs=20).read_text().replace("n_trials = 8", "timeout = 1.5")
    )
    (tmp_path / "to.toml").write_text(text)
    t0 = time.monotonic()
    s = run_sweep(load_sweep(tmp_path / "to.toml"), root=tmp_path / "results", progress=False)
    assert time.monotonic() - t0 < 20
    assert s.ran >= 1
    assert len(optsweep.load(tmp_path / "results" / "to").trials) == s.ran


def test_ctrl_c_keeps_finished_trials_and_marks_running_ones(tmp_path):
    path = write_sweep(tmp_path, "cc", n_trials=200, epochs=200, n_jobs=2)
    root = tmp_path / "results"
    cmd = cli("run", path, "--results-root", root)
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    journal = root / "cc" / "study.journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size < 60_000):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGINT, err  # ends as killed by it (a shell: 130)
    assert "interrupted: finished trials are kept" in err and "Traceback" not in err
    t = optsweep.load(root / "cc").trials
    assert (t["state"] != "RUNNING").all()
    assert (t["state"] == "COMPLETE").sum() >= 1
    assert 0 < len(t) < 200
    # status tells the interrupted trials from the failed ones, and that they will run again
    n = int((t["reason"] == "interrupted").sum())
    text = status_text(root / "cc")
    assert n >= 1 and f"{n} interrupted" in text
    assert f"({n} interrupted or lost will run again when the study resumes)" in text
    failed = int((t["state"] == "FAIL").sum()) - n  # the command's summary says the same
    assert f" {failed} failed, {n} interrupted or lost ({n} to run again on resume); " in out, out
    # resumed with room for just the re-runs: the queued configurations run first, and
    # the summary no longer says they are to run (it said "(run again)" either way)
    again = subprocess.run(
        cli("run", path, "--results-root", root, "--trials", len(t) + n, "--no-report"),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    t2 = optsweep.load(root / "cc").trials
    assert sorted(t2["rerun_of"].dropna().astype(int)) == sorted(
        t.loc[t["reason"] == "interrupted", "number"]
    )
    assert "will run again" not in status_text(root / "cc")
    assert f"{n} interrupted or lost (all run again since); " in again.stdout, again.stdout


def test_verbose_run_logs_each_trial_above_the_bar(tmp_path):
    """-v: a line per trial (its end, value or reason, searched values), which
    said nothing per trial before; printed above the progress bar."""
    path = write_sweep(tmp_path, "vv", n_trials=6, epochs=6, n_jobs=2)
    res = subprocess.run(
        cli("run", path, "--results-root", tmp_path / "r", "-v", "--no-report"),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    lines = [x for x in res.stderr.splitlines() if "INFO optsweep.runner: trial " in x]
    t = optsweep.load(tmp_path / "r" / "vv").trials
    assert len(lines) == len(t) == 6
    for r in t.itertuples():
        (line,) = [x for x in lines if f"trial {r.number} " in x]
        assert f"optimizer {r.optimizer}, " in line and f"lr {r.lr:.4g}" in line
        if r.state == "COMPLETE":
            assert f"trial {r.number} complete, val_metric {r.value:.6g} (" in line
        assert f"; {r.epochs_run} epochs, " in line
        # the bar cleared first (a carriage return just before), not "...best=0.9]INFO"
        assert line.split("INFO")[0].split("\r")[-1].strip() == "", repr(line)


@pytest.mark.parametrize("closed", ["stderr", "stdout"])
def test_a_closed_pipe_loses_nothing(tmp_path, closed):
    """`optsweep run x.toml 2>&1 | head -1`: the progress bar's first write
    to the closed pipe stopped the sweep before its tables were written
    (exit 1); `... | head -1` of the summary gave a traceback. The sweep now
    goes on without its bar and writes its tables; a closed stdout ends the
    command as SIGPIPE does, quietly."""
    path = write_sweep(tmp_path, "pipe", n_trials=6, epochs=5, n_jobs=2)
    cmd = cli("run", path, "--results-root", tmp_path / "r", "-v", "--no-report")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    getattr(proc, closed).close()  # the reader has gone before the command writes
    other = proc.stderr if closed == "stdout" else proc.stdout
    text = other.read()
    assert proc.wait(timeout=120) == (141 if closed == "stdout" else 0), text
    assert "Traceback" not in text and "Error" not in text, text
    res = optsweep.load(tmp_path / "r" / "pipe")
    assert len(res.trials) == 6 and res.trials["state"].isin(["COMPLETE", "PRUNED"]).all()


def test_ctrl_c_stops_a_shell_loop_of_sweeps(tmp_path):
    """`for s in ...; do optsweep run $s; done`: Ctrl-C stops the loop. A
    shell goes on to the next command when the interrupted one exits with
    a status (it exited 130, and the next sweep started); it stops when the
    command was killed by SIGINT, as optsweep now ends."""
    import shlex

    path = write_sweep(tmp_path, "loop", n_trials=200, epochs=200, n_jobs=2)
    run = shlex.join([*map(str, cli("run", path, "--results-root", tmp_path / "r")), "-q"])
    script = f"for i in 1 2; do {run}; echo next $?; done; echo end"
    proc = subprocess.Popen(
        ["bash", "-c", script], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    journal = tmp_path / "r" / "loop" / "study.journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size < 20_000):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the shell and its foreground command
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # the loop went on to another sweep
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    assert "next" not in out and "end" not in out, out
    assert proc.returncode == -signal.SIGINT


def test_a_ctrl_c_an_import_swallowed_still_stops_the_command(tmp_path, monkeypatch, capsys):
    """A Ctrl-C raised inside a weakref callback while a module imports is
    only printed by Python ("Exception ignored in ... KeyboardInterrupt"),
    and the command went on to run the whole sweep (seen once in a hundred
    early Ctrl-Cs). The command's handler remembers it; no trial starts."""
    from optsweep import cli as C

    path = write_sweep(tmp_path, "swallowed", n_trials=4, epochs=2)
    monkeypatch.setattr(C, "_sigint_seen", True)  # as _on_sigint leaves it
    assert C.main(["run", str(path), "--results-root", str(tmp_path / "r")]) == C.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "optsweep: interrupted"
    assert not (tmp_path / "r" / "swallowed" / "study.journal").exists()
    with pytest.raises(KeyboardInterrupt):  # the handler itself: Python's, and it remembers
        monkeypatch.setattr(C, "_sigint_seen", False)
        C._on_sigint(signal.SIGINT, None)
    assert C._sigint_seen


@pytest.mark.parametrize("delay", [0.25, 0.6])
def test_early_ctrl_c_ends_the_command_without_a_traceback(tmp_path, delay):
    """Ctrl-C while the command imports, opens the study or starts its workers."""
    path = write_sweep(tmp_path, "early", n_trials=200, epochs=200, n_jobs=2)
    cmd = cli("run", path, "--results-root", tmp_path, "-q")
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # killed by SIGINT, as a shell sees it (130) whichever way Python ended
    # (an interrupt inside code an extension ran through PyRun also ends so)
    assert proc.returncode == -signal.SIGINT, err
    assert "interrupted" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "name", ["quickstart", "optimizers_moons", "batch_size", "lr_decay", "digits"]
)
def test_shipped_sweep_runs(tmp_path, caplog, name):
    if name == "digits" and importlib.util.find_spec("sklearn") is None:
        pytest.skip("digits needs scikit-learn (the datasets extra)")
    with caplog.at_level("WARNING", logger="optsweep"):
        sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml")
    assert caplog.messages == []  # a shipped sweep gets none of the sweep-file warnings
    sweep = sweep.with_overrides(n_trials=3, n_jobs=1, report=False)
    s = run_sweep(sweep, root=tmp_path, progress=False)
    assert s.ran == 3
    assert len(optsweep.load(tmp_path / name).trials) == 3


def test_course_sweep_reproduces_the_course(tmp_path):
    """The course reports ~79.7% (gd), ~79.7% (momentum) and 94% (adam) after
    10000 epochs; 1000 epochs here keeps the test short (exactness itself is
    tested against the transcription in tests/engine/test_train.py)."""
    sweep = load_sweep(ROOT / "sweeps" / "course_c2w2.toml")
    assert sweep.train.random_mode == "legacy" and sweep.data.legacy
    from dataclasses import replace

    sweep = replace(sweep, train=replace(sweep.train, epochs=1000)).with_overrides(n_jobs=1)
    run_sweep(sweep, root=tmp_path, progress=False)
    t = optsweep.load(tmp_path / "course_c2w2").trials.set_index("optimizer")
    assert set(t.index) == {"gd", "momentum", "adam"}
    assert (t["updates"] == 5000).all()
    assert t.loc["adam", "train_metric"] > t.loc["gd", "train_metric"]


@pytest.mark.parametrize("pruner", ["median", "percentile"])
def test_may_prune_is_false_only_where_the_pruner_never_prunes(tmp_path, pruner):
    """Populations ask the pruner member by member only where may_prune says
    it can prune: before the warm-up epochs or the startup trials it is
    False, and there the pruner never prunes; after, it is True and the
    pruner does prune a bad trial."""
    import optuna

    from optsweep.samplers import STARTUP_TRIALS, make_pruner, may_prune

    extra = f'pruner = "{pruner}"\nwarmup_epochs = 3\npercentile = 50.0'
    sweep = load_sweep(write_sweep(tmp_path, study_extra=extra))
    study = optuna.create_study(direction="maximize", pruner=make_pruner(sweep))

    def bad_trial_at(epoch):
        trial = study.ask()
        trial.report(0.0, epoch)  # worse than every completed trial
        return trial

    for n_done in range(STARTUP_TRIALS + 1):
        for epoch in range(6):
            trial = bad_trial_at(epoch)
            gate = may_prune(study, sweep, epoch)
            assert gate == (epoch >= 3 and n_done >= STARTUP_TRIALS)
            assert may_prune(study, sweep, epoch, count=False) == (epoch >= 3)
            assert trial.should_prune() == gate  # never prunes where the gate is shut
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        done = study.ask()
        for epoch in range(6):
            done.report(0.9, epoch)
        study.tell(done, 0.9)
    none = load_sweep(write_sweep(subdir(tmp_path, "n"), study_extra='pruner = "none"'))
    assert not may_prune(study, none, 10)


@pytest.mark.parametrize("command", ["run", "confirm"])
def test_a_second_ctrl_c_ends_the_command_quietly(tmp_path, command):
    """Ctrl-C twice (or ``timeout -s INT``, which signals the command, then its
    process group): the second one cut joblib's clean-up of its workers short,
    which printed loky's tracebacks (its ``pgrep`` killed) or left the workers,
    which ignore Ctrl-C, alive, and the command waited for them for ever."""
    path = write_sweep(tmp_path, "dc", n_trials=40, epochs=300, n_jobs=2)
    root = tmp_path / "results"
    if command == "confirm":
        small = load_sweep(path).with_overrides(n_trials=2, n_jobs=1, report=False)
        run_sweep(small, root=root, progress=False)
        cmd = cli("confirm", root / "dc", "--top", 2, "--seeds", 40, "-n", 2)
    else:
        cmd = cli("-q", "run", path, "--results-root", root)
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_children(proc.pid)) < 2 and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # the workers training
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the command hung after a second Ctrl-C") from None
    assert proc.returncode == -signal.SIGINT, err
    assert "Traceback" not in err and "Warning" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux's /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def test_the_same_ctrl_c_delivered_twice_is_taken_once(monkeypatch):
    """``timeout -s INT`` signals a command and then its process group, a
    hurried press comes twice: one press within SAME_PRESS seconds."""
    import threading

    from optsweep import interrupts

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)  # new_press sets it
    monkeypatch.setattr(interrupts, "_next_hook", interrupts._next_hook)
    now = [100.0]
    monkeypatch.setattr(interrupts.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(interrupts, "_last_press", float("-inf"))
    taken = []
    for dt in (0.0, 0.001, 0.5, 0.6, 0.5):  # at 100, 100.001, 100.501, 101.101, 101.601
        now[0] += dt
        taken.append(interrupts.new_press())
    assert taken == [True, False, False, True, False]


@pytest.mark.parametrize("group", [False, True], ids=["kill", "timeout"])
def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, group):
    """``kill PID`` (or ``timeout``, which signals the process group, or a
    batch scheduler) ended the command at once: no tables, and its workers
    left behind, blocked for ever on the pipe to a process that was gone.
    Now a run stops as on Ctrl-C, with exit status 143."""
    path = write_sweep(tmp_path, "term", n_trials=200, epochs=200, n_jobs=2)
    root = tmp_path / "results"
    proc = subprocess.Popen(
        cli("-q", "run", path, "--results-root", root),
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = root / "term" / "study.journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size < 60_000):
        time.sleep(0.05)
    workers = _children(proc.pid)
    (os.killpg if group else os.kill)(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    resume = f"run `optsweep run {path} --results-root {root}` to resume"  # where it is
    assert err.startswith("interrupted: finished trials are kept") and resume in err, err
    assert "Traceback" not in err
    t = optsweep.load(root / "term").trials  # the tables, written on the way out
    assert (t["state"] == "COMPLETE").sum() >= 1 and (t["reason"] == "interrupted").sum() >= 1
    time.sleep(0.5)
    assert workers and not [p for p in workers if _alive(p)]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (not gone, not a zombie awaiting its reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _loky_workers(pid: int) -> int:
    """How many of ``pid``'s children are loky's worker processes."""
    n = 0
    for c in _children(pid):
        with contextlib.suppress(FileNotFoundError):  # gone meanwhile
            n += b"LokyProcess" in Path(f"/proc/{c}/cmdline").read_bytes()
    return n


@pytest.mark.parametrize("later", [None, 0.0, 1.5], ids=["spawned", "starting", "training"])
def test_workers_end_when_their_command_is_killed(tmp_path, later):
    """``kill -9`` of the command (or a crash) left its loky workers behind
    for ever, each blocked on the pipe to the other; they now end within
    seconds of it, also when it died before their first job (``spawned``:
    the moment they exist, when they all stayed, watching for it only from
    their first job)."""
    path = write_sweep(tmp_path, "k9", n_trials=200, epochs=200, n_jobs=2)
    root = tmp_path / "results"
    cmd = cli("-q", "run", path, "--results-root", root)
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    journal = root / "k9" / "study.journal"
    deadline = time.monotonic() + 60
    if later is None:
        while time.monotonic() < deadline and _loky_workers(proc.pid) < 2:
            time.sleep(0.002)
    else:
        while time.monotonic() < deadline and (
            not journal.exists() or journal.stat().st_size < 60_000
        ):
            time.sleep(0.05)
        time.sleep(later)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the command alone, not its process group
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert len(workers) >= 2 and not [p for p in workers if _alive(p)]


def test_the_pool_s_teardown_after_a_stop_is_not_shown_failing(monkeypatch, caplog):
    """loky's manager thread can fail in its own bookkeeping while joblib
    tears the pool down after a Ctrl-C (a KeyError on a work item the abort
    removed: a traceback under "interrupted" in one CI run), and so can
    joblib's callback of a job that ends then (it dispatches the next batch
    to the pool shut down); other threads' exceptions and callbacks' failures
    before a stop are still shown."""
    import threading

    from optsweep import interrupts

    shown = []
    monkeypatch.setattr(threading, "excepthook", lambda a: shown.append(a.thread.name))
    monkeypatch.setattr(interrupts, "_next_hook", interrupts._next_hook)
    monkeypatch.setattr(interrupts, "_last_press", float("-inf"))
    futures = logging.getLogger("concurrent.futures")
    monkeypatch.setattr(futures, "filters", list(futures.filters))

    def fail(name: str) -> None:
        t = threading.Thread(target=lambda: {}[14], name=name)
        t.start()
        t.join()

    def callback_fails() -> None:  # as joblib's, dispatching to a pool shut down
        from joblib.externals.loky._base import Future

        future = Future()
        future.add_done_callback(lambda f: {}[14])
        future.set_result(None)

    fail("ExecutorManagerThread")  # no stop taken: shown
    callback_fails()
    assert [r.msg[:28] for r in caplog.records] == ["exception calling callback f"]
    assert interrupts.new_press(signal.SIGINT)
    fail("ExecutorManagerThread")  # the teardown after it: not shown
    callback_fails()
    fail("Thread-99")
    assert shown == ["ExecutorManagerThread", "Thread-99"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
