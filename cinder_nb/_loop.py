"""Loop devices (losetup) and block-device sizes: the one place cinder_nb runs losetup.

Used by the embedded driver (a volume file behind /dev/loopN), the rbd-fuse connector
(an image file behind /dev/loopN) and cinderlib's view of an attached device's size.
Imports nothing of cinder_nb: drivers, connectors and the cinderlib layer all sit above it.
"""
from __future__ import annotations

import os
import shutil
import subprocess


def available() -> bool:
    """True when this process can bind loop devices (root, /dev/loop-control, losetup)."""
    if os.geteuid() != 0 or not os.path.exists('/dev/loop-control') or not shutil.which('losetup'):
        return False
    return subprocess.run(['losetup', '-f'], capture_output=True).returncode == 0


def loops_over(path: str, check: bool = False) -> list[str]:
    """The loop devices backed by path (``check``: a losetup failure raises CalledProcessError)."""
    out = subprocess.run(['losetup', '-j', path, '-O', 'NAME', '-n'], check=check, capture_output=True,
                         text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def attach(path: str, direct_io_off: bool = False) -> str:
    """Bind the first free loop device over path; its name (/dev/loopN)."""
    cmd = ['losetup', '-f', '--show', *(['--direct-io=off'] if direct_io_off else []), path]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def detach(dev: str, check: bool = True) -> None:
    """Release a loop device (``check=False``: a failure is ignored)."""
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
