"""JSON-ready values for Optuna's user attributes (no heavy imports: workers use it)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def clean_json(x: Any) -> Any:
    """NaN and inf to None, NumPy scalars to Python, recursively (for user attrs)."""
    if isinstance(x, dict):
        return {k: clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
