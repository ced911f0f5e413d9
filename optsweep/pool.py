"""joblib's process pool as the runner and the report use it: one BLAS thread
per worker, Ctrl-C left to the main process, and workers started in the
background while the main process gets on with its own work."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import joblib


def parallel(n_jobs: int, backend: str = "loky", **kwargs) -> joblib.Parallel:
    """joblib's process pool; each worker limited to one BLAS/OpenMP thread so
    that n_jobs workers do not oversubscribe the cores. n_jobs=1 runs in-process.
    With the Dask backend the jobs go to the cluster's workers.

    The same settings every time, so that joblib reuses one set of worker
    processes (a sweep's, then its report's) instead of starting new ones.
    Arguments are pickled, not dumped to disk when large (``max_nbytes``):
    a sweep's data go as memory maps of their own (:func:`.runner.share_data`),
    which joblib passes by reference all the same, and dumping the report's
    tables for every figure took longer than drawing them (its eight figures
    on two workers: 1.5 s pickled, 2.5 s dumped)."""
    if backend == "dask":
        with joblib.parallel_config(backend="dask"):
            return joblib.Parallel(n_jobs=-1, **kwargs)
    if n_jobs == 1:
        return joblib.Parallel(n_jobs=1, backend="sequential", **kwargs)
    # each worker watches for its parent's end from its start (loky's
    # initializer), not from its first job: a command killed while its
    # workers start may never hand them one
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1, initializer=watch_parent):
        return joblib.Parallel(n_jobs=n_jobs, max_nbytes=None, **kwargs)


def in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


#: The signals that stop a command: Ctrl-C, and SIGTERM (``kill PID``,
#: ``timeout``, a batch scheduler's stop), taken the same way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def sigint(handler: Any, signals: tuple[int, ...] = (signal.SIGINT,)) -> Iterator[None]:
    """``signals`` (SIGINT: Ctrl-C) go to ``handler`` in the block; signals
    reach the main thread only, so elsewhere this does nothing."""
    if not in_main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


_watching = False


def watch_parent(every: float = 1.0) -> None:
    """In a worker process, end it once the process that started it has gone
    (``kill -9``, a crash): loky's workers otherwise outlive it for ever, each
    blocked on the pipe to the other. A thread looks every ``every``
    seconds; started once, as the worker starts (:func:`parallel`'s
    initializer)."""
    global _watching
    parent = multiprocessing.parent_process()
    if _watching or parent is None or parent.pid is None:
        return
    _watching = True

    def watch() -> None:
        while os.getppid() == parent.pid:  # an orphan's parent is init, or a subreaper
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="optsweep-parent-watch", daemon=True).start()


class PoolStart:
    """Worker processes started in the background (about a quarter of a
    second, more with their imports) while the main process works; the next
    :func:`parallel` with the same ``n_jobs`` reuses them. Each worker runs
    ``job()`` first: unpickling it imports its module there. :meth:`wait`
    until they are up: a started job must not be dropped, or joblib stops
    the pool."""

    def __init__(self, n_jobs: int, backend: str, job: Callable[[], object]) -> None:
        self.n_jobs = n_jobs
        self.started = None
        if backend == "loky" and n_jobs > 1:
            self.parallel = parallel(n_jobs, backend, return_as="generator_unordered")
            # the workers start with Ctrl-C and SIGTERM ignored (kept across
            # exec), so that one sent to the process group while they import
            # does not print their tracebacks or kill them mid-trial; the main
            # process handles it
            with sigint(signal.SIG_IGN, STOP_SIGNALS):
                self.started = self.parallel(joblib.delayed(job)() for _ in range(n_jobs))

    @property
    def pending(self) -> bool:
        """Whether the workers are still starting."""
        if self.started is None:
            return False
        return self.parallel.n_completed_tasks < self.n_jobs

    def wait(self) -> None:
        if self.started is not None:
            for _ in self.started:
                pass
            self.started = None

    def __enter__(self) -> PoolStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()
