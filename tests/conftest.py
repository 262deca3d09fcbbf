"""Fixtures shared by every test: a fresh cinder_nb session per test, attach-mode helpers."""
from __future__ import annotations

import os
import stat

import pytest

import cinder_nb as cnb
from cinder_nb.drivers.localfile import loop_devices_available

LOOP_OK = loop_devices_available()
NO_LOOP_REASON = 'no loop devices: needs root, /dev/loop-control and losetup'


@pytest.fixture
def session(tmp_path):
    """A fresh in-memory cinder_nb session whose state dir is a temp dir."""
    cnb.setup('memory', state_dir=str(tmp_path / 'state'))
    yield tmp_path
    _cleanup_backends()


def _cleanup_backends() -> None:
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


@pytest.fixture(params=['file', pytest.param('loop', marks=pytest.mark.skipif(not LOOP_OK, reason=NO_LOOP_REASON))])
def attach_mode(request):
    return request.param


@pytest.fixture
def lab(session, attach_mode):
    """The embedded backend in each attach mode ('file' always, 'loop' when root has loop devices)."""
    return cnb.embedded(str(session / 'volumes'), local_file_attach_mode=attach_mode)


@pytest.fixture
def filelab(session):
    """The embedded backend exposing files (works without root)."""
    return cnb.embedded(str(session / 'volumes'), local_file_attach_mode='file')


def write_at(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(path: str, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_DIRECT', 0) * 0)
    try:
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


from tests.pg.server import postgresql_url  # noqa: F401,E402  (PostgreSQL started by the tests)
from tests.ceph.cluster import ceph_cluster, rbd_backend  # noqa: F401,E402  (Ceph started by the tests)
