"""One process at a time in a run folder: :class:`RunLock` and :class:`RunLockedError`.

Part of :mod:`latentkit.engine`; see its docstring for the contract.

The lock is an exclusive, non-blocking ``fcntl.flock`` on ``FOLDER/.lock``. The kernel drops it when the
holding process exits, however it exits (``SIGKILL`` and power loss included), so a ``.lock`` file left by a
dead process never blocks the next run; the file itself stays (deleting lock files races with other
processes opening them) and names the holder while it is held. ``flock`` locks belong to the open file, so
two :class:`RunLock`\\ s of one process on one folder exclude each other as two processes would, and locks
on different folders (a parent and its subfolder) are independent. POSIX only (Linux, macOS).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

import torch.distributed as dist

from latentkit.engine.runtime import DistInfo

__all__ = ["RunLock", "RunLockedError", "acquire_run_lock"]

LOCK_NAME = ".lock"  # the lock file inside a run folder


class RunLockedError(RuntimeError):
    """A run folder is locked by another process (or by another :class:`RunLock` of this one).

    Attributes ``folder``, ``pid``, ``host`` and ``started`` repeat what the message says (``None`` where
    the lock file named no holder, e.g. read in the instant between locking and writing it).
    """

    def __init__(
        self, message: str, *, folder: Path, pid: int | None = None, host: str | None = None, started: str | None = None
    ):
        super().__init__(message)
        self.folder, self.pid, self.host, self.started = folder, pid, host, started


class RunLock:
    """An exclusive lock on a run folder, held while a process trains (or otherwise writes) in it.

    ``RunLock(folder)`` creates ``folder`` if needed; entering it (or :meth:`acquire`) takes an exclusive,
    non-blocking ``flock`` on ``folder/.lock`` and writes the holder's PID, host name and start time into the
    file; leaving it (or :meth:`release`) truncates the file and unlocks. A lock held elsewhere raises
    :class:`RunLockedError` at once, naming the folder and the holder. The kernel releases the lock of a
    process that dies, so a stale ``.lock`` file does not block. Acquiring one object twice without
    releasing it raises ``RuntimeError`` (the lock is not re-entrant); after a release it may be taken again.

    Arguments:
        folder: the run folder (the lock file is ``folder/.lock``).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with RunLock(folder) as lock:
        ...     try:
        ...         RunLock(folder).acquire()
        ...     except RunLockedError as err:
        ...         print(err.pid == os.getpid(), "in use by process" in str(err))
        True True
        >>> lock.held, RunLock(folder).acquire().held  # released on exit
        (False, True)
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunLockedError` at once. Returns ``self``."""
        if self._fd is not None:
            raise RuntimeError(f"{self!r} is already held by this object; a RunLock is not re-entrant")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise self._locked_error(holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
        except BaseException:
            os.close(fd)  # closing the last descriptor of the open file drops the lock
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the file no longer names a holder
            fcntl.flock(fd, fcntl.LOCK_UN)  # also for forked children sharing the descriptor
        finally:
            os.close(fd)

    def _locked_error(self, holder: dict) -> RunLockedError:
        pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
        if isinstance(pid, int):
            this = "this process, " if pid == os.getpid() and host == socket.gethostname() else ""
            who = f"process {pid} ({this}started {started} on host {host})"
        else:
            who = f"another process (its lock file {self.path} does not name it)"
        return RunLockedError(
            f"run folder {self.folder} is in use by {who}; wait for it to finish or train "
            "into another folder (--out / out_dir)",
            folder=self.folder,
            pid=pid if isinstance(pid, int) else None,
            host=host,
            started=started,
        )

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.folder)!r}, held={self.held})"


def acquire_run_lock(folder: str | Path, dist_info: DistInfo) -> RunLock | None:
    """Take ``folder``'s lock for a run of ``dist_info.world_size`` processes: rank 0 takes it, the others
    learn whether it could (a collective under ``torchrun``), and every rank raises if it is taken.

    Returns:
        The held :class:`RunLock` on rank 0 (release it when the run ends), ``None`` on the other ranks.

    Raises:
        RunLockedError: on every rank, when another process holds ``folder``.
    """
    lock, refusal = None, None
    if dist_info.is_main:
        try:
            lock = RunLock(folder).acquire()
        except RunLockedError as err:
            refusal = err
    if dist_info.world_size > 1:  # the other ranks learn whether rank 0 got it (else they would hang)
        box = [None if refusal is None else (str(refusal), refusal.pid, refusal.host, refusal.started)]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and refusal is None:
            message, pid, host, started = box[0]
            refusal = RunLockedError(message, folder=Path(folder), pid=pid, host=host, started=started)
    if refusal is not None:
        raise refusal
    return lock


def _read_holder(fd: int) -> dict:
    """The holder's record from a lock file; retried briefly, as the holder writes it just after locking."""
    for attempt in range(5):
        try:
            record = json.loads(os.pread(fd, 4096, 0).decode() or "null")
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict):
            return record
        time.sleep(0.01 * (attempt + 1))
    return {}


def _pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this machine (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
