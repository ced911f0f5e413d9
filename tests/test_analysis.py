"""Analysis functions against small hand-built tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optsweep import analysis as A
from optsweep.results import INTERRUPTED, LOST, TRIAL_COLUMNS


def trials(rows: list[dict]) -> pd.DataFrame:
    base = dict.fromkeys(TRIAL_COLUMNS, np.nan)
    base.update(state="COMPLETE", schedule="constant", reason="", host="h")
    df = pd.DataFrame([{**base, **r} for r in rows], columns=list(TRIAL_COLUMNS))
    df["number"] = range(len(df))
    return df


T = trials(
    [
        {
            "optimizer": "adam",
            "value": 0.90,
            "lr": 0.01,
            "batch_size": 32,
            "beta1": 0.9,
            "seconds_per_epoch": 0.2,
            "train_seconds": 2.0,
            "epochs_run": 10,
            "updates": 100,
        },
        {
            "optimizer": "adam",
            "value": 0.95,
            "lr": 0.001,
            "batch_size": 64,
            "beta1": 0.99,
            "seconds_per_epoch": 0.1,
            "train_seconds": 1.0,
            "epochs_run": 10,
            "updates": 50,
        },
        {
            "optimizer": "gd",
            "value": 0.80,
            "lr": 0.1,
            "batch_size": 32,
            "seconds_per_epoch": 0.3,
            "train_seconds": 3.0,
            "epochs_run": 10,
            "updates": 100,
        },
        {
            "optimizer": "gd",
            "value": 0.85,
            "lr": 0.5,
            "batch_size": 64,
            "seconds_per_epoch": 0.4,
            "train_seconds": 4.0,
            "epochs_run": 10,
            "updates": 50,
        },
        {
            "optimizer": "momentum",
            "value": np.nan,
            "state": "FAIL",
            "lr": 5.0,
            "batch_size": 32,
            "epochs_run": 2,
            "updates": 20,
            "seconds_per_epoch": 0.5,
        },
        {
            "optimizer": "momentum",
            "value": 0.60,
            "state": "PRUNED",
            "lr": 0.2,
            "batch_size": 64,
            "epochs_run": 3,
            "updates": 15,
            "seconds_per_epoch": 0.5,
        },
    ]
)


def test_state_counts():
    c = A.state_counts(T).set_index("state")["count"]
    assert c.to_dict() == {
        "COMPLETE": 4,
        "PRUNED": 1,
        "FAIL": 1,
        "INTERRUPTED": 0,
        "LOST": 0,
        "RUNNING": 0,
        "WAITING": 0,
    }


def test_trials_that_never_ended_are_counted_apart_from_failures():
    """As ``optsweep status`` shows them: a FAIL interrupted or lost runs again."""
    t = trials(
        [
            {"state": "FAIL", "reason": "diverged at epoch 3: training loss is nan"},
            {"state": "FAIL", "reason": INTERRUPTED},
            {"state": "FAIL", "reason": INTERRUPTED},
            {"state": "FAIL", "reason": LOST},
            {"state": "COMPLETE", "value": 0.9},
        ]
    )
    assert A.shown_states(t).tolist() == ["FAIL", "INTERRUPTED", "INTERRUPTED", "LOST", "COMPLETE"]
    c = A.state_counts(t).set_index("state")["count"]
    assert (c["FAIL"], c["INTERRUPTED"], c["LOST"], c["COMPLETE"]) == (1, 2, 1, 1)


def test_failures_by_optimizer_and_cause():
    """Diverged and raising trials grouped with the learning rates they had;
    interrupted and lost trials are not failures."""
    t = trials(
        [
            {"optimizer": "gd", "state": "FAIL", "lr": 3.0, "reason": "diverged at epoch 3: x"},
            {"optimizer": "gd", "state": "FAIL", "lr": 0.5, "reason": "diverged at epoch 0: y"},
            {"optimizer": "adam", "state": "FAIL", "lr": 0.1, "reason": "ValueError: bad"},
            {"optimizer": "adam", "state": "FAIL", "lr": 0.2, "reason": INTERRUPTED},
            {"optimizer": "adam", "state": "FAIL", "lr": 0.3, "reason": LOST},
            {"optimizer": "gd", "state": "COMPLETE", "lr": 0.01, "value": 0.9},
        ]
    )
    f = A.failures(t)
    assert f[["optimizer", "cause", "n", "trials"]].values.tolist() == [
        ["gd", "diverged", 2, "0, 1"],
        ["adam", "ValueError", 1, "2"],
    ]
    assert (f["lr_low"].tolist(), f["lr_high"].tolist()) == ([0.5, 0.1], [3.0, 0.1])
    assert f["example"].tolist() == ["diverged at epoch 3: x", "ValueError: bad"]
    assert A.failures(T.iloc[:4]).empty and list(A.failures(T.iloc[:4])) == list(f)
    # a trial that failed before its optimizer was known is counted too
    early = trials([{"optimizer": np.nan, "state": "FAIL", "reason": "RuntimeError: x"}])
    assert A.failures(early)[["cause", "n"]].values.tolist() == [["RuntimeError", 1]]


def test_best_per_optimizer_and_gap():
    b = A.best_per_optimizer(T)
    assert b["optimizer"].tolist() == ["adam", "gd"]  # momentum never completed
    assert b["number"].tolist() == [1, 3]
    assert b["value"].tolist() == [0.95, 0.85]
    assert b["gap"].tolist() == pytest.approx([0.0, 0.10])
    assert "beta1" in b and b["beta1"].iloc[0] == 0.99 and np.isnan(b["beta1"].iloc[1])
    # minimising picks the other ends
    assert A.best_per_optimizer(T, minimize=True)["number"].tolist() == [2, 0]


def test_optimizers_without_a_complete_trial():
    """best_per_optimizer cannot list an optimizer whose trials were all
    pruned or failed; without_complete does (interrupted ones are neither)."""
    t = trials(
        [
            {"optimizer": "adam", "value": 0.9},
            {"optimizer": "gd", "state": "PRUNED"},
            {"optimizer": "gd", "state": "FAIL", "reason": "diverged at epoch 2: nan"},
            {"optimizer": "gd", "state": "PRUNED"},
            {"optimizer": "rmsprop", "state": "FAIL", "reason": INTERRUPTED},
            {"optimizer": "momentum", "state": "FAIL", "reason": "ValueError: x"},
            {"optimizer": "adam", "state": "PRUNED"},
        ]
    )
    w = A.without_complete(t)
    assert w.to_dict("records") == [
        {"optimizer": "gd", "pruned": 2, "failed": 1, "trials": "2 pruned, 1 failed"},
        {"optimizer": "momentum", "pruned": 0, "failed": 1, "trials": "1 failed"},
    ]
    assert A.without_complete(t[t["optimizer"] == "adam"]).empty


def test_param_summary_discrete():
    s = A.param_summary(T, "batch_size").set_index("batch_size")
    assert s.loc["32", "n"] == 2 and s.loc["64", "n"] == 2
    assert s.loc["32", "best"] == 0.90 and s.loc["64", "best"] == 0.95
    assert s.loc["32", "median"] == pytest.approx(0.85)
    assert s.loc["32", "spread"] == pytest.approx(0.05)  # IQR of [0.8, 0.9]
    assert s.loc["64", "median_seconds_per_epoch"] == pytest.approx(0.25)


def test_param_summary_log_bins_for_lr():
    t = pd.concat([T, T.assign(lr=T["lr"] * 1.5)], ignore_index=True)
    s = A.param_summary(t, "lr")
    # eight rates from 0.001 to 0.75 over decades 1e-3..1: half-decade bins
    # (<= 3 decades), closed on the right; the column named after the rate
    assert s["lr"].tolist() == [
        "0.001-0.0032",  # 0.001, 0.0015
        "0.0032-0.01",
        "0.01-0.032",
        "0.032-0.1",
        "0.1-0.32",
        "0.32-1",  # 0.5, 0.75
    ]
    assert s["n"].tolist() == [2, 1, 1, 1, 1, 2]
    assert s["best"].max() == 0.95


def test_param_summary_of_a_few_values_is_by_value():
    """lr = [0.001, 0.01, 0.1, 0.5] (a grid's list): a row per value, in
    order, not bins that name ranges nobody chose."""
    s = A.param_summary(T, "lr")
    assert s["lr"].tolist() == ["0.001", "0.01", "0.1", "0.5"]
    assert s["n"].tolist() == [1, 1, 1, 1]


def test_param_summary_of_a_beta_is_by_bins_of_one_minus_beta():
    """Bins of 1 - beta are named so (the column was "param" whatever it held)."""
    betas = [0.5, 0.7, 0.9, 0.95, 0.99, 0.995, 0.999]
    t = trials([{"optimizer": "adam", "value": 0.9, "beta1": b} for b in betas])
    s = A.param_summary(t, "beta1")
    assert s.columns[0] == "one_minus_beta1" and s["n"].sum() == len(betas)
    assert s["one_minus_beta1"].iloc[0].startswith("0.001")  # 1 - 0.999, the smallest first
    assert A.param_summary(t.iloc[:3], "beta1").columns[0] == "beta1"  # three values: by value


def test_param_summary_absent_param_is_empty():
    assert A.param_summary(T, "decay_rate").empty
    with pytest.raises(KeyError, match=r"param 'learning_rate' is not a column .* lr"):
        A.param_summary(T, "learning_rate")  # a typo: not an empty table
    assert A.param_summary(T.drop(columns="decay_rate"), "decay_rate").empty  # a hand-built table
    assert list(A.param_summary(T, "decay_rate").columns) == [
        "decay_rate",
        "n",
        "best",
        "median",
        "spread",
        "median_seconds_per_epoch",
    ]


def curves_for(
    losses: dict[int, list[float]], sec_per_epoch: dict[int, float], upe: dict[int, int]
) -> pd.DataFrame:
    rows = []
    for trial, ls in losses.items():
        for e, l in enumerate(ls):
            rows.append(
                {
                    "trial": trial,
                    "epoch": e,
                    "lr": 0.1,
                    "train_loss": l,
                    "train_metric": 0.5,
                    "val_loss": np.nan,
                    "val_metric": np.nan,
                    "updates": upe[trial] * (e + 1),
                    "seconds": sec_per_epoch[trial] * (e + 1),
                }
            )
    return pd.DataFrame(rows)


def test_time_to_target_and_batch_tradeoff():
    t = trials(
        [
            {
                "optimizer": "gd",
                "value": 0.9,
                "batch_size": 1,
                "epochs_run": 4,
                "updates": 400,
                "seconds_per_epoch": 1.0,
            },
            {
                "optimizer": "gd",
                "value": 0.8,
                "batch_size": 100,
                "epochs_run": 4,
                "updates": 4,
                "seconds_per_epoch": 0.1,
            },
        ]
    )
    c = curves_for(
        {0: [0.5, 0.2, 0.1, 0.05], 1: [0.9, 0.8, 0.7, 0.6]}, {0: 1.0, 1: 0.1}, {0: 100, 1: 1}
    )
    ttt = A.time_to_target(c, 0.2).set_index("trial")
    assert ttt.loc[0, "epochs_to_target"] == 2 and ttt.loc[0, "seconds_to_target"] == 2.0
    assert ttt.loc[0, "updates_to_target"] == 200 and np.isnan(ttt.loc[1, "epochs_to_target"])
    tab = A.batch_tradeoff(t, c, target=0.7).set_index("batch_size")
    assert tab.loc[1, "updates_per_epoch"] == 100 and tab.loc[100, "updates_per_epoch"] == 1
    assert tab.loc[1, "seconds_per_epoch"] == 1.0 and tab.loc[100, "seconds_per_epoch"] == 0.1
    assert tab.loc[1, "epochs_to_target"] == 1 and tab.loc[100, "epochs_to_target"] == 3
    assert tab.loc[100, "seconds_to_target"] == pytest.approx(0.3)
    assert tab.loc[1, "final_metric"] == 0.9 and (tab["target"] == 0.7).all()
    # default target: 1.5 x the best loss (0.05 -> 0.075): only batch 1 gets there
    tab2 = A.batch_tradeoff(t, c).set_index("batch_size")
    assert tab2["target"].iloc[0] == pytest.approx(0.075)
    assert tab2.loc[1, "reached"] == 1 and tab2.loc[100, "reached"] == 0


def test_default_target_is_one_half_the_batch_sizes_reach():
    """On data a network separates one trial's loss can fall without end
    (1e-10 here, where the others stop at 1e-3 and 3e-2): the target is 1.5
    times the middle one of the batch sizes' best losses, not the study's
    best, which no other batch size would reach."""
    t = trials(
        [
            {"optimizer": "adam", "value": 1.0, "batch_size": b, "epochs_run": 3, "updates": 3}
            for b in (16, 16, 64, 256)
        ]
    )
    losses = {0: [1.0, 1e-4, 1e-10], 1: [1.0, 0.5, 0.3], 2: [0.5, 1e-2, 1e-3], 3: [1, 0.1, 0.03]}
    c = curves_for(losses, dict.fromkeys(losses, 0.1), dict.fromkeys(losses, 1))
    tab = A.batch_tradeoff(t, c).set_index("batch_size")
    assert tab["target"].iloc[0] == pytest.approx(1.5e-3)
    assert tab["reached"].to_dict() == {16: 1, 64: 1, 256: 0}
    assert tab.loc[16, "epochs_to_target"] == 2 and tab.loc[64, "epochs_to_target"] == 3
    assert A.loss_target(c) == pytest.approx(1.5e-10)  # without groups: the best trial's
    assert np.isnan(A.loss_target(c, groups=pd.Series({99: 8})))  # no curve in any group


def test_schedule_effect():
    t = trials(
        [
            {"optimizer": "gd", "value": 0.80, "schedule": "constant"},
            {"optimizer": "gd", "value": 0.86, "schedule": "inverse_time"},
            {"optimizer": "gd", "value": 0.83, "schedule": "exponential"},
        ]
    )
    s = A.schedule_effect(t).set_index("schedule")
    assert s["gain_over_constant"].to_dict() == pytest.approx(
        {"constant": 0.0, "exponential": 0.03, "inverse_time": 0.06}
    )


def test_confirmation_intervals_stay_within_the_metric_s_range():
    """Two retrainings at accuracies 0.98 and 1.0: the t interval (12.7 sd)
    reaches 1.11, which no accuracy can; it is cut at 1 (and an R^2's too),
    not a loss's."""
    runs = pd.DataFrame({"number": [3, 3], "value": [0.98, 1.0]})
    cls = {"model": {"head": "sigmoid"}}
    reg = {"model": {"head": "linear"}}
    assert A.metric_range("val_metric", cls) == (0.0, 1.0)
    assert A.metric_range("val_metric", reg) == (-np.inf, 1.0)
    assert A.metric_range("val_loss", reg) == (0.0, np.inf)
    raw = A.confirmation_summary(runs).iloc[0]
    assert raw["ci_high"] > 1.1 and raw["ci_low"] < 0.9
    cut = A.confirmation_summary(runs, bounds=A.metric_range("val_metric", cls)).iloc[0]
    assert cut["ci_high"] == 1.0 and cut["ci_low"] == raw["ci_low"]
    low = pd.DataFrame({"number": [1, 1], "value": [0.001, 0.02]})  # a loss: cut at 0
    assert A.confirmation_summary(low, bounds=(0.0, np.inf)).iloc[0]["ci_low"] == 0.0


def test_confirmation_summary_student_t():
    runs = pd.DataFrame({"number": [3, 3, 3, 7, 7], "value": [0.90, 0.92, 0.94, 0.8, 0.8]})
    s = A.confirmation_summary(runs).set_index("number")
    assert s.loc[3, "mean"] == pytest.approx(0.92) and s.loc[3, "std"] == pytest.approx(0.02)
    half = 4.303 * 0.02 / np.sqrt(3)  # t(0.975, 2) = 4.303
    assert s.loc[3, "ci_low"] == pytest.approx(0.92 - half) and s.loc[
        3, "ci_high"
    ] == pytest.approx(0.92 + half)
    assert s.loc[7, "std"] == 0 and s.loc[7, "ci_low"] == s.loc[7, "ci_high"] == pytest.approx(0.8)
    found = trials([{"optimizer": "adam", "value": 0.95}, {"optimizer": "gd", "value": 0.5}])
    with_trials = A.confirmation_summary(runs, found.assign(number=[7, 3]))
    assert list(with_trials)[:4] == ["number", "optimizer", "search_value", "n"]
    assert with_trials[["number", "optimizer", "search_value"]].values.tolist() == [
        [3, "gd", 0.5],
        [7, "adam", 0.95],
    ]


def test_t_quantile():
    assert A.t_quantile(1) == 12.706 and A.t_quantile(30) == 2.042
    assert A.t_quantile(200) == pytest.approx(1.972, abs=0.002)


def test_pareto_front():
    t = trials(
        [
            {"optimizer": "gd", "value": 0.9},
            {"optimizer": "gd", "value": 0.8},
            {"optimizer": "gd", "value": 0.95},
            {"optimizer": "gd", "value": 0.7},
        ]
    )
    t["value_val_metric"] = [0.9, 0.8, 0.95, 0.7]
    t["value_train_seconds"] = [1.0, 0.5, 3.0, 2.0]
    p = A.pareto_front(t, ["val_metric", "train_seconds"], ["maximize", "minimize"])
    assert p.set_index("number")["pareto"].to_dict() == {0: True, 1: True, 2: True, 3: False}


def test_importances_find_the_parameter_that_matters(rng):
    n = 40
    lr = 10 ** rng.uniform(-4, 0, n)
    bs = rng.choice([16, 32, 64], n)
    value = -np.abs(np.log10(lr) + 2) + rng.normal(scale=0.01, size=n)  # only lr matters
    t = trials(
        [
            {"optimizer": "adam", "value": v, "lr": a, "batch_size": b}
            for v, a, b in zip(value, lr, bs)
        ]
    )
    imp = A.importances(t)
    top = imp[imp["scope"] == "all"].sort_values("importance", ascending=False)
    assert top["param"].iloc[0] == "lr" and top["importance"].iloc[0] > 0.6


def test_importances_rank_the_decay_rate_among_the_trials_that_decay(rng):
    """The decay rate exists only in the trials of a decaying schedule, so no
    scope ranked it: it was missing from the importances of a decay study."""
    n = 60
    lr = 10 ** rng.uniform(-3, 0, n)
    decays = rng.random(n) < 0.6
    decay = np.where(decays, 10 ** rng.uniform(-3, 0, n), np.nan)
    value = np.where(decays, -np.abs(np.log10(np.nan_to_num(decay, nan=1.0)) + 2), -1.0)
    rows = [
        {
            "optimizer": "adam",
            "value": v + rng.normal(scale=0.01),
            "lr": a,
            "schedule": "inverse_time" if d else "constant",
            "decay_rate": r,
        }
        for v, a, d, r in zip(value, lr, decays, decay)
    ]
    imp = A.importances(trials(rows))
    assert list(dict.fromkeys(imp["scope"])) == ["all", "decaying schedules"]
    assert "decay_rate" not in set(imp.loc[imp["scope"] == "all", "param"])
    decaying = imp[imp["scope"] == "decaying schedules"]
    assert decaying["param"].iloc[0] == "decay_rate" and decaying["importance"].iloc[0] > 0.6
    assert (decaying["n"] == decays.sum()).all()


@pytest.mark.parametrize(
    ("rows", "n_best"),
    [
        ([], 0),
        ([{"optimizer": "adam", "value": 0.5, "batch_size": 8, "epochs_run": 1, "updates": 1}], 1),
        (
            [
                {
                    "optimizer": "adam",
                    "value": np.nan,
                    "state": "FAIL",
                    "epochs_run": 1,
                    "updates": 1,
                }
            ],
            0,
        ),
    ],
)
def test_edge_cases_empty_in_empty_out(rows, n_best):
    t = trials(rows)
    c = curves_for(
        {r: [1.0] for r in range(len(rows))},
        {r: 0.1 for r in range(len(rows))},
        {r: 1 for r in range(len(rows))},
    )
    assert len(A.best_per_optimizer(t)) == n_best
    assert len(A.param_summary(t, "lr")) == 0  # lr never varied
    assert len(A.batch_tradeoff(t, c)) == n_best  # the failed trial has no batch size
    assert A.importances(t).empty
    assert A.confirmation_summary(pd.DataFrame({"number": [], "value": []})).empty
