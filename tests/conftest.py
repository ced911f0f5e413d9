"""Shared fixtures. pytest puts this folder on sys.path, so tests import
``seed_reference`` (the transcription of the seed's code) directly."""

import signal

import numpy as np
import pytest

# Ctrl-C reaches the commands the tests start: a process started with SIGINT
# ignored (a background job of a script, nohup) passes that on to its
# children, and an ignored Ctrl-C stays ignored in optsweep as in Python, so
# that every Ctrl-C test would fail there. A handled signal is reset to its
# default in a child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
