"""Beyond one machine: workers sharing a PostgreSQL study, lost workers
survived through heartbeats, and trials on a real Dask cluster.

PostgreSQL tests need OPTSWEEP_TEST_POSTGRES_URL (.ci/run starts the server
and sets it); Dask tests need dask[distributed] (in the dev extra) and start a
LocalCluster on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers import cli, subdir, write_sweep

import optsweep
from optsweep.config import load_sweep
from optsweep.results import task_of
from optsweep.runner import run_sweep
from optsweep.status import export, status_text

PG = os.environ.get("OPTSWEEP_TEST_POSTGRES_URL")
needs_pg = pytest.mark.skipif(
    not PG, reason="OPTSWEEP_TEST_POSTGRES_URL is not set (.ci/run sets it)"
)
needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="dask[distributed] is not installed (the dev extra has it)",
)


def _name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _worker(path: Path, root: Path, *extra: str) -> subprocess.Popen:
    cmd = cli("worker", path, "--storage", PG, "--results-root", root, "--n-jobs", 1, "-q", *extra)
    return subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@needs_pg
def test_two_workers_share_one_study(tmp_path):
    name = _name()
    path = write_sweep(tmp_path, name, n_trials=16, epochs=20)
    a, b = _worker(path, tmp_path / "a"), _worker(path, tmp_path / "b")
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    # each worker wrote its tables when it stopped, perhaps while the other
    # still ran a trial: the study as both left it is in the storage
    export(tmp_path / "a" / name)
    t = optsweep.load(tmp_path / "a" / name).trials
    # the budget is reached, and overshot at most by the trials in flight
    # (one per worker here: two workers may both take the last free place)
    assert 16 <= len(t) <= 16 + 2
    assert t["number"].is_unique and t["number"].tolist() == list(range(len(t)))
    assert (t["state"] != "RUNNING").all()
    assert t["worker"].nunique() == 2  # both workers ran trials
    # any host rebuilds the whole tables, curves included, from the storage alone
    (tmp_path / "b" / name / "trials.parquet").unlink()
    export(tmp_path / "b" / name)
    res = optsweep.load(tmp_path / "b" / name)
    assert len(res.trials) == len(t)
    assert res.curves.groupby("trial").size().sum() == res.trials["epochs_run"].sum()
    text = status_text(tmp_path / "a" / name)
    assert "by worker:" in text and "***" in text  # the password is not shown


@needs_pg
def test_a_killed_worker_s_trial_is_retried_and_the_budget_met(tmp_path):
    name = _name()
    path = write_sweep(tmp_path, name, n_trials=6, epochs=1500)  # trials of about a second
    beat = ("--heartbeat", "1", "--grace-period", "3")
    a = _worker(path, tmp_path / "a", *beat)
    storage = optuna.storages.RDBStorage(PG)
    deadline = time.monotonic() + 120
    victim = None
    while time.monotonic() < deadline and victim is None:
        try:
            trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        except KeyError:
            trials = []
        done = [t for t in trials if t.state.is_finished()]
        mine = [
            t
            for t in trials
            if t.state.name == "RUNNING" and task_of(t).get("worker", "").endswith(f":{a.pid}")
        ]
        # one that started moments ago, so that it is still training when killed
        fresh = [
            t
            for t in mine
            if datetime.now(t.datetime_start.tzinfo) - t.datetime_start < timedelta(seconds=0.3)
        ]
        if done and fresh:
            victim = fresh[0].number
            break
        time.sleep(0.02)
    assert victim is not None, "worker a never ran a trial"
    os.killpg(a.pid, signal.SIGKILL)  # the host dies mid-training
    a.wait()
    state = optuna.load_study(study_name=name, storage=storage).trials[victim].state.name
    assert state == "RUNNING", "the trial ended before the kill; make the trials longer"
    before = {
        t.number: t.values
        for t in optuna.load_study(study_name=name, storage=storage).get_trials()
        if t.state.name == "COMPLETE"
    }
    b = _worker(path, tmp_path / "b", *beat)
    _, err = b.communicate(timeout=300)
    assert b.returncode == 0, err
    t = optsweep.load(tmp_path / "b" / name).trials.set_index("number")
    assert t.loc[victim, "state"] == "FAIL" and t.loc[victim, "reason"] == "lost (no result)"
    retry = t[t["rerun_of"] == victim]
    assert len(retry) == 1 and retry["state"].iloc[0] in ("COMPLETE", "PRUNED", "FAIL")
    assert retry["seed"].iloc[0] == t.loc[victim, "seed"]  # same configuration, same seed
    finished = t[t["reason"] != "lost (no result)"]
    assert len(finished) == 6  # the budget, lost trials not counted
    for number, values in before.items():  # completed before the kill: intact
        assert t.loc[number, "state"] == "COMPLETE" and t.loc[number, "value"] == values[0]


def test_file_storage_with_a_remote_scheduler_is_refused(tmp_path):
    path = write_sweep(tmp_path, "d")
    res = subprocess.run(
        cli(
            "run",
            path,
            "--backend",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:8786",
            "--results-root",
            tmp_path / "r",
        ),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.startswith(
        f"optsweep: error: {path}: execution.storage (--storage) must be a server URL"
    )
    assert "Traceback" not in res.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (  # nowhere to send the trials
            ("--backend", "dask"),
            "execution.backend 'dask' needs execution.scheduler (--scheduler URL), the address "
            "of a running Dask scheduler, e.g. tcp://HOST:8786 from `dask scheduler` (got '')",
        ),
        (  # --scheduler alone would be ignored, the trials running here
            ("--scheduler", "tcp://127.0.0.1:8786"),
            "execution.scheduler is for execution.backend 'dask' (--backend dask), not 'loky': "
            "the trials would run here (got 'tcp://127.0.0.1:8786')",
        ),
    ],
    ids=["backend-without-scheduler", "scheduler-without-backend"],
)
def test_dask_options_that_cannot_work_are_refused(tmp_path, options, message):
    path = write_sweep(tmp_path, "d")
    args = ("run", path, *options, "--results-root", tmp_path / "r")
    res = subprocess.run(cli(*args), capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr == f"optsweep: error: {path}: {message}\n"
    assert not (tmp_path / "r").exists()


@needs_pg
@needs_dask
def test_dask_cluster_gives_the_local_tables(tmp_path):
    from distributed import LocalCluster

    extra = 'deterministic = true\nbatch = 4\npruner = "median"\nwarmup_epochs = 2'
    local = write_sweep(
        subdir(tmp_path, "l"),
        "dk",
        n_trials=8,
        epochs=10,
        study_extra=extra,
    )
    run_sweep(load_sweep(local), root=tmp_path / "l" / "results", progress=False)
    name = _name()
    remote = write_sweep(tmp_path, name, n_trials=8, epochs=10, study_extra=extra)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
    ) as cluster:
        sweep = load_sweep(remote).with_overrides(
            backend="dask", scheduler=cluster.scheduler_address, storage=PG
        )
        run_sweep(sweep, root=tmp_path / "d", progress=False)
    a = optsweep.load(tmp_path / "l" / "results" / "dk").trials
    b = optsweep.load(tmp_path / "d" / name).trials
    cols = [
        "number",
        "state",
        "value",
        "optimizer",
        "batch_size",
        "lr",
        "seed",
        "epochs_run",
        "val_metric",
        "reason",
    ]
    pd.testing.assert_frame_equal(a[cols], b[cols], check_exact=False, rtol=1e-12)
