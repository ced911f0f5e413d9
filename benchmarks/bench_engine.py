"""Engine speed, measured against baselines in the same run (ratios, not seconds).

1. The seed's experiment (moons 300, [2, 5, 2, 1], batch 64, Adam, 2000
   epochs): the engine in legacy mode against the transcription of the seed's
   code (tests/seed_reference.py). Same computation, same final accuracy.
2. A large network (784-256-128-10, 60000 x 784 synthetic samples, batch 128,
   Adam, float32, one BLAS thread): seconds per epoch against the matmul
   floor (forward and backward matmul FLOPs, no data gradient for the input
   layer, divided by a 2048^3 float32 matmul's rate measured here), and
   against PyTorch (CPU, one thread) and scikit-learn's MLPClassifier
   (float64) when they are installed. Also a lower bound for any NumPy
   epoch here: the epoch's matrix products alone (each in the faster of the
   two weight layouts, caches warm), plus Adam's update alone, plus the
   activations, the softmax head and shuffling the data alone.

Run: python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import seed_reference as ref

from optsweep.engine import (
    Dataset,
    ModelConfig,
    TrainConfig,
    fit,
    load_data,
    make_moons,
    make_optimizer,
    prepare,
)


def best_of(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def seed_experiment(epochs: int, repeats: int) -> None:
    X, Y = ref.load_dataset(make_moons)
    Xm, ym = load_data("moons", n_samples=300, noise=0.2, seed=3, legacy=True)
    data = prepare(Xm, ym)
    model = ModelConfig(hidden=(5, 2))
    cfg = TrainConfig(optimizer="adam", epochs=epochs, random_mode="legacy")
    out = {}

    def run_ref():
        out["ref"] = ref.model(X, Y, [2, 5, 2, 1], "adam", num_epochs=epochs)[0]

    def run_engine():
        out["engine"] = fit(model, data, cfg)

    # interleave the two so that machine noise hits both alike
    t_ref, t_eng = [], []
    for _ in range(repeats):
        t_ref.append(best_of(run_ref, 1))
        t_eng.append(best_of(run_engine, 1))
    updates = epochs * 5
    acc_ref = ref.predict_accuracy(X, Y, out["ref"])
    acc_eng = out["engine"].final["train_metric"]
    r, e = min(t_ref), min(t_eng)
    print(f"seed experiment: Adam, {epochs} epochs, {updates} updates, best of {repeats}")
    print(f"  seed's code   {r:7.3f} s  {r / updates * 1e6:7.1f} us/update  accuracy {acc_ref:.4f}")
    print(f"  optsweep      {e:7.3f} s  {e / updates * 1e6:7.1f} us/update  accuracy {acc_eng:.4f}")
    print(f"  speed-up      {r / e:.2f}x (target >= 3x); same accuracy: {acc_ref == acc_eng}")


def matmul_rate() -> float:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2048, 2048)).astype(np.float32)
    B = rng.standard_normal((2048, 2048)).astype(np.float32)
    t = best_of(lambda: A @ B, 5)
    return 2 * 2048**3 / t


def t_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> float:
    """Seconds for one ``a @ b`` into ``out`` (best of five runs of 50)."""
    return best_of(lambda: [np.matmul(a, b, out=out) for _ in range(50)], 5) / 50


def numpy_lower_bound(n: int, sizes: list[int], batch: int) -> tuple[float, float, float]:
    """Seconds an epoch for (the matrix products alone, Adam's update alone,
    the rest alone: the activations, the softmax head and its gradient, and
    shuffling the data), each timed on its own with warm caches, each
    operation in its cheapest form: no NumPy epoch can take less than their
    sum."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    per_batch = 0.0
    for l in range(len(sizes) - 1):
        m, k = sizes[l] + 1, sizes[l + 1]  # [A | 1] and the layer's units
        A = rng.standard_normal((batch, m)).astype(f32)
        dZ = rng.standard_normal((batch, k)).astype(f32)
        W = rng.standard_normal((k, m)).astype(f32)  # the engine's layout
        WT = np.ascontiguousarray(W.T)  # the other one
        Z, dW, dWT = np.empty((batch, k), f32), np.empty((k, m), f32), np.empty((m, k), f32)
        dA = np.empty((batch, m - 1), f32)

        per_batch += min(t_matmul(A, W.T, Z), t_matmul(A, WT, Z))  # forward
        per_batch += min(t_matmul(dZ.T, A, dW), t_matmul(A.T, dZ, dWT))  # weight gradient
        if l > 0:  # data gradient, none for the input layer
            per_batch += min(t_matmul(dZ, W[:, :-1], dA), t_matmul(dZ, WT[:-1].T, dA))
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    theta = np.zeros(n_params, f32)
    grad = rng.standard_normal(n_params).astype(f32)
    adam = make_optimizer("adam")
    step = best_of(lambda: [adam.step(theta, grad, 1e-3) for _ in range(50)], 5) / 50
    batches = -(-n // batch)

    # the rest, one batch: relu forward (one pass) and backward (two: the
    # mask, the product) per hidden layer; softmax (five passes) and its
    # cross-entropy gradient (two)
    hidden = [rng.standard_normal((batch, h)).astype(f32) for h in sizes[1:-1]]
    outs = [np.empty_like(h) for h in hidden]
    masks = [np.empty_like(h) for h in hidden]
    z = rng.standard_normal((batch, sizes[-1])).astype(f32)
    p, y = np.empty_like(z), np.zeros_like(z)

    def rest() -> None:
        for h, o, mk in zip(hidden, outs, masks):
            np.maximum(h, 0, out=o)
            np.sign(o, out=mk)
            np.multiply(h, mk, out=mk)
        np.subtract(z, z.max(axis=1, keepdims=True), out=p)
        np.exp(p, out=p)
        np.divide(p, p.sum(axis=1, keepdims=True), out=p)
        np.subtract(p, y, out=p)
        np.multiply(p, 1.0 / batch, out=p)

    per_rest = best_of(lambda: [rest() for _ in range(200)], 5) / 200
    # shuffling: every sample's row moved once an epoch, all at once or a
    # batch at a time into a buffer that stays in cache, whichever is faster
    X = rng.standard_normal((n, sizes[0] + 1)).astype(f32)
    Xs, perm = np.empty_like(X), rng.permutation(n)
    xb = np.empty((batch, X.shape[1]), f32)

    def per_batch_gather() -> None:
        for s in range(0, n - batch + 1, batch):
            np.take(X, perm[s : s + batch], axis=0, out=xb)

    shuffle = min(
        best_of(lambda: np.take(X, perm, axis=0, out=Xs), 3), best_of(per_batch_gather, 3)
    )
    return per_batch * batches, step * batches, per_rest * batches + shuffle


def large_network(epochs: int) -> None:
    rng = np.random.default_rng(0)
    n, sizes, batch = 60000, [784, 256, 128, 10], 128
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    rate = matmul_rate()
    flops = 0.0
    for l in range(3):  # forward, weight gradient, and data gradient except layer 1
        f = 2 * n * sizes[l] * sizes[l + 1]
        flops += f * (3 if l > 0 else 2)
    floor = flops / rate
    print("\nlarge network 784-256-128-10, 60000 samples, batch 128, Adam, float32, 1 thread")
    print(
        f"  matmul rate {rate / 1e9:.0f} GFLOP/s (2048^3 float32);"
        f" {flops / 1e9:.1f} GFLOP an epoch;"
        f" floor {floor:.3f} s/epoch"
    )

    mm, adam, rest = numpy_lower_bound(n, sizes, batch)
    bound = mm + adam + rest
    print(
        f"  lower bound for NumPy here: the matrix products alone {mm:.3f} s ({mm / floor:.2f}x)"
        f" + Adam's update alone {adam:.3f} s ({adam / floor:.2f}x)"
        f" + activations, softmax and shuffling alone {rest:.3f} s ({rest / floor:.2f}x)"
        f" = {bound:.3f} s ({bound / floor:.2f}x)"
    )

    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=batch, epochs=epochs + 1)
    res = fit(ModelConfig(hidden=(256, 128), head="softmax", dtype="float32"), Dataset(X, y), cfg)
    per_epoch = np.diff(res.history["seconds"]).min()  # steady state: not the first epoch
    print(
        f"  optsweep      {per_epoch:6.3f} s/epoch"
        f"  {per_epoch / floor:5.2f}x the floor (target <= 1.7x)"
    )

    try:
        import torch
    except ImportError:
        print("  PyTorch: not installed (pip install torch==2.13.0)")
    else:
        torch.set_num_threads(1)
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(784, 256),
            torch.nn.ReLU(),
            torch.nn.Linear(256, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 10),
        )
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def torch_epoch():
            perm = torch.randperm(n)
            for s in range(0, n, batch):
                idx = perm[s : s + batch]
                opt.zero_grad(set_to_none=True)
                loss = lossf(net(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()

        torch_epoch()
        tt = best_of(torch_epoch, epochs)
        print(
            f"  PyTorch {torch.__version__} {tt:6.3f} s/epoch"
            f"  optsweep is {tt / per_epoch:.2f}x faster"
            f" (target >= 1.5x; the NumPy lower bound above would be {tt / bound:.2f}x)"
        )

    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        print("  scikit-learn: not installed")
    else:
        clf = MLPClassifier((256, 128), solver="adam", batch_size=batch, max_iter=1, random_state=0)
        Xd = X.astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ts = best_of(lambda: clf.fit(Xd, y), 1)
        print(
            f"  scikit-learn MLPClassifier (float64) {ts:6.3f} s/epoch"
            f"  optsweep is {ts / per_epoch:.2f}x faster"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    args = ap.parse_args()
    with threadpool_limits(1):
        seed_experiment(epochs=400 if args.quick else 2000, repeats=2 if args.quick else 3)
        large_network(epochs=1 if args.quick else 3)


if __name__ == "__main__":
    main()
