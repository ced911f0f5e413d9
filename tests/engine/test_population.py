"""Vectorized trials: a population's members equal their solo runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optsweep.engine import ModelConfig, Schedule, TrainConfig, fit, load_data, prepare
from optsweep.engine.population import max_members, member_bytes, train_population

SCHEDULES = [
    Schedule(),
    Schedule("inverse_time", decay_rate=0.1),
    Schedule("staircase", decay_rate=0.5, interval=3),
    Schedule("exponential", decay_rate=0.97),
    Schedule("inverse_sqrt", k=2.0),
]
OPTIMIZERS = ["gd", "momentum", "rmsprop", "adam"]
COLUMNS = ["lr", "train_loss", "train_metric", "val_loss", "val_metric", "updates"]


@pytest.fixture(scope="module")
def data():
    X, y = load_data("moons", n_samples=240, noise=0.2, seed=3)
    return prepare(X, y, val_fraction=0.25, seed=0, standardize=True)


def mixed_configs(n: int, epochs: int, batch: int = 32) -> list[TrainConfig]:
    rng = np.random.default_rng(1)
    return [
        TrainConfig(
            optimizer=OPTIMIZERS[k % 4],
            lr=float(10 ** rng.uniform(-3, -1)),
            batch_size=batch,
            epochs=epochs,
            schedule=SCHEDULES[k % 5],
            beta=float(rng.uniform(0.5, 0.95)),
            beta1=float(rng.uniform(0.7, 0.95)),
            beta2=float(rng.uniform(0.99, 0.9999)),
            eps=1e-7,
            seed=100 + k,
        )
        for k in range(n)
    ]


def assert_same(single, member, tol=1e-10):
    assert single.status == member.status and single.reason == member.reason
    np.testing.assert_allclose(member.network.theta, single.network.theta, rtol=0, atol=tol)
    for c in COLUMNS:
        np.testing.assert_allclose(
            member.history[c], single.history[c], rtol=0, atol=tol, err_msg=c
        )
    for k, v in single.final.items():
        np.testing.assert_allclose(member.final[k], v, rtol=0, atol=tol, err_msg=k)


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_every_member_equals_its_solo_run(data, head):
    # 10 members: every optimizer and every schedule, mixed in one population;
    # 60 epochs of 6 batches = 360 updates
    model = ModelConfig(hidden=(6, 4), head=head)
    configs = mixed_configs(10, epochs=60)
    pop = train_population(model, data, configs, shuffle_seed=7)
    for cfg, member in zip(configs, pop, strict=True):
        solo = fit(model, data, replace(cfg, shuffle_seed=7))
        assert_same(solo, member)
        assert member.updates == 360


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "sigmoid"])
def test_every_hidden_activation_equals_its_solo_run(data, activation):
    """Populations keep each hidden layer's row of ones in the pre-activations
    as the input the activation maps to 1 (infinity for tanh and the
    sigmoid): their members still equal their solo runs, forward, backward
    and the validation losses included."""
    model = ModelConfig(hidden=(6, 4), activation=activation)
    configs = mixed_configs(6, epochs=20)
    pop = train_population(model, data, configs, shuffle_seed=7)
    for cfg, member in zip(configs, pop, strict=True):
        assert_same(fit(model, data, replace(cfg, shuffle_seed=7)), member)


def test_regression_head(data):
    X = np.column_stack([data.X_train[:, 0], data.X_train[:, 1]])
    from optsweep.engine import Dataset

    reg = Dataset(X, X[:, 0] * 2 - X[:, 1] ** 2)
    model = ModelConfig(hidden=(8,), head="linear")
    configs = mixed_configs(4, epochs=20)
    for cfg, member in zip(
        configs, train_population(model, reg, configs, shuffle_seed=3), strict=True
    ):
        assert_same(fit(model, reg, replace(cfg, shuffle_seed=3)), member)


def test_diverging_and_pruned_members_leave_the_others_unchanged(data):
    model = ModelConfig(hidden=(6, 4))
    configs = mixed_configs(8, epochs=30)
    configs[2] = replace(configs[2], optimizer="gd", lr=1e300)  # diverges at once
    alone = train_population(model, data, [c for i, c in enumerate(configs) if i not in (2, 5)], 7)

    seen = []

    def prune_member_5(epoch, members, rows):
        seen.append((epoch, members.tolist(), rows[:, 0].tolist()))
        return ["pruned at epoch 4" if k == 5 and epoch == 4 else None for k in members]

    pop = train_population(model, data, configs, shuffle_seed=7, callback=prune_member_5)
    assert pop[2].status == "diverged" and pop[2].reason.startswith("diverged at epoch 0")
    assert pop[5].status == "stopped" and pop[5].reason == "pruned at epoch 4"
    assert pop[5].history["epoch"].tolist() == [0, 1, 2, 3, 4]
    # called once an epoch, but the last, with the members still training
    assert [e for e, _, _ in seen] == list(range(29))
    assert seen[0][1] == [0, 1, 3, 4, 5, 6, 7] and seen[5][1] == [0, 1, 3, 4, 6, 7]
    assert all(rows == [e] * len(members) for e, members, rows in seen)  # their epoch column
    # the pruned member is its solo run stopped at the same epoch
    solo5 = fit(
        model,
        data,
        replace(configs[5], shuffle_seed=7),
        callback=lambda e, r: "pruned at epoch 4" if e == 4 else None,
    )
    assert_same(solo5, pop[5])
    # everyone else: as if the two had never been there (compaction included)
    others = [m for i, m in enumerate(pop) if i not in (2, 5)]
    for a, b in zip(alone, others, strict=True):
        np.testing.assert_array_equal(a.network.theta, b.network.theta)
        np.testing.assert_array_equal(a.history["val_loss"], b.history["val_loss"])


def test_members_must_share_batch_and_epochs(data):
    a, b = mixed_configs(2, epochs=5)
    with pytest.raises(ValueError, match="population members must share batch_size"):
        train_population(ModelConfig(), data, [a, replace(b, batch_size=8)], 0)
    with pytest.raises(ValueError, match="population members must share epochs"):
        train_population(ModelConfig(), data, [a, replace(b, epochs=6)], 0)


def test_memory_budget():
    sizes = [784, 256, 128, 10]
    per = member_bytes(sizes, 128, "float32")
    assert per > 5 * 235146 * 4  # five parameter-sized arrays at least
    assert max_members(sizes, 128, "float32", 100) == int(100 * 2**20 // per)
    assert max_members(sizes, 128, "float32", 0.001) == 1


def test_float32_population_trains_like_its_float64_one(data):
    """A float32 population runs in float32 throughout (parameters, moments,
    step columns, kept denominators) and ends near the float64 one."""
    configs = mixed_configs(6, epochs=15)
    results = {
        dt: train_population(ModelConfig(hidden=(6, 4), dtype=dt), data, configs, shuffle_seed=7)
        for dt in ("float32", "float64")
    }
    for a, b in zip(results["float32"], results["float64"], strict=True):
        assert a.network.theta.dtype == np.float32
        assert np.isfinite(a.history["train_loss"]).all()
        np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=2e-3)


def test_members_time_is_their_share_of_the_whole_epoch():
    """A member's seconds are its share of each epoch it trains in, its
    losses and metrics included (as a single trial counts its own): with a
    validation set twenty times the training set, the evaluation is most of
    an epoch, and the members' seconds still add up to the population's."""
    import time

    X, y = load_data("moons", n_samples=2100, noise=0.2, seed=3)
    big_val = prepare(X, y, val_fraction=20 / 21, seed=0, standardize=True)
    configs = mixed_configs(6, epochs=40, batch=100)
    t = time.perf_counter()
    res = train_population(ModelConfig(hidden=(16, 16)), big_val, configs, shuffle_seed=5)
    wall = time.perf_counter() - t
    total = sum(r.seconds for r in res)
    assert 0.7 * wall < total <= wall
    for r in res:
        s = r.history["seconds"]
        assert (np.diff(s) > 0).all() and s[-1] <= r.seconds
