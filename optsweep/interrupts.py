"""Ctrl-C taken once: the same press delivered again is not a new one."""

from __future__ import annotations

import math
import signal
import time

#: Seconds within which another Ctrl-C counts as the same press: ``timeout
#: -s INT`` signals a command and then its process group, and a hurried
#: press comes twice. Taken once, a Ctrl-C lets the clean-up finish; a second
#: KeyboardInterrupt cut joblib's short, which left its workers (which ignore
#: Ctrl-C) running, and the command then waited for them at exit.
SAME_PRESS = 1.0
_last_press = -math.inf

#: The signal of the last stop taken (SIGINT, or SIGTERM), None before any.
taken: int | None = None


def new_press(signum: int = signal.SIGINT) -> bool:
    """Whether a Ctrl-C (or SIGTERM) arriving now is a new one, to be taken
    (True), or the one just taken delivered again (within
    :data:`SAME_PRESS` seconds)."""
    global _last_press, taken
    now = time.monotonic()
    if now - _last_press <= SAME_PRESS:
        return False
    _last_press, taken = now, signum
    return True
