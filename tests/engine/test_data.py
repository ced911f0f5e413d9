"""Generators, loaders, split, standardisation and mini-batch partitions."""

import re

import numpy as np
import pytest
from helpers import hide_import

from optsweep.engine import (
    GENERATORS,
    batch_sizes,
    encode_labels,
    load_csv,
    load_data,
    load_npz,
    make_circles,
    make_moons,
    prepare,
)
from optsweep.engine.data import check_Xy, load_real


@pytest.mark.parametrize(
    ("m", "size", "want"),
    [
        (300, 64, [64, 64, 64, 64, 44]),
        (300, 1, [1] * 300),
        (300, 300, [300]),
        (300, 1000, [300]),  # larger than m: one full batch
        (256, 64, [64] * 4),
    ],
)
def test_batch_partition(m, size, want):
    assert batch_sizes(m, size) == want


def test_batch_size_below_one():
    with pytest.raises(ValueError, match=r"batch_size must be >= 1 \(got 0\)"):
        batch_sizes(10, 0)


@pytest.mark.parametrize("noise", [None, 0.2])
def test_moons_and_circles_bit_identical_to_scikit_learn(noise):
    sk = pytest.importorskip("sklearn.datasets", reason="scikit-learn is the reference")
    for ours, theirs in ((make_moons, sk.make_moons), (make_circles, sk.make_circles)):
        X1, y1 = ours(301, noise=noise, random_state=np.random.RandomState(7))
        X2, y2 = theirs(301, noise=noise, random_state=np.random.RandomState(7))
        assert np.array_equal(X1, X2) and np.array_equal(y1, y2)


def test_course_data_from_global_seed():
    sk = pytest.importorskip("sklearn.datasets", reason="scikit-learn is the reference")
    np.random.seed(3)
    X2, y2 = sk.make_moons(n_samples=300, noise=0.2)
    X1, y1 = load_data("moons", n_samples=300, noise=0.2, seed=3, legacy=True)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)


@pytest.mark.parametrize("name", sorted(set(GENERATORS) - {"sine"}))
def test_generators_are_seeded_and_labelled(name):
    X1, y1 = load_data(name, seed=5)
    X2, y2 = load_data(name, seed=5)
    X3, _ = load_data(name, seed=6)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.ndim == 2 and X1.shape[0] == y1.shape[0]
    assert np.issubdtype(y1.dtype, np.integer) and y1.min() == 0 and len(np.unique(y1)) >= 2


def test_sine_is_a_seeded_regression_on_one_input():
    X1, y1 = load_data("sine", n_samples=400, periods=1.5, seed=5)
    X2, y2 = load_data("sine", n_samples=400, periods=1.5, seed=5)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert X1.shape == (400, 1) and y1.shape == (400,) and y1.dtype == np.float64
    assert -1.5 * np.pi <= X1.min() < -1.4 * np.pi and 1.4 * np.pi < X1.max() <= 1.5 * np.pi
    assert np.std(y1 - np.sin(X1[:, 0])) == pytest.approx(0.1, rel=0.15)  # the default noise
    X, y = load_data("sine", n_samples=50, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, np.sin(X[:, 0]))
    d = prepare(X, y, val_fraction=0.2, seed=0, standardize=True)
    assert d.n_classes == 0 and d.target_scaler is not None  # a regression's targets
    with pytest.raises(ValueError, match=r"periods must be > 0 \(got 0\)"):
        load_data("sine", periods=0)


def test_spirals_has_k_balanced_classes():
    _, y = load_data("spirals", n_samples=300, n_classes=4, seed=0)
    assert np.bincount(y).tolist() == [75, 75, 75, 75]


def test_bad_generator_argument_names_it():
    with pytest.raises(ValueError, match=r"data 'moons'.*bogus"):
        load_data("moons", bogus=1)


def test_unknown_source():
    with pytest.raises(ValueError, match=r"\(got 'nope'\)"):
        load_data("nope")


def test_csv_roundtrip_with_string_labels(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,kind,b\n1.5,cat,2\n-1,dog,0.5\n3,cat,1\n")
    X, y, names = load_csv(p, "kind")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1.5, 2], [-1, 0.5], [3, 1]])
    assert y.tolist() == ["cat", "dog", "cat"]
    X2, y2, features, classes = load_data(str(p), label="kind", return_names=True)
    np.testing.assert_array_equal(X2, X)
    assert y2.dtype.kind == "i" and y2.tolist() == [0, 1, 0]
    assert (features, classes) == (["a", "b"], ["cat", "dog"])
    assert load_data(str(p), label="kind")[1].tolist() == [0, 1, 0]


def test_names_of_generated_and_npz_data(tmp_path):
    assert load_data("blobs", n_features=3, return_names=True)[2:] == (["x1", "x2", "x3"], [])
    p = tmp_path / "d.npz"
    np.savez(p, X=np.zeros((3, 2)), y=np.array(["b", "a", "b"]))
    _, y, features, classes = load_data(str(p), return_names=True)
    assert y.tolist() == [1, 0, 1] and (features, classes) == (["x1", "x2"], ["a", "b"])


@pytest.mark.parametrize(
    ("labels", "codes", "names"),
    [
        ([-1, 1, -1], [0, 1, 0], [-1, 1]),
        ([2, 1, 5], [1, 0, 2], [1, 2, 5]),
        (["b", "a"], [1, 0], ["a", "b"]),
    ],
)
def test_encode_labels(labels, codes, names):
    got, classes = encode_labels(np.array(labels))
    assert got.tolist() == codes and classes == names


def test_csv_from_excel_with_a_byte_order_mark_and_crlf(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbfkind,a\r\ncat,1.5\r\ndog,-1\r\n")
    X, y, features, classes = load_data(str(p), label="kind", return_names=True)
    assert (features, classes) == (["a"], ["cat", "dog"])
    assert y.tolist() == [0, 1] and X.ravel().tolist() == [1.5, -1]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_csv_separated_by_semicolons_or_tabs(tmp_path, sep):
    p = tmp_path / "d.csv"
    p.write_text(sep.join(["a", "b", "y"]) + "\n" + sep.join(["1.5", "2", "1"]) + "\n")
    X, y, names = load_csv(p, "y")
    assert names == ["a", "b"] and X.tolist() == [[1.5, 2.0]] and y.tolist() == [1]


def test_csv_with_semicolons_and_decimal_commas(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a;b;y\n1,5;-2;0,25\n3;0,5;1\n")
    X, y, _ = load_csv(p, "y")
    assert X.tolist() == [[1.5, -2.0], [3.0, 0.5]] and y.tolist() == [0.25, 1.0]


def test_csv_chosen_feature_columns(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("id,name,a,b,y\n1,ann,1.5,2,0\n2,bob,-1,0.5,1\n")
    X, y, names = load_csv(p, "y", ["b", "a"])  # in the order given
    assert names == ["b", "a"] and X.tolist() == [[2.0, 1.5], [0.5, -1.0]] and y.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"line 2, column 'name' is not a number \(got 'ann'\)"):
        load_csv(p, "y")
    with pytest.raises(ValueError, match=r"feature column 'c' not in header \(id, name, a, b, y\)"):
        load_csv(p, "y", ["a", "c"])
    with pytest.raises(ValueError, match=r"feature column 'y' is the label"):
        load_csv(p, "y", ["a", "y"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a field too many (NumPy's parser, reading chosen columns, would not notice)
        ("a,b,y\n1,2,0\n1,2,0,9\n", r"d.csv: line 3 has 4 fields, header has 3"),
        # an empty label, not made a class of its own
        ("a,y\n1,0\n2,1\n3,\n", r"d.csv: line 4, label column 'y' is empty"),
        ("a,b\n1,2\n", r"d.csv: label column 'y' not in header \(a, b\)"),
    ],
    ids=["row-too-long", "empty-label", "no-label-column"],
)
def test_csv_refused(tmp_path, text, message):
    p = tmp_path / "d.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_csv(p, "y")


def test_csv_non_numeric_feature(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,y\n1,0\nfoo,1\n")
    with pytest.raises(ValueError, match=r"line 3, column 'a' is not a number \(got 'foo'\)"):
        load_csv(p, "y")
    p.write_text("a,y\n1,0\n\n2,1\n,1\n")  # a blank line counts
    with pytest.raises(ValueError, match=r"line 5, column 'a' is not a number \(got ''\)"):
        load_csv(p, "y")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,y\n1,2,0\n\n3,nan,1\n", "line 4, column 'b' is nan"),  # a blank line counts
        ("a;b;y\n1,5;2;0\n-inf;2;1\n", "line 3, column 'a' is -inf"),  # field by field
        ("a,y\n1,0.5\n2,NaN\n", "line 3, label column 'y' is nan"),
    ],
    ids=["nan-feature", "infinite-feature", "nan-target"],
)
def test_csv_missing_values_name_their_line(tmp_path, text, message):
    # pandas writes a missing value as nan or an empty field; the line and
    # the column are what a user needs to find it (it said "row 1, column 1")
    p = tmp_path / "d.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=re.escape(f"d.csv: {message}: a network cannot train")):
        load_csv(p, "y")


def test_npz_without_pickle(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    X, y = load_npz(p)
    assert X.shape == (4, 2) and y.tolist() == [0, 1, 0, 1]
    q = tmp_path / "obj.npz"
    np.savez(q, X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="allow_pickle"):
        load_npz(q)


def test_x_and_y_lengths_differ():
    with pytest.raises(ValueError, match=r"X has 3 rows, y has 2"):
        check_Xy(np.zeros((3, 2)), np.zeros(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(bad):
    X = np.zeros((3, 2))
    X[1, 1] = bad
    with pytest.raises(ValueError, match=r"first at row 1, column 1"):
        check_Xy(X, np.zeros(3))


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100, dtype=float).reshape(-1, 1)
    d = prepare(X, y, val_fraction=0.25, seed=1)
    assert np.bincount(d.y_val).tolist() == [20, 5]
    assert np.bincount(d.y_train).tolist() == [60, 15]
    # disjoint and complete
    assert sorted(np.concatenate([d.X_train[:, 0], d.X_val[:, 0]]).tolist()) == list(range(100))
    d2 = prepare(X, y, val_fraction=0.25, seed=1)
    assert np.array_equal(d.X_val, d2.X_val)


def test_standardisation_fits_training_part_only():
    X, y = load_data("blobs", seed=0)
    raw = prepare(X, y, val_fraction=0.3, seed=0)
    d = prepare(X, y, val_fraction=0.3, seed=0, standardize=True)
    mu, sd = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    np.testing.assert_allclose(d.X_train, (raw.X_train - mu) / sd, rtol=1e-12)
    np.testing.assert_allclose(d.X_val, (raw.X_val - mu) / sd, rtol=1e-12)
    assert np.abs(d.X_val.mean(axis=0)).max() > 1e-3  # not refitted on validation
    assert d.target_scaler is None and np.array_equal(d.y_train, raw.y_train)  # class codes


@pytest.mark.parametrize("shape", [(200,), (200, 2)])
def test_regression_targets_standardised_on_training_part(shape):
    """Real-valued targets are standardised with the inputs (the training
    part's mean and sd, per output), and ``inverse`` gives them back."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 100 + 5 * rng.normal(size=shape)
    raw = prepare(X, y, val_fraction=0.25, seed=0)
    d = prepare(X, y, val_fraction=0.25, seed=0, standardize=True)
    mu, sd = raw.y_train.mean(axis=0), raw.y_train.std(axis=0)
    np.testing.assert_allclose(d.y_train, (raw.y_train - mu) / sd, rtol=1e-12)
    np.testing.assert_allclose(d.y_val, (raw.y_val - mu) / sd, rtol=1e-12)
    np.testing.assert_allclose(d.target_scaler.inverse(d.y_val), raw.y_val, rtol=1e-12)
    assert raw.target_scaler is None


@pytest.mark.parametrize("name", ["digits", "iris", "diabetes"])
def test_real_datasets_load(name):
    pytest.importorskip("sklearn", reason="real data sets come from scikit-learn")
    X, y, features, classes = load_real(name)
    assert X.shape[0] == y.shape[0] > 100 and len(features) == X.shape[1]
    if name == "diabetes":  # a regression: real-valued targets, no classes
        assert y.dtype == np.float64 and classes == [] and features[:3] == ["age", "sex", "bmi"]
        assert prepare(X, y, val_fraction=0.2, standardize=True).n_classes == 0
        return
    assert y.min() == 0 and len(classes) == y.max() + 1
    if name == "iris":
        assert features[0] == "sepal length (cm)" and classes == [
            "setosa",
            "versicolor",
            "virginica",
        ]


def test_real_dataset_without_scikit_learn(monkeypatch):
    hide_import(monkeypatch, "sklearn")
    with pytest.raises(ImportError, match=r"pip install 'optsweep\[datasets\]'"):
        load_real("wine")


@pytest.mark.parametrize(
    "text",
    [
        "a,b,y\n1.5,2,0\n-1,0.5,1\n",
        "a , b , y\n 1.5 , 2 , cat \n-1, 0.5,dog\n",
        'a,"b",y\n"1.5",2,"cat, big"\n-1,0.5,dog\n',
        "a,b,y\n\n1.5,2,0\n\n-1,0.5,1\n\n",
        "a\tb\ty\n1.5\t2\t0.25\n-1\t0.5\t1\n",
        "y,a\n1,2\n0,3\n",
        "a,b,y\n1,2,3\n",
        "a,b,y\n1,2,#1\n3,4,#2\n",
        "a,b,y\r\n1,2,0\r\n3,4,1\r\n",
    ],
    ids=["plain", "spaces", "quoted", "blank", "tab", "one-feature", "one-row", "hash", "crlf"],
)
def test_csv_fast_reader_agrees_with_the_field_by_field_one(tmp_path, monkeypatch, text):
    """NumPy's parser reads a CSV as Python's csv module and float() do."""
    import optsweep.engine.data as data

    p = tmp_path / "d.csv"
    p.write_bytes(text.encode())
    fast = []
    loadtxt = data._loadtxt
    monkeypatch.setattr(data, "_loadtxt", lambda *a: fast.append(loadtxt(*a)) or fast[-1])
    X, y, names = load_csv(p, "y")
    monkeypatch.setattr(data, "_loadtxt", lambda *a: None)  # the field-by-field reader
    X2, y2, names2 = load_csv(p, "y")
    assert fast and (fast[0] is not None) == ('"' not in text)  # NumPy's parser, unquoted
    assert names == names2
    np.testing.assert_array_equal(X, X2)
    assert y.dtype == y2.dtype and y.tolist() == y2.tolist()


def test_a_dataset_shows_as_one_line():
    """``prepare(...)`` in a notebook cell printed every array, thousands of numbers."""
    X, y = load_data("moons", n_samples=300, noise=0.2, seed=3)
    d = prepare(X, y, val_fraction=0.25, seed=0, standardize=True, name="moons")
    assert repr(d) == (
        f"<Dataset 'moons': {len(d.X_train)} training and {len(d.X_val)} validation samples, "
        "2 features, 2 classes, inputs standardised, float64>"
    )
    r = prepare(X, X[:, 0] * 3.0, seed=0, standardize=True)
    assert "0 validation samples, 2 features, a regression target, inputs and targets" in repr(r)
