"""Each schedule against its formula."""

import pickle

import numpy as np
import pytest

from optsweep.engine import Schedule

EPOCHS = np.arange(0, 25)


@pytest.mark.parametrize(
    ("schedule", "formula"),
    [
        (Schedule("constant"), lambda e: 0.1 + 0 * e),
        (Schedule("inverse_time", decay_rate=0.5), lambda e: 1 / (1 + 0.5 * e) * 0.1),
        (
            Schedule("staircase", decay_rate=0.3, interval=4),
            lambda e: 0.1 / (1 + 0.3 * np.floor(e / 4)),
        ),
        (Schedule("exponential", decay_rate=0.95), lambda e: 0.1 * 0.95**e),
        (Schedule("inverse_sqrt", k=2.0), lambda e: 0.1 * 2.0 / np.sqrt(e + 1)),
    ],
)
def test_schedule_formula(schedule, formula):
    got = np.array([schedule(0.1, int(e)) for e in EPOCHS])
    np.testing.assert_allclose(got, formula(EPOCHS), rtol=1e-15)
    # vectorised over epochs gives the same numbers
    np.testing.assert_allclose(schedule(0.1, EPOCHS), got, rtol=0)
    assert pickle.loads(pickle.dumps(schedule)) == schedule


def test_staircase_steps_on_interval():
    s = Schedule("staircase", decay_rate=1.0, interval=10)
    assert s(1.0, 0) == s(1.0, 9) == 1.0
    assert s(1.0, 10) == 0.5
    assert s(1.0, 20) == pytest.approx(1 / 3)


def test_inverse_sqrt_is_defined_at_epoch_zero():
    assert Schedule("inverse_sqrt", k=1.0)(0.2, 0) == 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "cosine"}, "schedule must be one of"),
        (
            {"kind": "inverse_time", "decay_rate": -1},
            "decay_rate must be >= 0 for inverse_time (got -1)",
        ),
        (
            {"kind": "exponential", "decay_rate": 1.5},
            "decay_rate must be in (0, 1] for exponential (got 1.5)",
        ),
        (
            {"kind": "staircase", "decay_rate": 1, "interval": 0},
            "interval must be an integer >= 1 (got 0)",
        ),
        ({"kind": "inverse_sqrt", "k": 0}, "k must be > 0 for inverse_sqrt (got 0)"),
    ],
)
def test_bad_schedule(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Schedule(**kwargs)
