"""Running sweeps: exact budgets in parallel, resume after SIGKILL, deterministic
mode, failures recorded, tables rebuilt from the storage."""

from __future__ import annotations

import fcntl
import gc
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import cli, file_sweep, subdir, write_sweep

import optsweep
from optsweep.config import load_sweep
from optsweep.engine import HISTORY_COLUMNS
from optsweep.errors import ConfigError, OptsweepError
from optsweep.objective import trial_seed
from optsweep.results import (
    INTERRUPTED,
    curves_frame,
    decode_curve,
    encode_curve,
    load_weights,
    result_of,
    trials_frame,
    write_table,
)
from optsweep.runner import counts, recover_interrupted, run_sweep
from optsweep.status import export, status_text
from optsweep.storage import (
    RUN_LOCK,
    FlockLock,
    JournalFile,
    batched_writes,
    open_storage,
    repair_journal_tail,
    sync_journals,
)


def test_parallel_sweep_runs_exactly_the_budget(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "par", n_trials=10, n_jobs=2))
    s = run_sweep(sweep, root=tmp_path / "results", progress=False)
    assert s.ran == 10
    res = optsweep.load(tmp_path / "results" / "par")
    t = res.trials
    assert len(t) == 10 and t["number"].tolist() == list(range(10))
    assert set(t["state"]) <= {"COMPLETE", "PRUNED", "FAIL"}
    # every trial has its curve, one row per epoch run
    per_trial = res.curves.groupby("trial").size()
    assert per_trial.to_dict() == dict(zip(t["number"], t["epochs_run"], strict=True))
    # each trial's result, in the storage, names the host that trained it
    study = optuna.load_study(
        study_name="par",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(
                str(tmp_path / "results" / "par" / "study.journal")
            )
        ),
    )
    assert {result_of(tr)["host"] for tr in study.trials} == {socket.gethostname()}


def test_resume_continues_to_the_budget(tmp_path):
    path = write_sweep(tmp_path, "res", n_trials=4)
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    first = optsweep.load(root / "res").trials
    s = run_sweep(load_sweep(path).with_overrides(n_trials=7), root=root, progress=False)
    assert s.ran == 3
    again = optsweep.load(root / "res").trials
    assert len(again) == 7
    pd.testing.assert_frame_equal(again.iloc[:4].reset_index(drop=True), first)
    # at budget already: nothing more runs
    assert (
        run_sweep(load_sweep(path).with_overrides(n_trials=7), root=root, progress=False).ran == 0
    )


def test_optsweep_run_from_python(tmp_path):
    """optsweep.run: the study of a sweep file, with [study] and [execution]
    keys replaced and checked as in the file, its report, and its results
    loaded; the same call resumes."""
    path = write_sweep(tmp_path, "nb", n_trials=8, epochs=2)
    root = tmp_path / "r"
    res = optsweep.run(path, root=root, progress=False, n_trials=3, report=True, n_jobs=2)
    assert isinstance(res, optsweep.Results) and len(res.trials) == 3
    assert (root / "nb" / "report" / "report.md").exists()
    assert res.meta["settings"]["study.sampler"] == "tpe"
    res = optsweep.run(path, root=root, progress=False, n_trials=5, sampler="random")
    assert res.trials["number"].tolist() == [0, 1, 2, 3, 4]
    # what ran, which the copy of the sweep file (no sampler: TPE) does not say
    assert res.meta["settings"] == load_sweep(path, settings={"sampler": "random"}).settings()
    assert res.meta["settings"]["study.sampler"] == "random"
    with pytest.raises(ConfigError, match=r"nb.toml: study.n_trials must be >= 1 \(got 0\)"):
        optsweep.run(path, root=root, n_trials=0)
    with pytest.raises(
        ConfigError,
        match=r"trials is not a \[study\] or \[execution\] key, did you mean n_trials\?",
    ):
        optsweep.run(path, root=root, trials=3)
    assert len(optsweep.load(root / "nb").trials) == 5


def test_optsweep_run_interrupted_in_a_notebook_keeps_its_trials_and_resumes(tmp_path, caplog):
    """The notebook's stop button is a SIGINT in the kernel: the run stops,
    keeps what finished, says so (no report), and the same call resumes."""
    import threading

    path = write_sweep(tmp_path, "stop", n_trials=400, epochs=60, n_jobs=2)
    root = tmp_path / "r"
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    with (
        caplog.at_level("WARNING", logger="optsweep.api"),
        warnings.catch_warnings(record=True) as w,
    ):
        warnings.simplefilter("always")
        res = optsweep.run(path, root=root, progress=False, report=True)
        gc.collect()  # joblib warned when its abandoned generator was collected
    assert "stop.toml: interrupted; finished trials are kept, and the same call resumes" in (
        caplog.text
    )
    # nor joblib's "4 tasks have been successfully executed but not used ..."
    assert not [x for x in w if "tasks" in str(x.message)], [str(x.message) for x in w]
    from optsweep.analysis import shown_states

    def finished(trials) -> int:  # what the budget counts: not the interrupted ones
        return int(shown_states(trials).isin(["COMPLETE", "PRUNED", "FAIL"]).sum())

    done = finished(res.trials)
    assert 0 < done < 400 and not (root / "stop" / "report").exists()
    res = optsweep.run(path, root=root, progress=False, n_trials=np.int64(done + 3))
    assert finished(res.trials) == done + 3


def test_an_interrupted_run_has_no_joblib_warning(tmp_path, monkeypatch):
    """Ctrl-C while a result is recorded (outside joblib's generator, with
    tasks in flight): joblib warned "4 tasks have been successfully executed
    but not used ... You could benefit from adjusting the input task
    iterator", noise after a stop the user asked for."""
    import optsweep.runner as R

    record, throughput, calls, started = R._Runner.record, R._run_throughput, [], []

    def in_the_pool(*args, **kwargs):  # the main process ran trials while workers started
        started.append(len(calls))
        return throughput(*args, **kwargs)

    def interrupted(self, out, *args, **kwargs):
        calls.append(out.number)
        if started and len(calls) == started[0] + 3:
            raise KeyboardInterrupt
        return record(self, out, *args, **kwargs)

    monkeypatch.setattr(R, "_run_throughput", in_the_pool)
    monkeypatch.setattr(R._Runner, "record", interrupted)
    path = write_sweep(tmp_path, "quiet", n_trials=200, epochs=30, n_jobs=2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
        gc.collect()
    assert s.interrupted and started and len(calls) == started[0] + 3
    assert not [x for x in w if " tasks " in str(x.message)], [str(x.message) for x in w]


PRUNED = 'pruner = "median"\nwarmup_epochs = 2'


def test_optsweep_run_in_jupyter_without_ipywidgets_says_nothing_of_it(tmp_path):
    """In a Jupyter kernel without ipywidgets, importing Optuna (which imports
    tqdm.auto) warned "IProgress not found. Please update jupyter and
    ipywidgets" at each notebook's first optsweep.run; the text progress bar
    it falls back to does as well. A fresh process that looks like a kernel
    to tqdm (its test is ipykernel's shell module and IPython's shell name)."""
    path = write_sweep(tmp_path, "nb", n_trials=2, epochs=2)
    script = f"""
import sys, types, warnings
shell = type("ZMQInteractiveShell", (), {{}})()
sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
ipython = types.ModuleType("IPython")
ipython.get_ipython = lambda: shell
sys.modules["IPython"] = ipython
warnings.simplefilter("always")
import optsweep
optsweep.run({str(path)!r}, root={str(tmp_path / "r")!r}, report=False)
import tqdm.autonotebook  # the module that warns: imported, and it did not
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "nb:" in res.stderr and "IProgress" not in res.stderr, res.stderr


def test_workers_started_in_another_folder_use_this_run_s_files(tmp_path, monkeypatch):
    """A notebook that changes folder between runs reuses joblib's workers,
    which stay in the folder they started in: the paths sent to them (the
    study's journal, which pruning reports go to; the report's figures) must
    not be relative. A relative journal path once made them report to
    another folder's study, or to none ("Record does not exist")."""
    first = write_sweep(tmp_path, "v", n_trials=2, epochs=2, n_jobs=2)
    path = write_sweep(tmp_path, "w", n_trials=6, epochs=12, n_jobs=2, study_extra=PRUNED)
    monkeypatch.chdir(subdir(tmp_path, "a"))
    optsweep.run(first, progress=False, report=True)  # the workers start here, in a/
    monkeypatch.chdir(subdir(tmp_path, "b"))
    res = optsweep.run(path, progress=False, report=True)  # results/ is b/results/ now
    assert res.path == Path("results") / "w" and len(res.trials) == 6
    assert res.trials["state"].isin(["COMPLETE", "PRUNED"]).all()
    figures = {p.name for p in (tmp_path / "b" / "results" / "w" / "report").glob("*.png")}
    assert "history.png" in figures and "learning_curves.png" in figures
    assert sorted(p.name for p in (tmp_path / "a" / "results").iterdir()) == ["v"]


def test_a_run_with_nothing_to_do_says_how_to_run_more(tmp_path, capsys, caplog):
    """`--trials 5` on a study of 7 trials runs none (the budget counts the
    study's trials); the command says so, and what budget runs 5 more, with
    no progress bar of 7 trials out of 5; so does ``optsweep.run`` (it said
    nothing)."""
    from optsweep.cli import main

    path = write_sweep(tmp_path, "more", n_trials=7, epochs=2)
    root = ["--results-root", str(tmp_path / "r")]
    assert main(["run", str(path), "-q", *root]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "--trials", "5", *root]) == 0
    out, err = capsys.readouterr()
    assert "more: 0 trial(s) this run" in out
    assert (
        "nothing to run: the study has 7 trials, its budget of 5 is met; `--trials 12` runs 5 more"
        in out
    )
    assert "7trial" not in err and "more: " not in err, err
    with caplog.at_level(logging.WARNING, logger="optsweep"):
        res = optsweep.run(path, root=tmp_path / "r", n_trials=5, progress=False, report=False)
    assert len(res.trials) == 7
    assert (
        "nothing to run: the study has 7 trials, its budget of 5 is met; n_trials=12 runs 5 more"
        in caplog.text
    )
    assert main(["run", str(path), "--trials", "12", *root]) == 0
    assert "more: 5 trial(s) this run" in capsys.readouterr().out


@pytest.mark.parametrize(
    "tail", [b'{"op_code":5,"worker_id":"x","trial_id":3,"st', b"\0" * 700], ids=["torn", "zeros"]
)
def test_a_torn_journal_tail_left_by_a_crash_is_cut_and_the_sweep_resumes(tmp_path, tail, caplog):
    """A machine crash can leave the journal ending in part of a record or in
    zeros; without the cut the next run's first write would corrupt that line
    and every later read would fail."""
    path = write_sweep(tmp_path, "torn", n_trials=3)
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    first = optsweep.load(root / "torn").trials
    journal = root / "torn" / "study.journal"
    clean = journal.read_bytes()
    with open(journal, "ab") as f:
        f.write(tail)
    with caplog.at_level("WARNING", logger="optsweep.runner"):
        s = run_sweep(load_sweep(path).with_overrides(n_trials=5), root=root, progress=False)
    assert f"cut a torn last record ({len(tail)} bytes)" in caplog.text
    assert s.ran == 2
    assert journal.read_bytes().startswith(clean)
    again = optsweep.load(root / "torn").trials
    assert len(again) == 5 and (again["state"] == "COMPLETE").all()
    pd.testing.assert_frame_equal(again.iloc[:3].reset_index(drop=True), first)
    assert repair_journal_tail(journal) == 0  # a whole journal is left as it is


def test_a_journal_damaged_before_its_last_line_is_one_line_naming_the_line(tmp_path):
    """Not repairable (later records may depend on it): run and status stop
    with the file and the line, exit 1, no traceback."""
    path = write_sweep(tmp_path, "dmg", n_trials=2)
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    journal = root / "dmg" / "study.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[3] = b'{"op_code": 5, garbage'
    journal.write_bytes(b"\n".join(lines))
    for args in (["run", path, "--results-root", root, "--trials", "3"], ["status", root / "dmg"]):
        res = subprocess.run(cli(*args), capture_output=True, text=True)
        assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
        assert (
            res.stderr.startswith(f"optsweep: error: {journal}: line 4 is not a journal record (")
            and res.stderr.count("\n") == 1
        ), res.stderr


def _finished_and_running(journal) -> tuple[int, int]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    try:
        study = optuna.load_study(study_name="kill", storage=storage)
    except KeyError:  # the file exists, the study is not written yet
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
    return sum(t.state.is_finished() for t in trials), running


def test_resume_after_sigkill_keeps_every_completed_trial(tmp_path):
    path = write_sweep(tmp_path, "kill", n_trials=14, epochs=150, n_jobs=2)
    root = tmp_path / "results"
    cmd = cli("-q", "run", path, "--results-root", root)
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    journal = root / "kill" / "study.journal"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if journal.exists():  # some trials done, and one in training: kill now
            finished, running = _finished_and_running(journal)
            if finished >= 4 and running:
                break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: main and workers
    proc.wait()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    before = optuna.load_study(study_name="kill", storage=storage).get_trials()
    done_before = {t.number: t.values for t in before if t.state.name == "COMPLETE"}
    running = [t for t in before if t.state.name == "RUNNING"]
    assert done_before and running and len(before) < 14  # killed mid-training
    # with no run alive, status shows the trials left RUNNING as interrupted
    text = status_text(root / "kill")
    assert "running" not in text and f"{len(running)} interrupted" in text
    assert f"({len(running)} interrupted or lost will run again" in text
    left = 14 - sum(t.state.is_finished() for t in before)  # interrupted ones do not count
    assert f"budget: 14 trials, {left} to go (run the same command again to resume)" in text
    # a resume killed once it had queued their copies: those have not run yet
    recover_interrupted(optuna.load_study(study_name="kill", storage=storage))
    assert f"({len(running)} interrupted or lost will run again" in status_text(root / "kill")

    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = optsweep.load(root / "kill").trials
    finished = out[out["reason"] != "interrupted"]
    assert len(finished) == 14  # the budget, not counting interrupted trials
    assert len(out) == 14 + len(running)
    for number, values in done_before.items():  # completed before the kill: intact
        row = out.set_index("number").loc[number]
        assert row["state"] == "COMPLETE" and row["value"] == values[0]
    interrupted = out[out["reason"] == "interrupted"]
    assert sorted(interrupted["number"]) == sorted(t.number for t in running)
    # each interrupted configuration ran again, once, with the same training seed
    for _, row in interrupted.iterrows():
        reruns = out[out["rerun_of"] == row["number"]]
        assert len(reruns) == 1 and reruns.iloc[0]["state"] != "RUNNING"
        assert reruns.iloc[0]["seed"] == trial_seed(0, int(row["number"]))
        if not pd.isna(row["lr"]):  # killed after its configuration was recorded
            assert reruns.iloc[0]["lr"] == row["lr"]
    text = status_text(root / "kill")  # all run again: nothing left pending
    assert f"{len(running)} interrupted" in text and "will run again" not in text
    assert "budget: 14 trials, met" in text


def _table(tmp_path, n_jobs: int) -> pd.DataFrame:
    extra = 'deterministic = true\nbatch = 3\npruner = "median"\nwarmup_epochs = 2'
    d = subdir(tmp_path, f"j{n_jobs}")
    sweep = load_sweep(write_sweep(d, "det", n_trials=9, n_jobs=n_jobs, study_extra=extra))
    run_sweep(sweep, root=d / "results", progress=False)
    t = optsweep.load(d / "results" / "det").trials
    # worker: host and process id, which differ between runs by design
    return t.drop(
        columns=[
            "train_seconds",
            "seconds_per_epoch",
            "datetime_start",
            "datetime_complete",
            "worker",
        ]
    )


def test_deterministic_mode_is_independent_of_n_jobs(tmp_path):
    one, two = _table(tmp_path, 1), _table(tmp_path, 2)
    pd.testing.assert_frame_equal(one, two)
    assert one["optimizer"].nunique() > 1  # a real search happened


def test_diverging_and_raising_trials_are_recorded_and_the_sweep_goes_on(tmp_path):
    text = write_sweep(tmp_path, "div", n_trials=6).read_text()
    text = text.replace("lr = { low = 1e-3, high = 0.3 }", "lr = [1e-2, 1e250]")
    text = text.replace('optimizer = ["gd", "momentum", "rmsprop", "adam"]', 'optimizer = "gd"')
    text = text.replace("[study]", '[study]\nsampler = "grid"').replace(
        "batch_size = { low = 16, high = 64, full = true }", "batch_size = [32, 64, 1000]"
    )
    path = tmp_path / "div.toml"
    path.write_text(text)
    run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
    t = optsweep.load(tmp_path / "r" / "div").trials
    assert len(t) == 6
    failed = t[t["state"] == "FAIL"]
    assert set(failed["lr"]) == {1e250} and len(failed) == 3
    assert failed["reason"].str.startswith("diverged at epoch ").all()
    assert (t.loc[t["state"] == "COMPLETE", "lr"] == 1e-2).all()
    assert (
        t.loc[t["batch_size"] == 1000, "updates"].dropna() <= 10
    ).all()  # full batch: 1 update an epoch


def test_export_rebuilds_identical_tables(tmp_path):
    root = tmp_path / "results"
    run_sweep(load_sweep(write_sweep(tmp_path, "exp", n_trials=5)), root=root, progress=False)
    d = root / "exp"
    before = optsweep.load(d)
    (d / "trials.parquet").unlink()
    (d / "curves.parquet").unlink()
    paths = export(d, "csv")
    assert [p.name for p in paths] == ["trials.csv", "curves.csv"]
    after = optsweep.load(d)
    pd.testing.assert_frame_equal(before.trials, after.trials)
    pd.testing.assert_frame_equal(before.curves, after.curves, check_exact=False, rtol=1e-15)
    text = status_text(d)
    assert "trials: 5" in text and "best: trial" in text and "budget: 5 trials, met" in text
    meta = json.loads((d / "meta.json").read_text())
    meta["budget"] = {"n_trials": 8, "timeout": None}  # the budget raised: 3 to go
    (d / "meta.json").write_text(json.dumps(meta))
    assert "budget: 8 trials, 3 to go (run the same command again to resume)\n" in status_text(d)
    with open(d / RUN_LOCK, "a") as lock:  # while a run holds the study, no advice to resume
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert "budget: 8 trials, 3 to go\n" in status_text(d)
        # the rest asked and running: not "met" (it said so), though none has ended
        study = optuna.load_study(study_name="exp", storage=open_storage(str(d / "study.journal")))
        for _ in range(3):
            study.ask()
        assert "budget: 8 trials, every trial asked (3 running)\n" in status_text(d)
    # the run gone, its running trials were interrupted: they run again
    assert "budget: 8 trials, 3 to go (run the same command again to resume)\n" in status_text(d)
    meta["budget"] = {"n_trials": None, "timeout": 60.0}  # a study bounded by time alone
    (d / "meta.json").write_text(json.dumps(meta))
    assert "budget: timeout 60 s a run" in status_text(d)


def test_tables_have_sensible_dtypes_and_missing_conditionals(tmp_path):
    root = tmp_path / "results"
    run_sweep(load_sweep(write_sweep(tmp_path, "dt", n_trials=8)), root=root, progress=False)
    res = optsweep.load(root / "dt")
    t = res.trials
    assert t["optimizer"].dtype == "str" and t["state"].dtype == "str"
    assert t["batch_size"].dtype == "Int64" and t["lr"].dtype == "float64"
    # betas exist only for their optimizers
    for opt, beta in [
        ("momentum", "momentum_beta"),
        ("rmsprop", "rmsprop_beta"),
        ("adam", "beta1"),
    ]:
        assert t.loc[t["optimizer"] == opt, beta].notna().all()
        assert t.loc[t["optimizer"] != opt, beta].isna().all()
    assert t["batch_size"].isin([16, 32, 64, 150]).all()  # powers of two or the full batch
    # best weights are kept and load without pickle
    best = t.loc[t["state"] == "COMPLETE"].sort_values("value", ascending=False).iloc[0]
    w = load_weights(root / "dt", int(best["number"]))
    assert w["sizes"].tolist() == [2, 8, 1] and w["W1"].shape == (8, 2)


def test_counts_and_status_after_run(tmp_path):
    root = tmp_path / "results"
    sweep = load_sweep(write_sweep(tmp_path, "st", n_trials=3))
    run_sweep(sweep, root=root, progress=False)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(root / "st" / "study.journal"))
    )
    c = counts(optuna.load_study(study_name="st", storage=storage))
    assert c["COMPLETE"] + c["PRUNED"] + c["FAIL"] == 3 and c["RUNNING"] == 0
    assert np.isfinite(optsweep.load(root / "st").trials["value"]).any()
    # `optsweep status results/*`: every study there, the README left out
    shutil.copytree(root / "st", root / "copy")
    (root / "README.md").write_text("not a study")
    out = subprocess.run(
        cli("status", *sorted(root.iterdir())), capture_output=True, text=True, check=True
    )
    assert out.stderr == f"left out, not results directories: {root / 'README.md'}\n"
    blocks = out.stdout.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        f"study st in {root / name} (from {root / name / 'study.journal'})"
        for name in ("copy", "st")
    ]
    out = subprocess.run(  # and `optsweep export results/*`
        cli("export", *sorted(root.iterdir()), "--format", "csv"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines() == [
        f"wrote {root / name / table}.csv"
        for name in ("copy", "st")
        for table in ("trials", "curves")
    ]


def test_large_data_reaches_workers_as_a_memory_map(tmp_path):
    from optsweep.engine import Dataset
    from optsweep.runner import share_data

    rng = np.random.default_rng(0)
    big = Dataset(rng.normal(size=(40_000, 8)), rng.integers(0, 2, 40_000))
    shared = share_data(big, tmp_path)
    assert isinstance(shared.X_train, np.memmap) and not shared.X_train.flags.writeable
    np.testing.assert_array_equal(shared.X_train, big.X_train)
    small = Dataset(np.zeros((10, 2)), np.zeros(10, dtype=int))
    assert share_data(small, tmp_path) is small  # small data is simply pickled


def test_sweep_on_a_csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    lines = ["a,b,c,kind"] + [
        f"{x[0]},{x[1]},{x[2]},{'yes' if x[0] + x[1] > 0 else 'no'}" for x in X
    ]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    path = file_sweep(tmp_path, "csv", "d.csv", "kind", n_trials=3)
    run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
    res = optsweep.load(tmp_path / "r" / "csv")
    assert len(res.trials) == 3 and res.meta["data"]["n_features"] == 3
    assert (res.trials["val_metric"].dropna() > 0.6).any()


def test_sweep_on_labels_that_are_not_class_codes(tmp_path):
    """Labels -1/1 in a CSV are two classes (a sigmoid head, not refused),
    named in meta.json, the report and the decision-boundary plot; the same
    whole numbers with a linear head are a regression target, kept as they are."""
    from optsweep import plots
    from optsweep.objective import load_dataset
    from optsweep.report import _boundaries, study_report

    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 2))
    lines = ["width,height,y"] + [f"{a},{b},{1 if a - b > 0 else -1}" for a, b in X]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    file_sweep(tmp_path, "pm", "d.csv", "y", n_trials=3)
    run_sweep(load_sweep(tmp_path / "pm.toml"), root=tmp_path / "r", progress=False)
    res = optsweep.load(tmp_path / "r" / "pm")
    study_report(res)
    assert res.meta["model"] == {"sizes": [2, 8, 1], "activation": "relu", "head": "sigmoid"}
    assert res.meta["data"]["classes"] == [-1, 1]
    assert res.meta["data"]["features"] == ["width", "height"]
    assert (res.trials["state"] == "COMPLETE").all() and res.trials["val_metric"].max() > 0.8
    report = (tmp_path / "r" / "pm" / "report" / "report.md").read_text()
    assert "2 features, 2 classes (-1, 1)." in report
    assert "Objective: val_metric, the validation accuracy (fraction correct), maximised." in report
    fig = plots.plot_boundaries(*_boundaries(res))
    assert [t.get_text() for t in fig.legends[0].texts] == ["-1", "1"]
    assert fig.axes[0].get_xlabel() == "width (standardised)"

    model = res.model()  # the best trial's network, on raw inputs, with the labels as given
    assert repr(model) == (
        f"<Model of trial {model.trial}: network [2, 8, 1] (relu, sigmoid head), "
        "inputs width, height (standardised), classes -1, 1>"
    )
    assert model.trial == res.trials.sort_values("value", ascending=False)["number"].iloc[0]
    raw = np.array([[2.0, -1.0], [-1.5, 1.0]])  # width - height: far above and below 0
    assert model.predict(raw).tolist() == [1, -1]
    assert model.predict_proba(raw).shape == (2, 1)
    with pytest.raises(ValueError, match=r"X must have shape \(samples, 2\) \(got \(3,\)\)"):
        model.predict([1.0, 2.0, 3.0])
    data = load_dataset(load_sweep(tmp_path / "pm.toml").data)
    np.testing.assert_allclose(  # the same network as the trial's, on the scaled inputs
        model.predict_proba(raw), model.network.predict_proba(data.scaler.transform(raw))
    )
    old = {**res.meta, "data": {k: v for k, v in res.meta["data"].items() if k != "scaler"}}
    with pytest.raises(ValueError, match="does not hold the inputs' scaling"):
        optsweep.Results(res.trials, res.curves, old, res.path).model()

    sweep = load_sweep(tmp_path / "pm.toml")
    real = load_dataset(sweep.data, "linear")
    assert real.y_train.dtype == np.float64
    assert set(np.round(real.target_scaler.inverse(real.y_train), 12).tolist()) == {-1.0, 1.0}
    assert real.n_classes == 0
    assert set(load_dataset(sweep.data, "auto").y_train.tolist()) == {0, 1}


def test_regression_targets_are_standardised_and_predicted_in_their_units(tmp_path):
    """Targets around 100 (a price, say) are standardised on the training part,
    as the inputs are: trials reach an R^2 near 1 rather than spending their
    epochs moving the output bias (and gd diverging at rates of 0.01); the
    scaling is kept in meta.json, and res.model() predicts in the targets'
    units."""
    from optsweep import plots
    from optsweep.objective import load_dataset
    from optsweep.report import _boundaries, study_report

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = 100 + 3 * np.sin(X[:, 0]) + X[:, 1] ** 2
    lines = ["a,b,price"] + [f"{a:.6f},{b:.6f},{t:.6f}" for (a, b), t in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    file_sweep(tmp_path, "price", "d.csv", "price", n_trials=4, epochs=60)
    sweep = load_sweep(tmp_path / "price.toml")
    run_sweep(sweep, root=tmp_path / "r", progress=False)
    res = optsweep.load(tmp_path / "r" / "price")
    assert (res.trials["state"] == "COMPLETE").all()
    # every trial fits: with raw targets, two of these four end at R^2 -2.9 and -0.03
    assert res.trials["val_metric"].min() > 0.95
    data = load_dataset(sweep.data, sweep.model.head)
    train = data.target_scaler.inverse(data.y_train)  # the training part's prices
    assert abs(data.y_train.mean()) < 1e-12 and abs(data.y_train.std() - 1) < 1e-12
    assert res.meta["data"]["target_scaler"] == {"mean": train.mean(), "std": train.std()}
    model = res.model()
    assert repr(model).endswith("inputs a, b (standardised), targets standardised>")
    pred = model.predict(X)
    assert pred.shape == (400,) and np.abs(pred - y).mean() < 0.3  # in the targets' units
    np.testing.assert_allclose(model.predict_proba(X)[:, 0], pred)
    assert plots.metric_label("train_loss", res.meta) == (
        "training loss (squared error of standardised targets)"
    )
    # the report's two-feature figure: predictions in the targets' units, not
    # classes (before, the prices were cast to class codes 0, 1, 2)
    fig = plots.plot_boundaries(*_boundaries(res))
    assert fig.legends == [] and fig.axes[-1].get_ylabel().startswith("price\n(shading: predicted")
    assert fig.axes[-1].get_ylim() == pytest.approx((train.min(), train.max()))
    study_report(res)
    report = (res.path / "report" / "report.md").read_text()
    assert "## Predictions" in report and "Decision" not in report
    spread = f"mean {train.mean():.4g}, sd {train.std():.4g}"
    assert f"a real-valued target ({spread}), standardised" in report


def test_journal_lock_excludes_and_dies_with_its_holder(tmp_path):
    """The journal's flock: a second writer waits while a process holds it,
    and takes it as soon as that process is killed (no stale lock left)."""
    journal = str(tmp_path / "study.journal")
    code = (
        "import sys, time; from optsweep.storage import FlockLock; "
        f"lock = FlockLock({journal!r}); lock.acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = FlockLock(journal)
        fd = os.open(lock.path, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # held by the other process
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    finally:
        holder.kill()
        holder.wait()
    t = time.monotonic()
    assert lock.acquire()
    assert time.monotonic() - t < 1.0
    lock.release()
    fd = os.open(lock.path, os.O_RDWR)  # released: another taker gets it at once
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_journal_lock_excludes_threads_and_forked_children(tmp_path):
    """The lock keeps its file open between writes: it must still exclude
    the threads of its own process, and a child forked while the parent
    holds it (which would otherwise share the parent's open file)."""
    import threading

    lock = FlockLock(str(tmp_path / "study.journal"))
    lock.acquire()
    took = []
    thread = threading.Thread(target=lambda: (lock.acquire(), took.append(time.monotonic())))
    thread.start()
    pid = os.fork()
    if pid == 0:  # the child: waits for the parent's release
        t = time.monotonic()
        lock.acquire()
        lock.release()
        os._exit(0 if time.monotonic() - t > 0.2 else 1)
    time.sleep(0.3)
    assert not took  # the other thread still waits
    released = time.monotonic()
    lock.release()
    thread.join(5)
    assert took and took[0] >= released
    lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _counting_fsync(monkeypatch, path: Path) -> list[int]:
    """Count the fsync calls on ``path`` (any thread), calling the real one."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(path):
            calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_journal_reaches_the_disk_once_for_a_burst_of_writes(tmp_path, monkeypatch):
    """A burst of journal writes costs one fsync, made by a timer within
    sync_seconds of the first write; every write is in the file at once
    (another reader sees it); the end of a run syncs what is pending at once;
    sync_seconds = 0 syncs every write, as Optuna does."""
    path = tmp_path / "study.journal"
    calls = _counting_fsync(monkeypatch, path)
    backend = JournalFile(str(path), FlockLock(str(path)), sync_seconds=0.2)
    t = time.monotonic()
    for i in range(50):
        backend.append_logs([{"op_code": 0, "i": i}])
    burst = time.monotonic() - t
    assert len(list(JournalFile(str(path), FlockLock(str(path))).read_logs(0))) == 50
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(calls) <= 1 + burst / 0.2  # one per 0.2 s of writing at most: here one
    synced = len(calls)
    assert synced >= 1

    slow = JournalFile(str(path), FlockLock(str(path)), sync_seconds=60)
    slow.append_logs([{"op_code": 0, "i": 50}])
    assert len(calls) == synced  # its timer is a minute away
    sync_journals()  # the end of a run: at once, and the timer cancelled
    assert len(calls) == synced + 1
    slow.sync()
    assert len(calls) == synced + 1  # nothing pending: no fsync

    every = JournalFile(str(path), sync_seconds=0)
    for i in range(5):
        every.append_logs([{"op_code": 0, "i": i}])
    assert len(calls) == synced + 6


def test_a_forked_child_syncs_its_own_journal_writes(tmp_path, monkeypatch):
    """A child forked while its parent's timer is pending (a user's
    multiprocessing pool, say) starts timers of its own for its writes."""
    path = tmp_path / "study.journal"
    backend = JournalFile(str(path), FlockLock(str(path)), sync_seconds=30)
    backend.append_logs([{"op_code": 0, "who": "parent"}])
    assert backend._timer is not None  # pending in the parent
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if its write started a live timer
        ok = backend._timer is None
        backend.sync_seconds = 0.05
        backend.append_logs([{"op_code": 0, "who": "child"}])
        ok = ok and backend._timer is not None and backend._timer.is_alive()
        time.sleep(0.3)  # the timer fires and syncs
        ok = ok and backend._timer is None
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e["who"] for e in JournalFile(str(path)).read_logs(0)] == ["parent", "child"]
    backend.sync()


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            'optimizer = ["gd", "momentum", "rmsprop", "adam"]',
            'optimizer = ["gd", "adam"]',
            r"search.optimizer cannot change this way .*CategoricalDistribution does not "
            r"support dynamic value space \(stored choices \['gd', 'momentum', 'rmsprop', "
            r"'adam'\], now choices \['gd', 'adam'\]\)",
        ),
        (
            "lr = { low = 1e-3, high = 0.3 }",
            "lr = [0.01, 0.1]",
            r"search.lr cannot change this way .*different distribution kind",
        ),
    ],
)
def test_a_search_space_that_optuna_would_refuse_on_resume_is_refused_first(
    tmp_path, old, new, why
):
    """Resuming with a changed list of choices (or a range become a list)
    would fail at the first trial's parameters with Optuna's traceback; it
    is refused before any trial, naming the key, and a narrower range runs."""
    path = write_sweep(tmp_path, "ch", n_trials=2, epochs=2)
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new).replace("n_trials = 2", "n_trials = 4"))
    with pytest.raises(ConfigError, match=why):
        run_sweep(load_sweep(path), root=root, progress=False)
    assert len(optsweep.load(root / "ch").trials) == 2  # nothing asked
    narrower = text.replace(old, "lr = { low = 1e-2, high = 0.1 }" if "lr" in old else old)
    path.write_text(narrower.replace("n_trials = 2", "n_trials = 4"))
    run_sweep(load_sweep(path), root=root, progress=False)
    assert len(optsweep.load(root / "ch").trials) == 4


def test_resuming_with_another_experiment_is_refused(tmp_path):
    """Data, model, training settings, the study's seed and metric are not
    recorded with each trial: a study resumed with other ones would mix trials
    that do not compare. Refused, naming the key and both values; the same
    arrays from another path, or other execution settings, resume."""
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = [f"{a:.6f},{b:.6f},{int(a * b > 0)}" for a, b in rng.normal(size=(60, 2))]
    data.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    path = file_sweep(tmp_path, "exp", data, "y", n_trials=2, epochs=3)
    text = path.read_text()
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    meta = (root / "exp" / "meta.json").read_text()

    def resume(new_text: str, n: int) -> None:
        path.write_text(new_text.replace("n_trials = 2", f"n_trials = {n}"))
        run_sweep(load_sweep(path), root=root, progress=False)

    for old, new, message in [
        ("epochs = 3", "epochs = 4", "train.epochs differs .*used 3: .*got 4"),
        ("hidden = [8]", "hidden = [8, 8]", r"model.hidden differs .*used \[8\].*got \[8, 8\]"),
        ("seed = 0", "seed = 1", "study.seed differs .*used 0.*got 1"),
        ("val_fraction = 0.25", "val_fraction = 0.3", "data.val_fraction differs"),
    ]:
        assert old in text
        with pytest.raises(ConfigError, match=message):
            resume(text.replace(old, new, 1), 3)
    data.write_text(data.read_text().replace("1\n", "0\n", 5))  # the same file, other labels
    with pytest.raises(ConfigError, match="data differ from the stored study 'exp''s"):
        resume(text, 3)
    assert len(optsweep.load(root / "exp").trials) == 2  # nothing ran
    assert (root / "exp" / "meta.json").read_text() == meta
    data.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    moved = tmp_path / "elsewhere" / "copy.csv"  # the same arrays by another path
    moved.parent.mkdir()
    moved.write_bytes(data.read_bytes())
    resume(text.replace(str(data), str(moved)).replace("n_jobs = 1", "n_jobs = 2"), 4)
    assert len(optsweep.load(root / "exp").trials) == 4


def test_a_regression_study_trained_on_raw_targets_is_not_resumed_on_standardised_ones(
    tmp_path,
):
    """A regression study made before targets were standardised (its record
    has no "targets", and its arrays' digest was of the raw targets) is
    refused with that reason, not "a changed file?"; the study as made now
    resumes."""
    from optsweep.runner import EXPERIMENT, open_study, storage_spec

    rng = np.random.default_rng(0)
    rows = [f"{a:.6f},{b:.6f},{100 + a - b:.6f}" for a, b in rng.normal(size=(60, 2))]
    (tmp_path / "d.csv").write_text("a,b,price\n" + "\n".join(rows) + "\n")
    path = file_sweep(tmp_path, "old", "d.csv", "price", n_trials=2, epochs=2)
    root = tmp_path / "results"
    run_sweep(load_sweep(path), root=root, progress=False)
    sweep = load_sweep(path)
    study = open_study(sweep, storage_spec(sweep, root))
    record = study.user_attrs[EXPERIMENT]
    assert record["targets"] == "standardised"
    run_sweep(sweep.with_overrides(n_trials=3), root=root, progress=False)  # resumes
    old = {k: v for k, v in record.items() if k != "targets"}
    study.set_user_attr(EXPERIMENT, {**old, "data_digest": "of the raw targets"})
    with pytest.raises(ConfigError, match="trained on its regression targets as they are"):
        run_sweep(sweep.with_overrides(n_trials=4), root=root, progress=False)
    assert len(optsweep.load(root / "old").trials) == 3


def test_a_new_run_in_the_same_session_starts_from_its_own_storage(tmp_path):
    """Running a sweep, deleting its results and running it again in one Python
    session (a notebook) gives the same trials: nothing of the first run's
    storage is kept for pruning reports (which once landed on old trials)."""
    path = write_sweep(
        tmp_path, "again", n_trials=8, epochs=40, study_extra='pruner = "median"\nwarmup_epochs = 5'
    )
    sweep = load_sweep(path)
    root = tmp_path / "results"
    run_sweep(sweep, root=root, progress=False)
    first = optsweep.load(root / "again").trials
    shutil.rmtree(root / "again")
    run_sweep(sweep, root=root, progress=False)
    second = optsweep.load(root / "again").trials
    cols = ["number", "state", "epochs_run", "value"]
    assert (first["state"] == "PRUNED").any()  # the reports matter here
    pd.testing.assert_frame_equal(first[cols], second[cols])


def test_progress_bar_counts_a_resumed_study_from_its_earlier_trials(tmp_path):
    path = write_sweep(tmp_path, "bar", n_trials=3)
    cmd = cli("run", path, "--results-root", tmp_path / "results", "--no-report")
    subprocess.run(cmd, check=True, capture_output=True)
    out = subprocess.run([*cmd, "--trials", "5"], check=True, capture_output=True, text=True)
    frames = [f for f in out.stderr.replace("\r", "\n").splitlines() if f.startswith("bar:")]
    assert "3/5" in frames[0] and "done=" in frames[0]  # opens at the earlier trials' count
    assert "5/5" in frames[-1]


def test_progress_bar_shows_the_trials_running(tmp_path, capsys):
    """A vectorized run asks its trials, then trains them for long before the
    first ends: its bar stood at 0 with no sign of them. It counts the trials
    asked and not yet recorded, and drops the count once none is left."""
    sweep = load_sweep(write_sweep(tmp_path, "run", n_trials=12, epochs=5))
    run_sweep(sweep.with_overrides(vectorize=16), root=tmp_path / "results", progress=True)
    frames = [
        f for f in capsys.readouterr().err.replace("\r", "\n").splitlines() if f.startswith("run:")
    ]
    running = [int(re.search(r"running=(\d+)", f)[1]) for f in frames if "running=" in f]
    assert running and max(running) >= 6 and running == sorted(running, reverse=True)
    assert "12/12" in frames[-1] and "running=" not in frames[-1]


def test_a_trial_lost_between_its_result_and_its_tell_is_run_again(tmp_path):
    """A host that dies after writing a trial's result but before telling it
    leaves a RUNNING trial with a result; failed later (a stale heartbeat, or
    the interrupted-trial recovery), it is lost, not a failure: it does not
    count towards the budget and its configuration is queued again. A trial
    told FAIL keeps its reason and counts."""
    journal = tmp_path / "study.journal"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    finished = json.dumps({"curve": {}, "final": {"val_metric": 0.9}, "reason": ""})
    diverged = json.dumps({"curve": {}, "final": {}, "reason": "diverged at epoch 3: ..."})
    lost, told = study.ask(), study.ask()
    lost.set_user_attr("result", finished)
    told.set_user_attr("result", diverged)
    study.tell(lost, state=optuna.trial.TrialState.FAIL)  # as a stale heartbeat does
    study.tell(told, state=optuna.trial.TrialState.FAIL)
    c = counts(study)
    assert (c["FAIL"], c[INTERRUPTED]) == (1, 1)
    t = trials_frame(study.trials).set_index("number")
    assert t.loc[lost.number, "reason"] == "lost (no result)"
    assert t.loc[told.number, "reason"] == "diverged at epoch 3: ..."


def test_tables_read_studies_written_before_the_task_attribute(tmp_path):
    """A study whose trials keep hparams, seed, worker and a dict result (the
    first layout) gives the same table columns."""
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1.0, log=True)
    attrs = {
        "hparams": {"optimizer": "adam", "batch_size": 32, "lr": 0.01},
        "seed": 7,
        "worker": "host:1",
        "result": {
            "curve": {c: [1] if c in ("epoch", "updates") else [0.5] for c in HISTORY_COLUMNS},
            "final": {"val_metric": 0.9},
        },
    }
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    study.tell(trial, 0.9)
    row = trials_frame(study.trials).iloc[0]
    assert (row["optimizer"], row["batch_size"], row["seed"], row["worker"]) == (
        "adam",
        32,
        7,
        "host:1",
    )
    assert row["val_metric"] == 0.9 and len(curves_frame(study.trials)) == 1


def test_curves_are_stored_as_float64_bytes_and_read_in_both_layouts():
    """A result's curve goes to the storage as base64 float64 columns (NaN and
    infinities as they are, integers exact) and comes back as arrays; a curve
    of JSON lists (studies written before) reads into the same table."""
    history = {c: np.linspace(0.0, 1.0, 4) for c in HISTORY_COLUMNS}
    history["epoch"], history["updates"] = np.arange(4.0), np.array([7.0, 14, 21, 2**52 + 1])
    history["val_loss"] = np.array([0.5, np.nan, np.inf, -np.inf])
    encoded = encode_curve(history)
    assert all(isinstance(v, str) for v in encoded.values())
    back = decode_curve(json.loads(json.dumps(encoded)))
    for c in HISTORY_COLUMNS:
        np.testing.assert_array_equal(back[c], history[c])

    study = optuna.create_study(direction="maximize")
    as_lists = {
        c: [None if not math.isfinite(v) else v for v in history[c].tolist()] for c in history
    }
    for curve in ({"curve_f8": encoded}, {"curve": as_lists}):
        trial = study.ask()
        trial.set_user_attr("result", json.dumps({**curve, "final": {"val_metric": 0.9}}))
        study.tell(trial, 0.9)
    c = curves_frame(study.trials)
    a, b = (c[c["trial"] == n].reset_index(drop=True) for n in (0, 1))
    assert a["updates"].tolist() == [7, 14, 21, 2**52 + 1] and a["epoch"].tolist() == [0, 1, 2, 3]
    assert np.isinf(a["val_loss"][2]) and np.isnan(a["val_loss"][1])
    # JSON lists keep no infinities (written as null): the rest is the same
    pd.testing.assert_frame_equal(
        a.drop(columns=["trial", "val_loss"]), b.drop(columns=["trial", "val_loss"])
    )


def test_journal_batched_writes_are_one_write_and_others_see_them_after(tmp_path):
    """Reports held by batched_writes reach the file as one write at the end
    of the block, where another storage on the file (another process) reads
    them; a storage that is not a journal file batches nothing."""
    path = str(tmp_path / "study.journal")
    mine, other = open_storage(path), open_storage(path)
    study = optuna.create_study(study_name="s", storage=mine)
    trial = study.ask()
    lines = Path(path).read_text().count("\n")
    with batched_writes(mine):
        trial.report(0.5, 1)
        trial.report(0.6, 2)
        assert trial.should_prune() is False  # the trial keeps its own reports
        assert Path(path).read_text().count("\n") == lines  # nothing written yet
    text = Path(path).read_text()
    assert text.count("\n") == lines + 2 and text.endswith("\n")
    seen = optuna.load_study(study_name="s", storage=other).trials[0]
    assert seen.intermediate_values == {1: 0.5, 2: 0.6}
    # and a reader that has seen everything reads nothing more, then new writes
    assert other.get_trial(seen._trial_id).intermediate_values == {1: 0.5, 2: 0.6}
    trial.report(0.7, 3)
    assert other.get_trial(seen._trial_id).intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7}
    with batched_writes(optuna.storages.InMemoryStorage()):
        pass


def test_journal_reads_wait_for_the_end_of_a_batch(tmp_path):
    """Inside a batch a storage reads nothing new (another process's writes
    are read after it, as if the batch had been written first); they are all
    read at its end."""
    path = str(tmp_path / "study.journal")
    mine, other = open_storage(path), open_storage(path)
    study = optuna.create_study(study_name="s", storage=mine)
    theirs = optuna.load_study(study_name="s", storage=other)
    with batched_writes(mine):
        theirs.enqueue_trial({"x": 0.5})
        assert mine.get_all_trials(study._study_id) == []
    assert [t.state for t in mine.get_all_trials(study._study_id)] == [
        optuna.trial.TrialState.WAITING
    ]


def test_journal_batches_hold_only_their_own_threads_writes(tmp_path):
    """The runner asks in joblib's thread while its main thread tells: a
    batch in one thread must not hold another thread's writes (a tell held
    would not be read back by Optuna)."""
    import threading

    storage = open_storage(str(tmp_path / "study.journal"))
    study = optuna.create_study(study_name="s", storage=storage)
    asked, told = study.ask(), study.ask()
    inside, done = threading.Event(), threading.Event()

    def ask_in_a_batch():
        with batched_writes(storage):
            asked.suggest_float("x", 0.0, 1.0)
            inside.set()
            done.wait(5)

    t = threading.Thread(target=ask_in_a_batch)
    t.start()
    inside.wait(5)
    study.tell(told, 1.0)  # this thread's write goes out at once
    reader = optuna.load_study(
        study_name="s", storage=open_storage(str(tmp_path / "study.journal"))
    )
    states = {tr.number: tr.state for tr in reader.trials}
    assert states[told.number] == optuna.trial.TrialState.COMPLETE
    assert reader.trials[asked.number].params == {}  # still held by the other thread
    done.set()
    t.join()
    assert storage.get_trial(asked._trial_id).params == {"x": asked.params["x"]}


def test_journal_reader_reads_complete_records_only_and_catches_up(tmp_path):
    """The journal's reader reads the new bytes in one piece: a record still
    being written (no newline yet) is read once it is complete, the next
    records after it, and a record that does not parse goes to Optuna's
    reader, whose error names the file and the line."""
    path = tmp_path / "study.journal"
    writer = JournalFile(str(path), FlockLock(str(path)))
    writer.append_logs([{"op_code": 0, "n": i} for i in range(3)])
    reader = JournalFile(str(path), FlockLock(str(path)))
    assert [r["n"] for r in reader.read_logs(0)] == [0, 1, 2]
    assert list(reader.read_logs(3)) == []  # nothing new
    with open(path, "ab") as f:
        f.write(b'{"op_code": 0, "n": 3')  # half written
    assert list(reader.read_logs(3)) == []
    with open(path, "ab") as f:
        f.write(b'}\n{"op_code": 0, "n": 4}\n')
    assert [r["n"] for r in reader.read_logs(3)] == [3, 4]
    with open(path, "ab") as f:
        f.write(b'not json\n{"op_code": 0, "n": 6}\n')
    with pytest.raises(OptsweepError, match=f"{path}: line 6 is not a journal record"):
        list(reader.read_logs(5))  # Optuna's reader: a bad record before a good one


def test_best_per_optimizer_lines_are_aligned(tmp_path):
    """The end-of-run summary: values of different widths (0.92, 0.9) pad to
    one column, so that the trial numbers line up; then why trials failed
    (a run whose every trial diverged said only "best val_metric none yet")."""
    from optsweep.cli import _best_per_optimizer

    path = write_sweep(tmp_path, "al", n_trials=8, study_extra="deterministic = true")
    run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
    lines = _best_per_optimizer(tmp_path / "r" / "al")
    values = [line.split()[1] for line in lines[1:]]
    assert lines[0] == "best val_metric per optimizer:" and len(set(map(len, values))) > 1
    assert len({line.index("(trial") for line in lines[1:]}) == 1
    # an optimizer tried without a complete trial is said, not left out (an
    # interrupted trial is not a failure)
    t = optsweep.load(tmp_path / "r" / "al").trials
    opt = t["optimizer"].iloc[0]
    mine = t.index[t["optimizer"] == opt]
    assert len(mine) >= 2
    t.loc[mine, "state"] = "PRUNED"
    t.loc[mine[:1], ["state", "reason"]] = ["FAIL", INTERRUPTED]
    t.loc[mine[1:2], ["state", "reason"]] = ["FAIL", "diverged at epoch 3: loss nan"]
    (tmp_path / "r" / "al" / "study.journal").unlink()  # the table is what is read
    write_table(t, tmp_path / "r" / "al", "trials", "auto")
    lines = _best_per_optimizer(tmp_path / "r" / "al")
    pruned = len(mine) - 2
    why = f"{pruned} pruned, 1 failed" if pruned else "1 failed"
    assert lines[-2] == f"  {opt:<9} no complete trial ({why})", lines
    lr = t.loc[mine[1], "lr"]
    assert lines[-1] == f"failed: {opt} diverged 1 (lr {lr:.4g})"  # why, as status says
    assert sum(opt in line for line in lines) == 2
    t.loc[:, ["state", "reason"]] = ["FAIL", "diverged at epoch 3: loss nan"]
    write_table(t, tmp_path / "r" / "al", "trials", "auto")
    (line,) = _best_per_optimizer(tmp_path / "r" / "al")  # every trial failed: why
    assert line.startswith("failed: ") and line.count("diverged") == t["optimizer"].nunique()


def test_a_full_disk_stops_the_sweep_with_one_line_and_it_resumes(tmp_path):
    """A write that fails (a full disk; here a file-size limit, EFBIG, which
    needs no privileges) ended the command with a chain of tracebacks from
    the journal, the weights and the tables. It stops with one line saying
    what is kept; run again with room, the study resumes and is complete."""
    import resource

    path = write_sweep(tmp_path, "full", n_trials=30, epochs=20, n_jobs=2)
    cmd = cli("run", path, "--results-root", tmp_path / "r", "-q", "--no-report")

    def limited() -> None:  # files up to 60 kB: the journal (130 kB in all) outgrows it
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    res = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limited)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "File too large: the sweep stopped; the trials it recorded are kept" in res.stderr
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    t = optsweep.load(tmp_path / "r" / "full").trials
    finished = t[~t["reason"].isin([INTERRUPTED])]
    assert len(finished) == 30 and finished["state"].isin(["COMPLETE", "PRUNED"]).all()


def test_whole_number_labels_stored_as_floats_warn(tmp_path, caplog):
    """y = 0.0/1.0 in an .npz is a regression target (floats), as documented;
    a sweep that leaves the head to optsweep is told so before its trials."""
    from optsweep.objective import check_model, load_dataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(float))
    text = file_sweep(tmp_path, "f", "d.npz", n_trials=2).read_text()
    sweep = load_sweep(tmp_path / "f.toml")
    with caplog.at_level("WARNING", logger="optsweep.objective"):
        check_model(sweep, load_dataset(sweep.data, sweep.model.head))
    assert "the labels are the whole numbers 0, 1 stored as floats" in caplog.text
    caplog.clear()
    (tmp_path / "f.toml").write_text(text.replace("[model]", '[model]\nhead = "linear"'))
    sweep = load_sweep(tmp_path / "f.toml")
    with caplog.at_level("WARNING", logger="optsweep.objective"):
        check_model(sweep, load_dataset(sweep.data, sweep.model.head))
    assert "stored as floats" not in caplog.text  # asked for: no warning


@pytest.mark.parametrize("vectorize", [1, 16])
def test_batch_sizes_above_the_training_set_are_the_full_batch(tmp_path, caplog, vectorize):
    """150 training samples and batch sizes up to 1024: 256, 512 and 1024
    trained on the full batch but the tables said 256 (several sizes, one
    configuration, and a misleading batch-size plot). They say 150 now, a
    warning names the sizes, and a population takes them together."""
    path = write_sweep(tmp_path, "big", n_trials=16, epochs=2, study_extra='sampler = "random"')
    text = path.read_text().replace(
        "batch_size = { low = 16, high = 64, full = true }",
        "batch_size = { low = 64, high = 1024 }",
    )
    path.write_text(text + f"vectorize = {vectorize}\n")
    with caplog.at_level("WARNING", logger="optsweep.objective"):
        run_sweep(load_sweep(path), root=tmp_path / "r", progress=False)
    assert (
        "search.batch_size 256, 512, 1024 are larger than the 150 training samples: each trains "
        "on the full batch, and the tables say 150" in caplog.text
    )
    t = optsweep.load(tmp_path / "r" / "big").trials
    assert set(t["batch_size"]) == {64, 128, 150}  # 16 random draws of five sizes
    full = t[t["batch_size"] == 150]
    assert (full["updates"] == full["epochs_run"]).all()  # one update an epoch


def test_many_whole_number_classes_warn(tmp_path, caplog):
    """Ages 18..73 in a CSV are taken as 56 classes, as documented; a sweep
    that leaves the head to optsweep is told so, and how to get a regression.
    Five classes, or the linear head asked for, are not warned about."""
    from optsweep.objective import check_model, load_dataset

    rng = np.random.default_rng(0)
    ages = np.concatenate([np.arange(18, 74), rng.integers(18, 74, 100)])
    lines = ["a,age"] + [f"{rng.normal():.4f},{a}" for a in ages]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    text = file_sweep(tmp_path, "ages", "d.csv", "age", n_trials=2).read_text()

    def warned(sweep_text: str) -> str:
        (tmp_path / "ages.toml").write_text(sweep_text)
        sweep = load_sweep(tmp_path / "ages.toml")
        caplog.clear()
        with caplog.at_level("WARNING", logger="optsweep.objective"):
            check_model(sweep, load_dataset(sweep.data, sweep.model.head))
        return caplog.text

    assert "the labels are 56 whole numbers (18 to 73), so this is a classifier of 56" in (
        warned(text)
    )
    assert warned(text.replace("[model]", '[model]\nhead = "linear"')) == ""
    lines = ["a,age"] + [f"{rng.normal():.4f},{a % 5}" for a in ages]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    assert warned(text) == ""


def test_a_csv_with_columns_that_are_not_features(tmp_path):
    """An id and a name column: refused with a hint at data.features, which
    then chooses the feature columns."""
    rows = [
        f"{i},p{i},{i % 7 - 3},{(i * 5) % 11 - 5},{'yes' if i % 7 > 3 else 'no'}" for i in range(60)
    ]
    (tmp_path / "d.csv").write_text("id,name,a,b,y\n" + "\n".join(rows) + "\n")
    text = file_sweep(tmp_path, "cols", "d.csv", "y", n_trials=2).read_text()
    res = subprocess.run(
        cli("run", tmp_path / "cols.toml", "--results-root", tmp_path / "r"),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and res.stderr.endswith(
        "line 2, column 'name' is not a number (got 'p0'); data.features lists the columns "
        "to use, to leave others out\n"
    ), res.stderr
    (tmp_path / "cols.toml").write_text(
        text.replace('label = "y"', 'label = "y"\nfeatures = ["a", "b"]')
    )
    run_sweep(load_sweep(tmp_path / "cols.toml"), root=tmp_path / "r", progress=False)
    res = optsweep.load(tmp_path / "r" / "cols")
    assert res.meta["data"]["features"] == ["a", "b"] and res.meta["data"]["n_features"] == 2
    assert res.meta["data"]["classes"] == ["no", "yes"] and len(res.trials) == 2


def test_data_of_one_class_is_refused(tmp_path):
    """A label column with one value (the wrong column, say): refused before
    any trial, not trained to a trivial accuracy of 1."""
    rows = [f"{i},{i * 2},cat" for i in range(30)]
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    file_sweep(tmp_path, "one", "d.csv", "y", n_trials=2)
    with pytest.raises(
        ConfigError,
        match=r"one.toml: data: the training labels are one class only \(cat\): .* \(got data.label 'y'\)",
    ):
        run_sweep(load_sweep(tmp_path / "one.toml"), root=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "one" / "trials.parquet").exists()
