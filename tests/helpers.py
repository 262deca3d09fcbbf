"""Helpers the tests import (fixtures live in tests/fixtures/, loaded by tests/conftest.py)."""
from __future__ import annotations

import os
import socket
import stat

from cinder_nb.drivers.localfile import loop_devices_available

LOOP_OK = loop_devices_available()
NO_LOOP_REASON = 'no loop devices: needs root, /dev/loop-control and losetup'


def free_port(host: str = '127.0.0.1') -> int:
    """A TCP port nobody listens on right now (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_at(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(path: str, offset: int, length: int, uncached: bool = False) -> bytes:
    """length bytes at offset; ``uncached`` drops the file's page cache first, so a block
    device is read from the device (over iSCSI, NVMe-oF) and not from this host's memory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if uncached:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def device_size(path: str) -> int:
    """Size in bytes of a block device or a file, as a reader of it sees it."""
    if stat.S_ISBLK(os.stat(path).st_mode):
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.lseek(fd, 0, os.SEEK_END)
        finally:
            os.close(fd)
    return os.path.getsize(path)


def check_online_extend(vol) -> None:
    """Attach a 1 GiB volume, extend it to 2 GiB while attached: the device shows the new size,
    the new end is writable and the old data is still there. Detaches at the end."""
    gib = 1 << 30
    conn = vol.attach()
    write_at(conn.path, 0, b'keep')
    vol.extend(2)
    assert vol.size == 2 and vol.status == 'in-use'
    assert device_size(conn.path) == 2 * gib
    write_at(conn.path, 2 * gib - 4, b'tail')
    assert read_at(conn.path, 0, 4) == b'keep'
    vol.detach()


def cleanup_backends() -> None:
    """Detach anything a failed test left attached so loop devices are not leaked."""
    from cinder_nb import _runtime
    if not _runtime.is_setup():
        return
    rt = _runtime.get()
    for conn in list(rt.live['connection'].values()):
        try:
            if conn.attached:
                conn.detach(force=True)
            elif conn.status != 'deleted':
                conn.disconnect(force=True)
        except Exception:
            pass
