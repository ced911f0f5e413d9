"""Ctrl-C (or SIGTERM) taken once: the same press delivered again is not a
new one, and the process pool's teardown after it is not shown failing."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time

log = logging.getLogger(__name__)

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
    if threading.excepthook is not _quiet_teardown:
        global _next_hook
        _next_hook, threading.excepthook = threading.excepthook, _quiet_teardown
    futures = logging.getLogger("concurrent.futures")
    if _quiet_callbacks not in futures.filters:
        futures.addFilter(_quiet_callbacks)
    return True


#: Seconds after a stop during which the pool's teardown is not shown failing.
TEARDOWN = 10.0
_next_hook = threading.__excepthook__  # what :func:`_quiet_teardown` hands on to


def _tearing_down() -> bool:
    """Whether a stop was taken less than :data:`TEARDOWN` seconds ago."""
    return time.monotonic() - _last_press < TEARDOWN


def _quiet_teardown(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook`` once a stop is taken: loky's manager thread
    can fail in its own bookkeeping while joblib tears the pool down after
    it (a KeyError on a work item the abort had removed, seen once in a
    test run on a loaded machine); the run is stopping, its trials are
    marked, so that is logged at debug level rather than printed. Any other
    thread's exception, or one long after the stop, goes on as before."""
    loky = args.thread is not None and args.thread.name == "ExecutorManagerThread"
    if loky and _tearing_down():
        log.debug("process pool teardown after a stop: %r", args.exc_value)
        return
    _next_hook(args)


def _quiet_callbacks(record: logging.LogRecord) -> bool:
    """A filter of the ``concurrent.futures`` logger once a stop is taken:
    a job finishing as joblib tears the pool down after it runs joblib's
    callback, which dispatches the next batch to the pool just shut down
    (``ShutdownExecutorError``, a traceback under "interrupted" once in 85
    double Ctrl-Cs); that callback's failure is logged at debug level, like
    :func:`_quiet_teardown`'s. Any other record, or one long after the
    stop, goes on."""
    if str(record.msg).startswith("exception calling callback") and _tearing_down():
        log.debug(
            "process pool teardown after a stop: %s", record.getMessage(), exc_info=record.exc_info
        )
        return False
    return True
