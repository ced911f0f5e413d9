"""Finite-difference gradient checks for every activation and head."""

import warnings

import numpy as np
import pytest

from optsweep.engine import ACTIVATIONS, HEADS, Network
from optsweep.engine.layers import softplus
from optsweep.engine.network import augment


def _targets(head: str, n: int, n_out: int, rng) -> np.ndarray:
    if head == "sigmoid":
        return rng.integers(0, 2, n)
    if head == "softmax":
        return rng.integers(0, n_out, n)
    return rng.normal(size=(n, n_out))


def _loss(net: Network, Xa, Y) -> float:
    return net.head.loss(net.logits(Xa), Y)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_gradient_matches_central_differences(activation, head, rng):
    n_out = 1 if head == "sigmoid" else 3
    net = Network([4, 6, 5, n_out], activation=activation, head=head, rng=rng)
    net.theta += rng.normal(scale=0.1, size=net.theta.shape)  # nonzero biases too
    X = rng.normal(size=(7, 4))
    Xa = augment(X)
    Y = net.head.encode(_targets(head, 7, n_out, rng), n_out, net.dtype)
    net.gradient(Xa, Y)
    analytic = net.grad.copy()

    h = 1e-6
    numeric = np.empty_like(analytic)
    for i in range(net.theta.size):
        old = net.theta[i]
        net.theta[i] = old + h
        up = _loss(net, Xa, Y)
        net.theta[i] = old - h
        down = _loss(net, Xa, Y)
        net.theta[i] = old
        numeric[i] = (up - down) / (2 * h)
    err = np.linalg.norm(analytic - numeric) / max(
        np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12
    )
    assert err < 1e-6, f"{activation}/{head}: relative gradient error {err:.2e}"


def test_gradient_of_bias_is_sum_of_deltas(rng):
    # one-layer network: dL/db = mean(a - y) for the sigmoid head, by hand
    net = Network([3, 1], head="sigmoid", rng=rng)
    X = rng.normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    Y = y.reshape(-1, 1).astype(float)
    net.gradient(augment(X), Y)
    a = 1 / (1 + np.exp(-(X @ net.W[0].T + net.b[0])))
    np.testing.assert_allclose(net.db[0], [np.mean(a - Y)], rtol=1e-12)
    np.testing.assert_allclose(net.dW[0], ((a - Y).T @ X) / 5, rtol=1e-12)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_loss_matches_its_definition(head, rng):
    n_out = 1 if head == "sigmoid" else 3
    z = rng.normal(size=(6, n_out)) * 3
    h = HEADS[head]
    Y = h.encode(_targets(head, 6, n_out, rng), n_out, np.float64)
    if head == "sigmoid":
        a = 1 / (1 + np.exp(-z))
        want = -np.mean(Y * np.log(a) + (1 - Y) * np.log(1 - a))
    elif head == "softmax":
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        want = -np.mean(np.log((p * Y).sum(axis=1)))
    else:
        want = np.mean((z - Y) ** 2)
    assert h.loss(z, Y) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("head", ["sigmoid", "softmax"])
def test_cross_entropy_of_confident_logits_is_never_below_zero(head):
    """A model that fits its data gives logits of large margin; its loss,
    computed in float32, is its float64 value to float32's rounding (about
    1e-6 here) and never below 0, for one trial and for a stack of members
    alike (validation and training losses). A sum of ``logsumexp`` less a
    sum of ``z[label]`` cancelled: -3e-6 in the digits sweep."""
    rng = np.random.default_rng(2)
    n, n_out, K = 1000, (1 if head == "sigmoid" else 10), 3
    h = HEADS[head]
    labels = rng.integers(0, 2 if head == "sigmoid" else n_out, n)
    Y64 = h.encode(labels, n_out, np.float64)
    if head == "sigmoid":
        Z64 = (2 * Y64 - 1) * rng.uniform(12, 40, size=(K, n, 1))
    else:
        Z64 = rng.normal(size=(K, n, n_out)) + rng.uniform(15, 40, size=(K, n, 1)) * Y64
    Z, Y = Z64.astype(np.float32), Y64.astype(np.float32)
    for k in range(K):
        z = Z[k].astype(np.float64)
        if head == "sigmoid":  # log(1 + e^(-z)) for y = 1, log(1 + e^z) for y = 0
            want = np.mean(np.logaddexp(0, (1 - 2 * Y64) * z))
        else:
            zmax = z.max(1)
            want = np.mean(np.log(np.exp(z - zmax[:, None]).sum(1)) + zmax - (z * Y64).sum(1))
        got = h.loss(Z[k], Y)
        assert 0 <= got and abs(got - want) < 2e-6, (k, got, want)
    stacked = h.losses(Z, Y)
    assert stacked.dtype == np.float32 and (stacked >= 0).all(), stacked
    if head == "sigmoid":  # from the denominators the update keeps
        kept = h.losses_kept(1 + np.exp(-Z), Z, Y)
        assert (kept >= 0).all() and np.allclose(kept, stacked, rtol=0, atol=2e-6), kept


def test_sigmoid_loss_is_finite_when_saturated():
    h = HEADS["sigmoid"]
    z = np.array([[800.0], [-800.0]])
    Y = np.array([[0.0], [1.0]])
    assert h.loss(z, Y) == pytest.approx(800.0)


def test_softplus_equals_numpys_logaddexp():
    """The fast form gives NumPy's logaddexp(0, z) to rounding, infinities and NaN too."""
    rng = np.random.default_rng(0)
    z = np.concatenate(
        [
            rng.standard_normal(1000) * 30,
            [0.0, -0.0, 1e-300, 800.0, -800.0, np.inf, -np.inf, np.nan],
        ]
    )
    for dtype, rtol in ((np.float64, 1e-15), (np.float32, 1e-6)):
        x = z.astype(dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            np.testing.assert_allclose(softplus(x), np.logaddexp(dtype(0), x), rtol=rtol, atol=0)
        assert softplus(x).dtype == dtype


def test_predictions_far_from_the_data_saturate_without_warnings():
    """A decision-boundary grid reaches far from the data, where the sigmoid
    saturates (exp overflows): probabilities exactly 0 or 1, nothing printed."""
    net = Network([2, 4, 1], "relu", "sigmoid", theta=0.0)
    net.W[0][...] = 50.0
    net.W[1][...] = -40.0  # far on the positive side: a logit of -1.6e6
    X = np.array([[100.0, 100.0], [-100.0, -100.0], [1e3, -1e3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        p = net.predict_proba(X)
        labels = net.predict(X)
    assert p[0, 0] == 0.0 and p[1, 0] == 0.5 and np.isfinite(p).all()
    assert labels.tolist() == (p[:, 0] > 0.5).astype(int).tolist()


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "linear"])
def test_gradient_from_logits_equals_forward_then_grad(name, rng):
    """A population's dL/dz from the logits in one call equals the head's
    forward and grad; the sigmoid keeps 1 + exp(-z), from which the losses
    equal the stable formula, also where exp(-z) overflows (z < -709: the
    member's loss is recomputed), for NaN logits, and with labels of both kinds."""
    head = HEADS[name]
    n_out = 1 if name == "sigmoid" else 3
    Z = rng.normal(size=(4, 9, n_out)) * 5
    y = head.encode(
        rng.integers(0, n_out if name != "sigmoid" else 2, 9)
        if name != "linear"
        else rng.normal(size=(9, n_out)),
        n_out,
        np.float64,
    )
    scale = head.grad_scale(9, n_out)
    a, ref = np.empty_like(Z), np.empty_like(Z)
    head.forward(Z, a)
    head.grad(a, y, ref)
    got, kept = np.empty_like(Z), np.empty_like(Z)
    head.grad_from_logits(Z, y * scale, scale, got, kept if head.keeps else None)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    if not head.keeps:
        return
    Z[1, 0, 0], Z[2, 3, 0] = -800.0, np.nan  # overflow, and a diverged member
    y[0, 0] = 1.0  # so that the saturated sample costs 800
    with np.errstate(over="ignore", invalid="ignore"):
        head.grad_from_logits(Z, y * scale, scale, got, kept)
        losses = head.losses_kept(kept, Z, y)
        stack_losses = head.losses(Z, y)  # the same, making 1 + exp(-z) itself
        expected = np.array([head.loss(z, y) for z in Z])  # the stable formula, member by member
    assert np.isinf(kept[1, 0, 0]) and np.isfinite(losses[1]) and losses[1] > 800 / 9
    assert np.isnan(losses[2]) and np.isnan(stack_losses[2]) and np.isnan(expected[2])
    np.testing.assert_allclose(np.delete(losses, 2), np.delete(expected, 2), rtol=1e-13)
    np.testing.assert_allclose(np.delete(stack_losses, 2), np.delete(expected, 2), rtol=1e-13)
