"""cinder_nb's own locks when the coordination URL is tooz's file driver: one kept lock per name.

Why: with ``file://`` every ``COORDINATOR.get_lock(name)`` builds a tooz ``FileLock`` and a
fasteners ``InterProcessLock``, and each acquire makes the directory tree, opens the file and
polls ``lockf``; every delete paid that (about 0.03 ms) for its delete lock and again for the
embedded driver's file lock. Here a name gets one object per process that keeps its file open.

The same exclusion as tooz, with the processes still going through tooz (an older cinder_nb,
Cinder code taking the same name):

* the file is the one tooz's file driver uses for the name (asked from the running driver,
  ``get_lock(name).name``), and the lock is an exclusive fcntl lock on the whole file, as
  fasteners' ``lockf``. It is an *open file description* lock (``F_OFD_SETLK``, Linux), not a
  process-owned ``lockf`` lock: OFD and ``lockf`` locks on a file conflict, also within one
  process, so a tooz lock of the same name taken by another thread of this process excludes
  too; and closing some other descriptor of the file (fasteners closes its own on every
  release) cannot drop this one's lock, which it would do for a process-owned lock.
* threads of one process share the descriptor, and a lock on one descriptor never conflicts
  with itself: a ``threading.Lock`` per name makes them take turns first.
* after ``fork()`` the child shares the parent's descriptors (and so their locks): an object
  used in a process other than the one that opened it opens its file again with a fresh
  ``threading.Lock``, and a release in the child of a lock the parent took leaves the parent's
  lock alone.
* if the file was removed or replaced while it was kept open, the lock would be on a file no
  other process opens: after each acquire the path is checked to still be the kept file, and
  else the file is opened again.

Any other coordination URL (etcd, Redis, PostgreSQL, ...) keeps tooz's locks.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import os
import resource
import struct
import threading
import time
from typing import Any

from tooz.drivers.file import FileDriver

#: struct flock for a lock on the whole file, l_pid 0 as OFD locks require (64-bit Linux layout)
_FLOCK = 'hhqqi4x'
_WRITE = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0) if hasattr(fcntl, 'F_WRLCK') else b''
_UNLOCK = struct.pack(_FLOCK, fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0) if hasattr(fcntl, 'F_UNLCK') else b''
#: OFD locks exist on Linux only (elsewhere every name goes through tooz)
SUPPORTED = hasattr(fcntl, 'F_OFD_SETLK') and struct.calcsize(_FLOCK) == 32


def _max_open() -> int:
    """256 lock files, up to 1024 where an eighth of the descriptor limit allows it: cinder_nb's
    striped names alone are 768 (volume and snapshot delete locks, the embedded driver's file
    locks: 3 x LOCK_STRIPES), and with 256 kept a run over many volumes reopened a file on
    most acquires (each reopen an open(2) and a close)."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        return 256
    return 1024 if soft == resource.RLIM_INFINITY else min(1024, max(256, soft // 8))


#: at most this many files kept open per process (the first opened closed first); an object
#: dropped from the table while a thread holds it stays valid until released: two objects for
#: one file in one process still exclude each other (different open file descriptions)
MAX_OPEN = _max_open()


class KeptFileLock:
    """An exclusive lock on one lock file, kept open for the life of the object."""

    __slots__ = ('name', 'path', '_pid', '_fd', '_ident', '_mutex', '__weakref__')

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self._pid = os.getpid()
        self._fd = -1
        self._ident: tuple[int, int] = (0, 0)
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f'<KeptFileLock {self.name}>'

    def _open(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # what open(path, 'a') gives, as fasteners opens it (CLOEXEC: no exec'd child keeps it)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        st = os.fstat(fd)
        self._fd, self._ident = fd, (st.st_dev, st.st_ino)

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _own(self) -> None:
        """In a child of the process that opened it: drop the inherited state (a close in the
        child leaves the parent's lock: the parent still has the description open)."""
        if self._pid != os.getpid():
            self._close()
            self._mutex = threading.Lock()
            self._pid = os.getpid()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; False when not ``blocking`` or after ``timeout`` seconds without it."""
        self._own()
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        if not self._mutex.acquire(blocking, -1 if deadline is None or not blocking else timeout):
            return False
        try:
            while True:
                if self._fd < 0:
                    self._open()
                if not self._lock_file(blocking, deadline):
                    self._mutex.release()
                    return False
                try:
                    st = os.stat(self.path)
                    if (st.st_dev, st.st_ino) == self._ident:
                        return True
                except FileNotFoundError:
                    pass
                # removed or replaced since it was opened: lock the file that is there now
                fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, _UNLOCK)
                self._close()
        except BaseException:
            if self._fd >= 0:
                try:
                    fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, _UNLOCK)
                except OSError:
                    pass
            self._mutex.release()
            raise

    def _lock_file(self, blocking: bool, deadline: float | None) -> bool:
        if blocking and deadline is None:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLKW, _WRITE)     # waits in the kernel
            return True
        delay = 0.001
        while True:
            try:
                fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, _WRITE)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not blocking or time.monotonic() >= deadline:      # type: ignore[operator]
                return False
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))   # type: ignore[operator]
            delay = min(delay * 2, 0.1)

    def release(self) -> bool:
        """Give the lock back. In a child after fork, for a lock the parent took, nothing is
        released (the parent still holds it) and False is returned."""
        if self._pid != os.getpid():
            self._own()
            return False
        try:
            fcntl.fcntl(self._fd, fcntl.F_OFD_SETLK, _UNLOCK)
        finally:
            self._mutex.release()
        return True

    def __enter__(self) -> KeptFileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self._close()
        except (OSError, AttributeError):
            pass


class KeptLocks:
    """The kept locks of one process for one running tooz driver (``coordinator``); enabled
    only when that is tooz's file driver (else the caller uses tooz's locks)."""

    def __init__(self, coordinator: Any) -> None:
        self.coordinator = coordinator
        self.enabled = SUPPORTED and isinstance(coordinator, FileDriver)
        self.pid = os.getpid()
        self._paths: dict[str, str] = {}
        self._open: collections.OrderedDict[str, KeptFileLock] = collections.OrderedDict()
        self._guard = threading.Lock()

    def get(self, full_name: str) -> KeptFileLock:
        """The lock for tooz name ``full_name`` (the coordinator's prefix included)."""
        kept = self._open.get(full_name)
        if kept is not None:
            return kept
        path = self._paths.get(full_name)
        if path is None:
            # the path tooz's file driver locks for this name (it checks the name stays in its dir)
            path = os.fsdecode(self.coordinator.get_lock(full_name.encode('ascii')).name)
            self._paths[full_name] = path
        with self._guard:
            kept = self._open.get(full_name)
            if kept is None:
                kept = self._open[full_name] = KeptFileLock(full_name, path)
                while len(self._open) > MAX_OPEN:
                    self._open.popitem(last=False)      # closed when nothing else holds it
            else:
                self._open.move_to_end(full_name)
        return kept
