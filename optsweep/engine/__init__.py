"""The pure-NumPy training engine (imports nothing from optuna, pandas or joblib)."""

from .data import (
    GENERATORS,
    REAL_DATASETS,
    Dataset,
    Standardizer,
    batch_sizes,
    encode_labels,
    load_csv,
    load_data,
    load_npz,
    make_blobs,
    make_circles,
    make_moons,
    make_sine,
    make_spirals,
    make_xor,
    prepare,
)
from .layers import ACTIVATIONS, HEADS
from .network import Network
from .optimizers import GD, OPTIMIZERS, Adam, Momentum, Optimizer, RMSprop, make_optimizer
from .schedules import KINDS as SCHEDULES
from .schedules import Schedule
from .train import HISTORY_COLUMNS, ModelConfig, TrainConfig, TrainResult, build_network, fit, train

__all__ = [
    "ACTIVATIONS",
    "GD",
    "GENERATORS",
    "HEADS",
    "HISTORY_COLUMNS",
    "OPTIMIZERS",
    "REAL_DATASETS",
    "SCHEDULES",
    "Adam",
    "Dataset",
    "ModelConfig",
    "Momentum",
    "Network",
    "Optimizer",
    "RMSprop",
    "Schedule",
    "Standardizer",
    "TrainConfig",
    "TrainResult",
    "batch_sizes",
    "build_network",
    "encode_labels",
    "fit",
    "load_csv",
    "load_data",
    "load_npz",
    "make_blobs",
    "make_circles",
    "make_moons",
    "make_optimizer",
    "make_sine",
    "make_spirals",
    "make_xor",
    "prepare",
    "train",
]
