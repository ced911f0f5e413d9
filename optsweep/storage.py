"""Optuna storages from a sweep's ``storage`` string.

- a path (the default is ``results/NAME/study.journal``): Optuna's journal
  storage on a file (``JournalFileBackend``), the documented choice for
  several processes on one machine (SQLite locks under parallel writers);
  ``optuna-dashboard PATH`` opens it as is. Its writers take an ``flock``
  (:class:`FlockLock`) instead of Optuna's default symlink lock;
- a URL (``sqlite:///...``, ``postgresql+psycopg://...``): Optuna's
  relational storage, shared by hosts, with heartbeats when asked.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

#: Seconds between heartbeats of running trials on a server storage.
DEFAULT_HEARTBEAT = 10


class FlockLock:
    """The journal file's writer lock as an ``flock`` on ``PATH.flock``.

    Optuna's default lock (a symbolic link) is polled by waiters with sleeps
    that double from 1 ms, so under contention (workers reporting for
    pruning while the main process asks and tells) a 0.3 ms write costs its
    waiters several milliseconds; an ``flock`` waiter wakes as soon as the
    holder releases it, and the kernel releases the lock of a killed process,
    so it never goes stale. Local file systems only (for NFS, use a server
    storage).
    """

    def __init__(self, journal: str) -> None:
        self.path = journal + ".flock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)  # closing also drops the lock, if it was taken
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # drops the lock


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a database URL rather than a journal file path."""
    return "://" in spec


def open_storage(
    spec: str, heartbeat: int = 0, grace_period: int = 0
) -> optuna.storages.BaseStorage:
    """Open the storage named by ``spec`` (see the module docstring)."""
    if is_url(spec):
        # a server storage is shared by workers: heartbeats on by default
        heartbeat = heartbeat or DEFAULT_HEARTBEAT
        kwargs = {}
        if heartbeat > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
            kwargs = {
                "heartbeat_interval": heartbeat,
                "grace_period": grace_period or 3 * heartbeat,
                "heartbeat_stale_trial_callback": retry,
            }
        for attempt in range(5):
            try:
                with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return RDBStorage(spec, **kwargs)
            except sqlalchemy.exc.IntegrityError:
                # workers starting at once on an empty database race to create
                # Optuna's tables; the loser finds them made and tries again
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(spec), lock_obj=FlockLock(str(spec))))
