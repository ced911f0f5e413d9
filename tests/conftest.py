"""Shared fixtures. pytest puts this folder on sys.path, so tests import
``seed_reference`` (the transcription of the seed's code) directly."""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
