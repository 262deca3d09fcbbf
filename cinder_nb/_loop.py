"""Loop devices (losetup) and block-device sizes: the one place cinder_nb runs losetup.

Used by the embedded driver (a volume file behind /dev/loopN), the rbd-fuse connector
(an image file behind /dev/loopN) and cinderlib's view of an attached device's size.
Imports nothing of cinder_nb: drivers, connectors and the cinderlib layer all sit above it.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess

BLKFLSBUF = 0x1261      # <linux/fs.h>: write a block device's dirty page cache out, then drop it


def available() -> bool:
    """True when this process can bind loop devices (root, /dev/loop-control, losetup)."""
    if os.geteuid() != 0 or not os.path.exists('/dev/loop-control') or not shutil.which('losetup'):
        return False
    return subprocess.run(['losetup', '-f'], capture_output=True).returncode == 0


def loops_over(path: str, check: bool = False) -> list[str]:
    """The loop devices backed by path (``check``: a losetup failure raises CalledProcessError).

    Devices already detached (``losetup -d``) that some other opener still holds are left
    out: the kernel only marks those autoclear and unbinds them at their last close. Handing
    one out again would give its new user a device that turns empty (reads return nothing,
    writes fail) when that opener closes; detaching or resizing it again could hit whatever
    file the device number is bound to by then."""
    out = subprocess.run(['losetup', '-j', path, '-O', 'NAME,AUTOCLEAR', '-n', '--raw'], check=check,
                         capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return [row[0] for row in rows if row[1:] != ['1']]


def attach(path: str, direct_io_off: bool = False) -> str:
    """Bind the first free loop device over path; its name (/dev/loopN)."""
    cmd = ['losetup', '-f', '--show', *(['--direct-io=off'] if direct_io_off else []), path]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def flush(dev: str) -> None:
    """Write what the device's page cache holds into its backing file and drop that cache
    (BLKFLSBUF, as ``blockdev --flushbufs`` and os-brick before it removes a device).
    A device the kernel is already unbinding (ENXIO) has nothing left to flush."""
    try:
        fd = os.open(dev, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            return
        raise
    try:
        fcntl.ioctl(fd, BLKFLSBUF)
    finally:
        os.close(fd)


def detach(dev: str, check: bool = True) -> None:
    """Flush a loop device, then release it (``check=False``: a failure is ignored).

    The flush comes first because ``losetup -d`` only unbinds at the last close: while
    anyone else (blkid, another process's ``losetup -j``) holds the device open it stays
    bound, and writes still in its page cache would reach the file only when that opener
    closes, after this returned."""
    try:
        flush(dev)
    except OSError:
        if check:
            raise
    subprocess.run(['losetup', '-d', dev], check=check, capture_output=True, text=True)


def refresh_size(dev: str) -> None:
    """Make a loop device take the current size of its backing file (losetup -c)."""
    subprocess.run(['losetup', '-c', dev], check=True, capture_output=True)


def device_bytes(path: str) -> int:
    """The size of a device or file as the host sees it (seek to its end)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)
