"""Each optimizer's steps against its formula written out by hand."""

import numpy as np
import pytest

from optsweep.engine import GD, OPTIMIZERS, Adam, Momentum, RMSprop, make_optimizer, optimizers
from optsweep.engine.optimizers import flush_tiny


def test_gd_step():
    p = np.array([1.0, -2.0, 3.0])
    g = np.array([0.5, 0.25, -1.0])
    GD().step(p, g, lr=0.1)
    np.testing.assert_array_equal(p, [1.0 - 0.05, -2.0 - 0.025, 3.0 + 0.1])


def test_momentum_two_steps():
    p = np.array([1.0, 2.0])
    g1, g2 = np.array([1.0, -1.0]), np.array([0.5, 0.5])
    opt = Momentum(beta=0.8)
    opt.step(p, g1, lr=0.1)
    v = 0.2 * g1  # v = 0.8 * 0 + (1 - 0.8) * g1
    np.testing.assert_allclose(p, [1.0, 2.0] - 0.1 * v, rtol=0, atol=1e-15)
    opt.step(p, g2, lr=0.1)
    v = 0.8 * v + 0.2 * g2
    np.testing.assert_allclose(p, [1.0, 2.0] - 0.1 * 0.2 * g1 - 0.1 * v, rtol=0, atol=1e-15)


def test_rmsprop_step():
    p = np.array([1.0, -1.0])
    g = np.array([2.0, -0.5])
    opt = RMSprop(beta=0.9, eps=1e-8)
    opt.step(p, g, lr=0.01)
    s = 0.1 * g**2
    np.testing.assert_allclose(p, [1.0, -1.0] - 0.01 * g / (np.sqrt(s) + 1e-8), rtol=1e-14)


def test_adam_bias_correction_first_three_steps():
    beta1, beta2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    p = np.array([0.3, -0.7, 1.1])
    grads = [np.array([0.1, -0.2, 0.3]), np.array([-0.4, 0.5, 0.05]), np.array([1.0, 0.0, -2.0])]
    want = p.copy()
    v = np.zeros(3)
    s = np.zeros(3)
    opt = Adam(beta1, beta2, eps)
    for t, g in enumerate(grads, start=1):
        v = beta1 * v + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g**2
        v_hat = v / (1 - beta1**t)
        s_hat = s / (1 - beta2**t)
        want = want - lr * v_hat / (np.sqrt(s_hat) + eps)
        opt.step(p, g, lr)
        np.testing.assert_allclose(p, want, rtol=1e-13, atol=1e-15)
        assert opt.t == t
    # first step: the bias-corrected update is lr * sign(g) (up to eps)
    p1 = np.array([0.3, -0.7, 1.1])
    Adam().step(p1, grads[0], lr)
    np.testing.assert_allclose(p1, [0.3 - lr, -0.7 + lr, 1.1 - lr], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_list_of_arrays_equals_flat_buffer(name, rng):
    shapes = [(3, 2), (3,), (1, 3)]
    params = [rng.normal(size=s) for s in shapes]
    flat = np.concatenate([p.ravel() for p in params])
    a, b = make_optimizer(name), make_optimizer(name)
    for _ in range(5):
        grads = [rng.normal(size=s) for s in shapes]
        a.step(params, grads, 0.05)
        b.step(flat, np.concatenate([g.ravel() for g in grads]), 0.05)
    np.testing.assert_allclose(np.concatenate([p.ravel() for p in params]), flat, rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: make_optimizer("sgd"),
            "optimizer must be one of gd, momentum, rmsprop, adam (got 'sgd')",
        ),
        (lambda: Momentum(beta=1.0), "beta must be in [0, 1) (got 1.0)"),
        (lambda: Adam(beta1=-0.1), "beta1 must be in [0, 1) (got -0.1)"),
        (lambda: Adam(beta2=1.5), "beta2 must be in [0, 1) (got 1.5)"),
        (lambda: RMSprop(eps=0), "eps must be > 0 (got 0)"),
    ],
)
def test_bad_coefficients_raise(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert str(e.value) == message


def _subnormal(x: np.ndarray) -> int:
    return int(np.count_nonzero((x != 0) & (np.abs(x) < np.finfo(x.dtype).tiny)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flush_tiny_zeroes_only_values_near_the_subnormals(dtype):
    tiny = np.finfo(dtype).tiny
    x = np.array([tiny, -tiny * 2.0**39, tiny * 2.0**41, 1e-20, -3.0, 0.0], dtype=dtype)
    flush_tiny(x, np.empty_like(x))
    np.testing.assert_array_equal(x, np.array([0, 0, tiny * 2.0**41, 1e-20, -3.0, 0], dtype))


@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_moments_of_a_dead_unit_never_turn_subnormal(name, dtype, monkeypatch):
    """A parameter whose gradient stays exactly zero (a dead ReLU unit) has
    moments that decay geometrically. Unflushed they linger in the subnormal
    numbers (slow on x86); flushed every FLUSH_EVERY updates they never do,
    and the parameters end the same."""

    def run() -> tuple[np.ndarray, int]:
        opt = make_optimizer(name, beta=0.5, beta1=0.5, beta2=0.5)
        p = np.ones(2, dtype)
        g = np.array([1.0, 0.5], dtype)
        opt.step(p, g, lr=0.01)
        g[1] = 0.0  # dead from now on
        seen = 0
        with np.errstate(under="ignore"):
            for _ in range(3000):
                opt.step(p, g, lr=0.01)
                seen += sum(_subnormal(m) for m in opt.state[0][:-1])
        return p, seen

    p, seen = run()
    monkeypatch.setattr(optimizers, "FLUSH_EVERY", 10**9)
    q, seen_unflushed = run()
    assert seen == 0 and seen_unflushed > 0
    np.testing.assert_array_equal(p, q)


def test_population_flushes_its_moments(monkeypatch):
    """The same for a population's stacked moments, which the training loop
    flushes every FLUSH_EVERY updates."""
    from optsweep.engine.layers import ACTIVATIONS, HEADS
    from optsweep.engine.population import _Stack

    def run(flush: bool) -> tuple[np.ndarray, int]:
        half = np.full(2, 0.5)  # both moments' decay
        stack = _Stack(
            [2, 3, 1], ACTIVATIONS["relu"], HEADS["sigmoid"], np.dtype(float), np.ones((2, 13)),
            half, half,
        )  # fmt: skip
        stack.grad[:] = 1.0  # then the last seven die
        col = lambda v: np.full((2, 1), v)  # noqa: E731
        step = stack._step(col(1 / 0.01), col(1e-8 / 0.01))  # m / A, E / A: lr 0.01, eps 1e-8
        seen = 0
        with np.errstate(under="ignore"):
            for t in range(1, 3001):
                for f, args in step:  # the step's calls, as the training loop runs them
                    f(*args)
                if flush and t % optimizers.FLUSH_EVERY == 0:
                    stack.flush()
                stack.grad[:, 6:] = 0.0
                seen += _subnormal(stack.u) + _subnormal(stack.w)
        return stack.theta, seen

    (p, seen), (q, seen_unflushed) = run(True), run(False)
    assert seen == 0 and seen_unflushed > 0
    np.testing.assert_array_equal(p, q)

    calls = []
    monkeypatch.setattr(_Stack, "flush", lambda self: calls.append(1))
    from optsweep.engine import ModelConfig, TrainConfig, load_data, prepare
    from optsweep.engine.population import train_population

    data = prepare(*load_data("moons", n_samples=100, noise=0.2, seed=3), val_fraction=0.0, seed=0)
    configs = [TrainConfig(optimizer="adam", batch_size=10, epochs=20, seed=k) for k in range(3)]
    train_population(ModelConfig(hidden=(5, 2)), data, configs, 0)
    assert len(calls) == 20 * 10 // optimizers.FLUSH_EVERY
