"""The training loop: the seed's experiment reproduced, divergence, stopping,
reproducibility, dtypes, and bad input."""

import numpy as np
import pytest
import seed_reference as ref

from optsweep.engine import (
    ModelConfig,
    Network,
    Schedule,
    TrainConfig,
    fit,
    load_data,
    make_moons,
    prepare,
    train,
)

SEED_MODEL = ModelConfig(hidden=(5, 2), activation="relu", head="sigmoid")


@pytest.fixture(scope="module")
def course_data():
    X, y = load_data("moons", n_samples=300, noise=0.2, seed=3, legacy=True)
    return prepare(X, y)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_legacy_mode_matches_the_seeds_code(optimizer, course_data):
    epochs = 60  # 5 batches an epoch: 300 updates
    X, Y = ref.load_dataset(make_moons)
    want, _ = ref.model(X, Y, [2, 5, 2, 1], optimizer, num_epochs=epochs)
    cfg = TrainConfig(optimizer=optimizer, epochs=epochs, random_mode="legacy")
    got = fit(SEED_MODEL, course_data, cfg)
    assert got.status == "completed" and got.updates == 300
    for l in range(3):
        np.testing.assert_allclose(got.network.W[l], want[f"W{l + 1}"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.network.b[l], want[f"b{l + 1}"][:, 0], rtol=0, atol=1e-12)
    acc = ref.predict_accuracy(X, Y, want)
    assert got.final["train_metric"] == pytest.approx(acc, abs=1e-15)


def test_epoch_loss_is_batch_weighted_mean_of_batch_costs(course_data):
    # one epoch of plain gd, re-computed batch by batch with the seed's functions
    X, Y = ref.load_dataset(make_moons)
    params = ref.initialize_parameters([2, 5, 2, 1])
    total = 0.0
    for bx, by in ref.random_mini_batches(X, Y, 64, seed=11):
        a3, cache = ref.forward_propagation(bx, params)
        total += ref.compute_cost(a3, by) * bx.shape[1]
        params = ref.update_parameters_with_gd(
            params, ref.backward_propagation(bx, by, cache), 0.0007
        )
    got = fit(SEED_MODEL, course_data, TrainConfig(optimizer="gd", epochs=1, random_mode="legacy"))
    assert got.history["train_loss"][0] == pytest.approx(total / 300, rel=1e-12)


def test_history_columns_and_validation(rng):
    X, y = load_data("moons", n_samples=200, noise=0.2, seed=0)
    data = prepare(X, y, val_fraction=0.25, seed=0, standardize=True)
    res = fit(SEED_MODEL, data, TrainConfig(optimizer="adam", lr=0.01, epochs=30, batch_size=32))
    h = res.history
    assert list(h) == [
        "epoch",
        "lr",
        "train_loss",
        "train_metric",
        "val_loss",
        "val_metric",
        "updates",
        "seconds",
    ]
    assert h["epoch"].tolist() == list(range(30))
    assert h["updates"].tolist() == [5 * (e + 1) for e in range(30)]  # 150 rows / 32 = 5 batches
    assert np.all(np.diff(h["seconds"]) >= 0)
    assert np.isfinite(h["val_loss"]).all() and h["val_metric"][-1] > 0.8
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert res.final["val_metric"] == pytest.approx(h["val_metric"][-1])


def test_same_seed_bit_identical_other_seed_differs():
    X, y = load_data("circles", n_samples=200, noise=0.1, seed=0)
    data = prepare(X, y, val_fraction=0.2, seed=0)
    a = fit(SEED_MODEL, data, TrainConfig(epochs=5, seed=7))
    b = fit(SEED_MODEL, data, TrainConfig(epochs=5, seed=7))
    c = fit(SEED_MODEL, data, TrainConfig(epochs=5, seed=8))
    assert np.array_equal(a.network.theta, b.network.theta)
    assert np.array_equal(a.history["train_loss"], b.history["train_loss"])
    assert not np.array_equal(a.network.theta, c.network.theta)


def test_schedule_sets_each_epochs_rate(course_data):
    sched = Schedule("inverse_time", decay_rate=1.0)
    res = fit(SEED_MODEL, course_data, TrainConfig(lr=0.1, epochs=4, schedule=sched))
    np.testing.assert_allclose(res.history["lr"], [0.1, 0.05, 0.1 / 3, 0.025])


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_huge_learning_rate_diverges_cleanly(optimizer, course_data):
    with np.errstate(all="raise"):  # nothing may leak a floating-point warning either
        res = fit(SEED_MODEL, course_data, TrainConfig(optimizer=optimizer, lr=1e300, epochs=50))
    assert res.status == "diverged"
    assert res.reason.startswith("diverged at epoch 0: ")
    assert res.epochs_run == 1
    assert np.isnan(res.final["train_metric"])


def test_non_finite_loss_is_reported():
    X, _ = load_data("blobs", n_samples=200, seed=0)
    data = prepare(X, X[:, 0] * 100, seed=0)  # large regression targets, rate far too big
    cfg = TrainConfig(optimizer="gd", lr=5.0, epochs=500, divergence_factor=float("inf"))
    res = fit(ModelConfig(hidden=(8,), head="linear"), data, cfg)
    assert res.status == "diverged"
    assert "training loss is nan" in res.reason or "training loss is inf" in res.reason
    assert not np.isfinite(res.history["train_loss"][-1])
    assert np.isfinite(res.history["train_loss"][:-1]).all()


def test_callback_stops_training(course_data):
    seen = []

    def stop_after_three(epoch, record):
        seen.append(record["train_loss"])
        return "pruned at epoch 2" if epoch == 2 else None

    res = fit(SEED_MODEL, course_data, TrainConfig(epochs=100), callback=stop_after_three)
    assert res.status == "stopped" and res.reason == "pruned at epoch 2"
    assert res.epochs_run == 3 and len(seen) == 3


@pytest.mark.parametrize("head", ["sigmoid", "softmax", "linear"])
def test_float32_end_to_end(head):
    X, y = load_data("moons", n_samples=128, noise=0.2, seed=1)
    if head == "linear":
        y = X[:, 0] * 2.0 - X[:, 1]
    data = prepare(X, y, val_fraction=0.25, seed=0)
    model = ModelConfig(hidden=(8,), head=head, dtype="float32")
    res = fit(model, data, TrainConfig(lr=0.01, epochs=20, batch_size=16))
    assert res.status == "completed"
    assert res.network.theta.dtype == np.float32
    assert all(w.dtype == np.float32 for w in res.network.W)
    assert res.network.predict_proba(X[:3]).dtype == np.float32
    assert res.history["train_loss"][-1] < res.history["train_loss"][0]


def test_multiclass_learns_blobs():
    X, y = load_data("blobs", n_samples=300, centers=3, seed=0)
    data = prepare(X, y, val_fraction=0.2, seed=0, standardize=True)
    res = fit(
        ModelConfig(hidden=(16,), head="softmax"),
        data,
        TrainConfig(lr=0.01, epochs=40, batch_size=32),
    )
    assert res.final["val_metric"] > 0.85
    assert res.history["train_metric"][-1] > res.history["train_metric"][0]


def test_batch_one_and_full_batch(course_data):
    one = fit(SEED_MODEL, course_data, TrainConfig(batch_size=1, epochs=2))
    full = fit(SEED_MODEL, course_data, TrainConfig(batch_size=10_000, epochs=2))
    assert one.updates == 600 and full.updates == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: TrainConfig(optimizer="lbfgs"),
            "optimizer must be one of gd, momentum, rmsprop, adam (got 'lbfgs')",
        ),
        (lambda: TrainConfig(batch_size=0), "batch_size must be an integer >= 1 (got 0)"),
        (lambda: TrainConfig(lr=0), "lr must be a finite number > 0 (got 0)"),
        (lambda: TrainConfig(lr=-0.1), "lr must be a finite number > 0 (got -0.1)"),
        (lambda: TrainConfig(beta=1.0), "beta must be in [0, 1) (got 1.0)"),
        (lambda: TrainConfig(beta2=-0.5), "beta2 must be in [0, 1) (got -0.5)"),
        (
            lambda: TrainConfig(schedule="inverse_time"),  # a name: how to make one
            "schedule must be a Schedule, e.g. Schedule('inverse_time', decay_rate=0.01) "
            "(got 'inverse_time')",
        ),
        (lambda: Network([2, 0, 1]), "layer size must be an integer >= 1 (got sizes[1] = 0)"),
        (
            lambda: Network([2, 3, 1], activation="gelu"),
            "activation must be one of relu, leaky_relu, tanh, sigmoid (got 'gelu')",
        ),
        (
            lambda: Network([2, 3, 1], head="hinge"),
            "head must be one of sigmoid, softmax, linear (got 'hinge')",
        ),
        (
            lambda: Network([2, 3, 2], head="sigmoid"),
            "head 'sigmoid' needs 1 output unit (got layer size 2)",
        ),
    ],
)
def test_bad_input_names_argument_and_value(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert str(e.value) == message


def test_network_input_size_must_match_data(course_data):
    with pytest.raises(ValueError, match="network has 3 inputs but X has 2 features"):
        train(Network([3, 1]), course_data, TrainConfig(epochs=1))


def test_callback_is_not_asked_after_the_last_epoch(course_data):
    epochs_seen = []

    def always_stop_at_the_end(epoch, record):
        epochs_seen.append(epoch)
        return "pruned" if epoch == 4 else None

    res = fit(SEED_MODEL, course_data, TrainConfig(epochs=5), callback=always_stop_at_the_end)
    assert res.status == "completed" and res.epochs_run == 5
    assert epochs_seen == [0, 1, 2, 3]


def test_results_and_networks_show_as_one_line(course_data):
    """A notebook cell ending in ``fit(...)`` printed every epoch's history,
    thousands of numbers, and the network as ``<... object at 0x...>``."""
    res = fit(SEED_MODEL, course_data, TrainConfig(optimizer="adam", lr=0.01, epochs=20))
    net = "Network([2, 5, 2, 1], activation='relu', head='sigmoid', dtype='float64')"
    assert repr(res.network) == net
    text = repr(res)
    assert "\n" not in text and len(text) < 400
    assert text.startswith(f"<TrainResult completed: 20 epochs, {res.updates} updates, ")
    assert f"train_metric={res.final['train_metric']:.4g}" in text and net in text
    assert "val_metric" not in text  # no validation set: NaN, left out
    bad = fit(SEED_MODEL, course_data, TrainConfig(optimizer="gd", lr=1e300, epochs=5))
    assert repr(bad).startswith(f"<TrainResult diverged ({bad.reason}): 1 epoch, ")
    assert "train_metric" not in repr(bad)  # NaN after a divergence: left out
