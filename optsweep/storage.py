"""Optuna storages from a sweep's ``storage`` string.

- a path (the default is ``results/NAME/study.journal``): Optuna's journal
  storage on a file (``JournalFileBackend``), the documented choice for
  several processes on one machine (SQLite locks under parallel writers);
  ``optuna-dashboard PATH`` opens it as is. Its writers take an ``flock``
  (:class:`FlockLock`) instead of Optuna's default symlink lock, and the file
  reaches the disk within a second of every write rather than at every
  write (:class:`JournalFile`);
- a URL (``sqlite:///...``, ``postgresql+psycopg://...``): Optuna's
  relational storage, shared by hosts, with heartbeats when asked.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from .config import SYNC_SECONDS
from .errors import ConfigError, OptsweepError

log = logging.getLogger(__name__)

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
        self._fd: int | None = None  # kept open: a write is a flock, not an open
        self._pid = 0  # the process that opened it (a forked child opens its own)
        self._mutex = threading.Lock()  # an flock does not exclude this process's threads

    def acquire(self) -> bool:
        if self._pid != os.getpid():  # first use, or in a forked child, which
            # opens a file of its own (its copy of the parent's, closed by the
            # parent's finalizer, would share the parent's lock)
            self._fd, self._pid, self._mutex = None, os.getpid(), threading.Lock()
        self._mutex.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                weakref.finalize(self, os.close, self._fd)  # closed with the lock object
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise
        return True

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class JournalFile(JournalFileBackend):
    """Optuna's journal file, synced to disk within ``sync_seconds`` of a write.

    Optuna's :class:`~optuna.storages.journal.JournalFileBackend` calls
    ``fsync`` after every write: ten or more a trial (its creation, each
    parameter, each report to the pruner, attributes, its end), which on
    this machine is a third of a vectorized sweep's time. Here a write goes
    to the file under the writers' lock as before, so every process sees it
    at once and a killed process (Ctrl-C, ``kill -9``) loses nothing; a
    timer then flushes the file to disk at most ``sync_seconds`` later, one
    ``fsync`` for every write made meanwhile by any process (``fsync`` is per
    file). Only a power failure or a kernel crash can lose writes, those of
    the last ``sync_seconds``, whose trials are then run again: the policy
    of Redis's ``appendfsync everysec``. ``sync_seconds=0`` syncs every
    write, as Optuna does.
    """

    def __init__(
        self,
        file_path: str,
        lock_obj: Any = None,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        super().__init__(file_path, lock_obj)
        self.sync_seconds = sync_seconds
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._local = threading.local()  # .held: this thread's writes held by batched()
        _JOURNALS.add(self)

    def read_logs(self, log_number_from: int):
        """The records from number ``log_number_from`` on, read in one piece.

        Every process reads every other's records (a run's reports to the
        pruner are most of them), so this is most of a journal's cost: one
        ``stat`` when nothing is new (the common case), else one read of
        the new bytes up to the last complete line. Anything unusual (a
        record that does not parse, a number not read before) goes to
        Optuna's own reader; a record it cannot parse either stops with one
        line naming the file and the line.
        """
        if getattr(self._local, "held", None) is not None:
            # inside batched(): this thread's own writes are held, and others'
            # are read after it (as if the batch had been written before them)
            return iter(())
        start = self._log_number_offset.get(log_number_from)
        if start is None:
            return self._read_logs_as_optuna(log_number_from)
        size = os.stat(self._file_path).st_size
        if size <= start:
            return iter(())
        with open(self._file_path, "rb") as f:
            f.seek(start)
            data = f.read(size - start)
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        if end == 0:
            return iter(())
        try:
            logs = [json.loads(line) for line in data[:end].split(b"\n")[:-1]]
        except ValueError:
            return self._read_logs_as_optuna(log_number_from)
        self._log_number_offset[log_number_from + len(logs)] = start + end
        return iter(logs)

    def _read_logs_as_optuna(self, log_number_from: int):
        """Optuna's reader, whose error for a record that does not parse
        (only a torn last line is expected, and skipped) becomes one line."""
        try:
            return list(super().read_logs(log_number_from))  # a generator: it raises as it goes
        except json.JSONDecodeError as e:
            with open(self._file_path, "rb") as f:
                bad = (i for i, text in enumerate(f, 1) if text[-1:] == b"\n" and not _parses(text))
                line = next(bad, "?")
            raise OptsweepError(
                f"{self._file_path}: line {line} is not a journal record ({e.msg}): the journal "
                "is damaged (a torn last line is cut by the next run, a line before it is not); "
                "restore the file from a copy"
            ) from None

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Hold this process's writes and make them one write at the end.

        For a population's reports to the pruner, or a trial's parameters
        when it is asked: each is a write, which the storage reads back at
        once; held, they cost one write and no read. Reads wait for the end
        of the batch too (they could only see other processes' writes, each a
        ``stat`` when there are none): what needs those must read before the
        batch, as the tell of a pruned trial does (its value is the last report
        a worker wrote). Only writes that nothing reads back before the end
        may be held (a trial object keeps its own reports and parameters). Per
        thread: the runner asks in joblib's thread while its main thread
        tells, and those writes are not held.
        """
        local = self._local
        if getattr(local, "held", None) is not None:  # nested: the outer one writes
            yield
            return
        local.held = []
        try:
            yield
        finally:
            logs, local.held = local.held, None
            if logs:
                self.append_logs(logs)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:
            held.extend(logs)
            return
        text = "\n".join(json.dumps(e, separators=(",", ":")) for e in logs) + "\n"
        self._lock.acquire()
        try:
            with open(self._file_path, "ab") as f:
                f.write(text.encode("utf-8"))
                if self.sync_seconds <= 0:
                    f.flush()
                    os.fsync(f.fileno())
        finally:
            self._lock.release()
        if self.sync_seconds > 0:
            with self._timer_lock:
                if self._timer is None:
                    self._timer = threading.Timer(self.sync_seconds, self.sync)
                    self._timer.daemon = True
                    self._timer.start()

    def sync(self) -> None:
        """Flush the file to disk now (and cancel a pending timer)."""
        with self._timer_lock:
            timer, self._timer = self._timer, None
        if timer is None:
            return
        timer.cancel()  # a no-op when the timer itself is calling
        try:
            fd = os.open(self._file_path, os.O_RDONLY)
        except FileNotFoundError:  # removed since (a temporary study): nothing to keep
            return
        try:
            os.fsync(fd)  # the writes are in the file: any descriptor flushes them
        except OSError as e:  # from the timer's thread: say it, do not raise
            log.warning("could not flush %s to disk: %s", self._file_path, e)
        finally:
            os.close(fd)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


_JOURNALS: weakref.WeakSet[JournalFile] = weakref.WeakSet()  # this process's, for sync_journals
_BACKENDS: weakref.WeakKeyDictionary[JournalStorage, JournalFile] = weakref.WeakKeyDictionary()


def batched_writes(storage: optuna.storages.BaseStorage) -> contextlib.AbstractContextManager:
    """:meth:`JournalFile.batched` for a journal file opened by :func:`open_storage`;
    for other storages, nothing."""
    backend = _BACKENDS.get(storage)
    return contextlib.nullcontext() if backend is None else backend.batched()


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's timer threads: let its own
    writes start their own (and not wait on a lock held by a parent thread)."""
    for backend in list(_JOURNALS):
        backend._timer = None
        backend._timer_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def sync_journals() -> None:
    """Flush every journal file of this process with writes not yet on disk
    (called at the end of a run, and when the process exits)."""
    for backend in list(_JOURNALS):
        backend.sync()


def repair_journal_tail(path: str | Path) -> int:
    """Cut a torn last record from a journal file; return the bytes cut.

    A crash of the machine (not of a process: its writes are whole lines in
    the file) can leave the journal ending in part of a line, or in zeros
    that some file systems show for data never flushed. Optuna reads past
    such a tail, but the next record appended to it would corrupt the line
    and make every later read fail. Call it only while no process writes the
    file (optsweep holds its run lock).
    """
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        while end > 0:  # back to the last newline, a block at a time
            start = max(0, end - 65536)
            f.seek(start)
            block = f.read(end - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            end = start
        if end < size:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return size - end


#: The file in a results directory that ``optsweep run`` holds an ``flock`` on.
RUN_LOCK = ".lock"


def run_active(directory: str | Path) -> bool:
    """Whether an ``optsweep run`` holds the results directory's run lock now
    (the kernel drops it when that process dies, even by SIGKILL)."""
    try:
        fd = os.open(Path(directory) / RUN_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock, if this process took it
    return False


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a database URL rather than a journal file path."""
    return "://" in spec


def shown(spec: str) -> str:
    """A storage for display: a URL's password masked."""
    if not is_url(spec):
        return spec
    from sqlalchemy.engine import make_url

    try:
        return make_url(spec).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: show it as given
        return spec


def _open_rdb(spec: str, kwargs: dict) -> RDBStorage:
    import sqlalchemy.exc

    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(spec, **kwargs)
        except sqlalchemy.exc.IntegrityError:
            # workers starting at once on an empty database race to create
            # Optuna's tables; the loser finds them made and tries again
            attempt += 1
            if attempt == 5:
                raise
            time.sleep(0.2 * attempt)


def open_storage(
    spec: str,
    heartbeat: int = 0,
    grace_period: int = 0,
    sync_seconds: float = SYNC_SECONDS,
) -> optuna.storages.BaseStorage:
    """Open the storage named by ``spec`` (see the module docstring);
    ``sync_seconds`` is a journal file's delay to disk (:class:`JournalFile`)."""
    if is_url(spec):
        import sqlalchemy.exc  # here: a tenth of a second, which a journal file need not pay

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
        try:
            return _open_rdb(spec, kwargs)
        except ImportError as e:  # Optuna's words for a missing database driver
            why = (
                f"its database driver is missing ({e}); "
                "for PostgreSQL: pip install 'optsweep[distributed]'"
            )
        except sqlalchemy.exc.ArgumentError as e:  # NoSuchModuleError too: an unknown dialect
            why = f"not a database URL SQLAlchemy knows ({e})"
        except sqlalchemy.exc.OperationalError as e:  # unreachable, refused, a bad password
            why = f"cannot open it ({str(e.orig or e).strip().splitlines()[0]})"
        raise ConfigError(f"storage {shown(spec)}: {why}")
    Path(spec).parent.mkdir(parents=True, exist_ok=True)
    backend = JournalFile(str(spec), FlockLock(str(spec)), sync_seconds)
    storage = JournalStorage(backend)
    _BACKENDS[storage] = backend
    return storage
