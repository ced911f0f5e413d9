"""Data: toy generators, CSV/NPZ loading, a seeded split and standardisation.

Arrays are one sample per row: ``X`` is ``(n, features)``, ``y`` is ``(n,)``
(class labels ``0..k-1``) or ``(n,)``/``(n, outputs)`` for regression.
Labels given as names (``"cat"``, ``"dog"``) or as other integers (``-1``/``1``,
``1``/``2``) become ``0..k-1`` in sorted order (:func:`encode_labels`), their
names kept beside the arrays.

``make_moons`` and ``make_circles`` follow scikit-learn's algorithms draw for
draw (``sklearn/datasets/_samples_generator.py``): for the same
``numpy.random.RandomState`` they return bit-identical arrays, so the seed's
course data (``np.random.seed(3); make_moons(300, noise=0.2)``) is reproduced
without scikit-learn.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RandomLike = int | np.random.RandomState | None

REAL_DATASETS = ("digits", "breast_cancer", "wine", "iris", "diabetes")


def check_random_state(seed: RandomLike) -> np.random.RandomState:
    """A ``RandomState`` from ``None`` (the global one), an int, or itself."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    raise ValueError(f"random_state must be None, an int or a RandomState (got {seed!r})")


def _halves(n_samples: int) -> tuple[int, int]:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1 (got {n_samples!r})")
    return n_samples // 2, n_samples - n_samples // 2


def _shuffle_and_noise(X, y, noise, rs, shuffle):
    # sklearn.utils.shuffle: indices = arange(n); random_state.shuffle(indices)
    if shuffle:
        idx = np.arange(X.shape[0])
        rs.shuffle(idx)
        X, y = X[idx], y[idx]
    if noise is not None:
        X += rs.normal(scale=noise, size=X.shape)
    return X, y


def make_moons(
    n_samples: int = 100,
    *,
    shuffle: bool = True,
    noise: float | None = None,
    random_state: RandomLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's ``make_moons``, draw for draw)."""
    n_out, n_in = _halves(n_samples)
    rs = check_random_state(random_state)
    outer_x = np.cos(np.linspace(0, np.pi, n_out))
    outer_y = np.sin(np.linspace(0, np.pi, n_out))
    inner_x = 1 - np.cos(np.linspace(0, np.pi, n_in))
    inner_y = 1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5
    X = np.vstack([np.append(outer_x, inner_x), np.append(outer_y, inner_y)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffle_and_noise(X, y, noise, rs, shuffle)


def make_circles(
    n_samples: int = 100,
    *,
    shuffle: bool = True,
    noise: float | None = None,
    random_state: RandomLike = None,
    factor: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one (scikit-learn's ``make_circles``)."""
    if not 0 <= factor < 1:
        raise ValueError(f"factor must be in [0, 1) (got {factor!r})")
    n_out, n_in = _halves(n_samples)
    rs = check_random_state(random_state)
    lin_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    lin_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    X = np.vstack(
        [
            np.append(np.cos(lin_out), np.cos(lin_in) * factor),
            np.append(np.sin(lin_out), np.sin(lin_in) * factor),
        ]
    ).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    return _shuffle_and_noise(X, y, noise, rs, shuffle)


def make_spirals(
    n_samples: int = 300,
    *,
    n_classes: int = 3,
    noise: float = 0.2,
    turns: float = 1.0,
    random_state: RandomLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved arms of an Archimedean spiral (CS231n's toy data).

    Arm ``c`` has radius ``r = t`` and angle ``2 pi turns t + 2 pi c / k`` for
    ``t`` in ``[0, 1]``, with Gaussian noise of ``noise`` radians on the angle.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2 (got {n_classes!r})")
    _halves(n_samples)
    rs = check_random_state(random_state)
    y = np.arange(n_samples, dtype=np.intp) % n_classes
    t = rs.uniform(0, 1, n_samples)
    angle = 2 * np.pi * (turns * t + y / n_classes) + rs.normal(scale=noise, size=n_samples)
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    return X, y


def make_blobs(
    n_samples: int = 300,
    *,
    centers: int = 3,
    n_features: int = 2,
    cluster_std: float = 1.0,
    box: float = 10.0,
    random_state: RandomLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters with centres uniform in ``[-box, box]``."""
    if isinstance(centers, bool) or not isinstance(centers, int) or centers < 2:
        raise ValueError(f"centers must be an integer >= 2 (got {centers!r})")
    if not isinstance(n_features, int) or n_features < 1:
        raise ValueError(f"n_features must be an integer >= 1 (got {n_features!r})")
    if not cluster_std > 0:
        raise ValueError(f"cluster_std must be > 0 (got {cluster_std!r})")
    _halves(n_samples)
    rs = check_random_state(random_state)
    mu = rs.uniform(-box, box, size=(centers, n_features))
    y = rs.permutation(np.arange(n_samples, dtype=np.intp) % centers)
    X = mu[y] + rs.normal(scale=cluster_std, size=(n_samples, n_features))
    return X, y


def make_xor(
    n_samples: int = 300,
    *,
    noise: float = 0.1,
    random_state: RandomLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in ``[-1, 1]^2``, label 1 where ``x0 * x1 > 0``, with
    Gaussian noise added to the inputs after labelling."""
    _halves(n_samples)
    rs = check_random_state(random_state)
    X = rs.uniform(-1, 1, size=(n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.intp)
    X += rs.normal(scale=noise, size=X.shape)
    return X, y


def make_sine(
    n_samples: int = 200,
    *,
    noise: float = 0.1,
    periods: float = 1.0,
    random_state: RandomLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A regression on one input: ``x`` uniform over ``periods`` periods of
    the sine, centred on 0, and ``y = sin(x)`` plus Gaussian noise of
    standard deviation ``noise``. ``X`` is ``(n, 1)``, ``y`` real ``(n,)``."""
    _halves(n_samples)
    if not periods > 0:
        raise ValueError(f"periods must be > 0 (got {periods!r})")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0 (got {noise!r})")
    rs = check_random_state(random_state)
    x = rs.uniform(-np.pi * periods, np.pi * periods, n_samples)
    y = np.sin(x) + rs.normal(scale=noise, size=n_samples)
    return x[:, None], y


GENERATORS = {
    "moons": make_moons,
    "circles": make_circles,
    "spirals": make_spirals,
    "blobs": make_blobs,
    "xor": make_xor,
    "sine": make_sine,  # a regression
}


def load_real(name: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str | int]]:
    """scikit-learn's bundled data sets (no download): digits, breast_cancer,
    wine, iris; diabetes, a regression (a disease's progression a year on,
    from ten measurements).

    Returns
    -------
    X, y, feature_names, class_names
    """
    if name not in REAL_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(REAL_DATASETS)} (got {name!r})")
    try:
        from sklearn import datasets as skd
    except ImportError:
        raise ImportError(
            f"dataset {name!r} needs scikit-learn: pip install 'optsweep[datasets]'"
        ) from None
    bunch = getattr(skd, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float64)
    features = [str(f) for f in getattr(bunch, "feature_names", [])]
    if name == "diabetes":  # real-valued targets
        return X, np.asarray(bunch.target, dtype=np.float64), features, []
    classes = np.asarray(bunch.target_names).tolist()  # names, or the digits 0..9
    return X, np.asarray(bunch.target, dtype=np.intp), features, classes


def encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[str | int]]:
    """Class labels as ``0..k-1`` in sorted order, and the labels they stand for.

    Names (``"cat"``, ``"dog"``) and integers other than ``0..k-1`` (``-1``/``1``,
    ``1``/``2``) alike: a network's outputs are one per class, so a label
    that never occurs must not take one.
    """
    values, codes = np.unique(np.asarray(y), return_inverse=True)
    return codes.astype(np.intp).reshape(-1), values.tolist()  # names or ints, as given


class NotANumber(ValueError):
    """A CSV feature field that is not a number (its message names the
    line, the column and the value)."""


def load_csv(
    path: str | Path, label: str, columns: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a CSV with a header row; ``label`` names the target column and
    ``columns`` the feature columns, in order (default: all the others).

    Fields are separated by commas, semicolons or tabs (whichever the header
    has most of; with semicolons, numbers may have a decimal comma, as a
    spreadsheet set to a European locale writes them). Feature columns must
    be numeric. Labels that are all whole numbers come as integers, other
    numbers as floats, and anything else as the strings (class names) they
    are: :func:`load_data` encodes them. Blank lines are skipped.

    NumPy's own parser reads the file (several times faster than Python's
    on large files); a file it refuses is read again field by field, for an
    error that names the line, the column and the value.

    A missing value written as ``nan`` (or an infinity) is refused, naming
    its line and column, as an empty field is.

    Returns
    -------
    X, y, feature_names
    """
    X, y, feats = _read_csv(Path(path), label, columns)
    bad_x = ~np.isfinite(X)
    bad_y = ~np.isfinite(y) if y.dtype.kind == "f" else np.zeros(len(y), dtype=bool)
    if bad_x.any() or bad_y.any():
        s = int(np.flatnonzero(bad_x.any(axis=1) | bad_y)[0])
        if bad_x[s].any():
            j = int(np.flatnonzero(bad_x[s])[0])
            what = f"column {feats[j]!r} is {X[s, j]}"
        else:
            what = f"label column {label!r} is {y[s]}"
        raise ValueError(
            f"{path}: line {_line_of_row(Path(path), s)}, {what}: a network cannot train on "
            "missing or infinite values (fill or drop that row)"
        )
    return X, y, feats


def _line_of_row(path: Path, row: int) -> int:
    """The line number (from 1) of data row ``row`` (from 0) of a CSV file,
    counting the header and blank lines."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        n = -1
        for line_no, line in enumerate(f, start=1):
            if line_no > 1 and line.strip():
                n += 1
                if n == row:
                    return line_no
    return row + 2


def _read_csv(
    path: Path, label: str, columns: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`load_csv` without its check of the values."""
    with path.open(newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        first = f.readline()
        delimiter = max(",;\t", key=first.count)  # the first on a tie: a comma
        header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
        if not header:
            raise ValueError(f"{path}: empty CSV file")
        if label not in header:
            raise ValueError(f"{path}: label column {label!r} not in header ({', '.join(header)})")
        j = header.index(label)
        if columns is None:
            use = [i for i in range(len(header)) if i != j]
        else:
            for c in columns:
                if c not in header or c == label:
                    raise ValueError(
                        f"{path}: feature column {c!r} "
                        + ("is the label" if c == label else f"not in header ({', '.join(header)})")
                    )
            use = [header.index(c) for c in columns]
        feats = [header[i] for i in use]
        if delimiter != ";":  # decimal commas need the field-by-field reader
            fast = _loadtxt(f, delimiter, len(header), use, j)
            if fast is not None:
                return fast[0], _labels(fast[1], float), feats
        f.seek(0)
        rows = list(csv.reader(f, delimiter=delimiter))
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if r]  # (line, fields)
    if not body:
        raise ValueError(f"{path}: no data rows")
    number = (lambda v: float(v.replace(",", "."))) if delimiter == ";" else float
    X = np.empty((len(body), len(feats)))
    raw_y = []
    for s, (r, row) in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {r} has {len(row)} fields, header has {len(header)}")
        raw_y.append(row[j].strip())
        if not raw_y[-1]:  # a missing label would become a class of its own
            raise ValueError(f"{path}: line {r}, label column {label!r} is empty")
        for c, (i, v) in enumerate((i, row[i]) for i in use):
            try:
                X[s, c] = number(v)
            except ValueError:
                raise NotANumber(
                    f"{path}: line {r}, column {header[i]!r} is not a number (got {v!r})"
                ) from None
    return X, _labels(raw_y, number), feats


def _loadtxt(f, delimiter: str, width: int, features: list[int], label: int) -> tuple | None:
    """The body of an open CSV (after its header) by ``np.loadtxt``: the
    feature columns as floats and the label column as strings. None, for
    the field-by-field reader, where a line has another number of fields
    than the header's ``width`` (``usecols`` would skip them unchecked), a
    field is quoted (a quoted delimiter would make the count wrong), NumPy
    refuses a value, there are no rows, or a label is empty."""
    import warnings

    lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines or any(line.count(delimiter) != width - 1 or '"' in line for line in lines):
        return None
    opts = {"delimiter": delimiter, "comments": None, "ndmin": 1}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = np.loadtxt(lines, dtype=np.float64, usecols=features, **{**opts, "ndmin": 2})
            raw_y = np.char.strip(np.loadtxt(lines, dtype=str, usecols=[label], **opts))
    except ValueError:
        return None
    if len(raw_y) != len(X) or not np.char.str_len(raw_y).all():
        return None
    return X, raw_y.tolist()


def _labels(raw, number) -> np.ndarray:
    """A label column: integers if all are whole numbers, floats if numbers,
    else the strings."""
    try:
        y = np.array([number(v) for v in raw], dtype=np.float64)
    except ValueError:
        return np.array(raw, dtype=str)
    return y.astype(np.intp) if np.all(y == np.round(y)) else y


def load_npz(path: str | Path, x_key: str = "X", y_key: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Read ``X`` and ``y`` from an ``.npz`` file (never with pickle)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        for k in (x_key, y_key):
            if k not in z.files:
                raise ValueError(f"{path}: no array {k!r} (has {', '.join(z.files)})")
        return np.asarray(z[x_key], dtype=np.float64), np.asarray(z[y_key])


def check_Xy(X: np.ndarray, y: np.ndarray, where: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and finiteness; return ``X`` as float64 2-D and ``y``."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{where}: X must be 2-D (n, features) (got shape {X.shape})")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{where}: X and y have different lengths (X has {X.shape[0]} rows, y has {y.shape[0]})"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{where}: no samples")
    bad = ~np.isfinite(X)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}: X has non-finite values (first at row {r}, column {c}: {X[r, c]})"
        )
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        r = int(np.argwhere(~np.isfinite(y))[0][0])
        raise ValueError(f"{where}: y has non-finite values (first at row {r}: {y[r]})")
    return X, y


def split_indices(
    y: np.ndarray, val_fraction: float, seed: int | np.random.Generator, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation indices, stratified by class when asked.

    Each class contributes ``round(val_fraction * n_class)`` samples to the
    validation part (at least one when the class has two or more samples).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1) (got {val_fraction!r})")
    n = y.shape[0]
    if val_fraction == 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if stratify:
        val = []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = round(val_fraction * idx.size)
            k = min(max(k, 1 if idx.size > 1 else 0), idx.size - 1)
            val.append(idx[:k])
        val_idx = np.sort(np.concatenate(val))
    else:
        k = max(1, round(val_fraction * n))
        val_idx = np.sort(rng.permutation(n)[:k])
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / std`` with the mean and std of the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """``z * std + mean``: values back in the original units."""
        return Z * self.std + self.mean


@dataclass(frozen=True)
class Dataset:
    """Training and (optional) validation arrays, ready for :func:`train`.

    ``scaler`` standardised the inputs and ``target_scaler`` a regression's
    targets (both fitted on the training part); ``None`` where they are raw.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    name: str = "data"
    scaler: Standardizer | None = None
    target_scaler: Standardizer | None = None
    features: tuple[str, ...] = ()
    classes: tuple[str | int, ...] = ()

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of classes for integer labels (0 for real-valued targets)."""
        y = self.y_train
        if np.issubdtype(y.dtype, np.integer):
            ys = y if self.y_val is None else np.concatenate([y, self.y_val])
            return max(int(ys.max()) + 1, len(self.classes))
        return 0

    def __repr__(self) -> str:
        """One line, not the arrays: what a notebook shows for ``prepare(...)``."""
        n_val = 0 if self.X_val is None else len(self.X_val)
        k = self.n_classes
        target = f"{k} classes" if k else "a regression target"
        scaled = [w for w, s in (("inputs", self.scaler), ("targets", self.target_scaler)) if s]
        return (
            f"<Dataset {self.name!r}: {len(self.X_train)} training and {n_val} validation "
            f"samples, {self.n_features} features, {target}, "
            + (f"{' and '.join(scaled)} standardised" if scaled else "raw")
            + f", {self.X_train.dtype}>"
        )


def prepare(
    X: np.ndarray,
    y: np.ndarray,
    *,
    val_fraction: float = 0.0,
    seed: int = 0,
    standardize: bool = False,
    stratify: bool | None = None,
    name: str = "data",
    features: Sequence[str] = (),
    classes: Sequence[str | int] = (),
) -> Dataset:
    """Split ``(X, y)`` with a seed and standardise on the training part.

    ``standardize`` scales the inputs and, for real-valued targets (a
    regression), the targets too, each to mean 0 and standard deviation 1 on
    the training part: a target far from 0 (prices around 100, say) would
    otherwise take the output layer's bias many updates to reach, and its
    squared errors would set the learning rates that work. Losses are then
    in standardised units; R^2 is unchanged, and ``target_scaler.inverse``
    gives predictions in the original units. ``stratify`` defaults to True
    for integer (class) labels. ``features`` and ``classes`` name the
    columns of ``X`` and the class codes, for tables and plots.
    """
    X, y = check_Xy(X, y, name)
    if stratify is None:
        stratify = np.issubdtype(y.dtype, np.integer)
    tr, va = split_indices(y, val_fraction, seed, stratify)
    Xtr, ytr = X[tr], y[tr]
    Xva, yva = (X[va], y[va]) if va.size else (None, None)
    scaler = target = None
    if standardize:
        scaler = Standardizer.fit(Xtr)
        Xtr = scaler.transform(Xtr)
        Xva = None if Xva is None else scaler.transform(Xva)
        if np.issubdtype(ytr.dtype, np.floating):
            target = Standardizer.fit(ytr)
            ytr = target.transform(ytr)
            yva = None if yva is None else target.transform(yva)
    names = {"features": tuple(features), "classes": tuple(classes)}
    return Dataset(Xtr, ytr, Xva, yva, name=name, scaler=scaler, target_scaler=target, **names)


def load_data(
    source: str,
    *,
    seed: int = 0,
    label: str | None = None,
    legacy: bool = False,
    return_names: bool = False,
    columns: Sequence[str] | None = None,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, list[str], list[str | int]]:
    """Load ``(X, y)`` from a generator name, a real data set name, or a path.

    Generators take their keyword arguments (``n_samples``, ``noise``, ...)
    and draw from ``RandomState(seed)``. With ``legacy=True`` they draw from
    the global state after ``np.random.seed(seed)``, as the seed's course does.
    A ``.csv`` path needs ``label`` (and may name its feature ``columns``);
    an ``.npz`` path holds ``X`` and ``y``.
    Labels given as names are encoded as ``0..k-1`` (:func:`encode_labels`);
    numbers are returned as they are.

    Returns
    -------
    X, y
        or, with ``return_names``, ``X, y, features, classes``: the feature
        names (``x1, x2, ...`` where the source has none) and the name of
        each class code (empty where the codes are their own names).
    """
    features: list[str] = []
    classes: list[str | int] = []
    if source in GENERATORS:
        if legacy:
            np.random.seed(seed)  # noqa: NPY002 - the course seeds the global state
            rs: RandomLike = None
        else:
            rs = np.random.RandomState(seed)
        try:
            X, y = GENERATORS[source](random_state=rs, **kwargs)
        except TypeError as e:
            raise ValueError(f"data {source!r}: {e}") from None
    elif source in REAL_DATASETS:
        X, y, features, classes = load_real(source)
    elif (path := Path(source)).suffix == ".csv":
        if not label:
            raise ValueError(f"{path}: a CSV file needs the name of its label column")
        X, y, features = load_csv(path, label, columns)
    elif path.suffix == ".npz":
        X, y = load_npz(path)
    else:
        raise ValueError(
            f"data source must be a generator ({', '.join(GENERATORS)}), a data set "
            f"({', '.join(REAL_DATASETS)}) or a .csv/.npz path (got {source!r})"
        )
    if np.asarray(y).dtype.kind in "USO":
        y, classes = encode_labels(y)
    if not return_names:
        return X, y
    features = features or [f"x{j + 1}" for j in range(np.shape(X)[1] if np.ndim(X) == 2 else 0)]
    return X, y, features, classes


def batch_sizes(m: int, batch_size: int) -> list[int]:
    """Sizes of the mini-batches of one epoch: full batches, then the remainder.

    The seed's ``random_mini_batches``: ``floor(m / size)`` complete batches and
    a smaller last one when ``m % size != 0``. A size above ``m`` is one batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size!r})")
    b = min(batch_size, m)
    full, rest = divmod(m, b)
    return [b] * full + ([rest] if rest else [])
