"""Optuna storages from a sweep's ``storage`` string.

- a path (the default is ``results/NAME/study.journal``): Optuna's journal
  storage on a file (``JournalFileBackend``), process-safe through its lock
  file, the documented choice for several processes on one machine (SQLite
  locks under parallel writers); ``optuna-dashboard PATH`` opens it as is;
- a URL (``sqlite:///...``, ``postgresql+psycopg://...``): Optuna's
  relational storage, shared by hosts, with heartbeats when asked.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a database URL rather than a journal file path."""
    return "://" in spec


def open_storage(
    spec: str, heartbeat: int = 0, grace_period: int = 0
) -> optuna.storages.BaseStorage:
    """Open the storage named by ``spec`` (see the module docstring)."""
    if is_url(spec):
        kwargs = {}
        if heartbeat > 0:
            kwargs = {
                "heartbeat_interval": heartbeat,
                "grace_period": grace_period or 4 * heartbeat,
                "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=3
                ),
            }
        return RDBStorage(spec, **kwargs)
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(spec)))
