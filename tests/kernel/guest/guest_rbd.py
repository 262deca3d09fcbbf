"""Ceph RBD through the guest's kernel: Cinder's own RBDDriver, attached with os-brick's real
RBDConnector (``rbd map`` on the krbd module) and, once, through rbd-fuse. Runs inside the test
guest; the cluster runs on the host (tests/kernel/guest_ceph.py) and is reached through qemu's
guestfwd entries and the socat forwarders this module starts on the guest's 127.0.0.1.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import stat
import subprocess
import time

import pytest

import cinder_nb as cnb
from tests.helpers import read_at, write_at
from tests.kernel.guest.conftest import sh

MiB, GiB = 1 << 20, 1 << 30
RBD_DRIVER = 'cinder.volume.drivers.rbd.RBDDriver'
TIMES: dict[str, float] = {}


def _timed(label: str, fn, /, *args, **kwargs):
    t0 = time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        TIMES[label] = round(time.monotonic() - t0, 2)


@pytest.fixture(scope='module')
def guest_ceph():
    """The host cluster's facts (/xfer/ceph/ports.json), the forwarders started, rbd loaded."""
    if os.environ.get('CINDER_NB_IN_GUEST') != '1':
        pytest.skip('runs inside the test guest only (tests/kernel/conftest.py boots it)')
    path = os.environ.get('CINDER_NB_GUEST_CEPH')
    if not path or not os.path.exists(path):
        pytest.skip('the host harness started no Ceph cluster for the guest (CINDER_NB_GUEST_CEPH unset)')
    with open(path) as fh:
        info = json.load(fh)
    if info.get('unavailable'):
        pytest.skip(f"no Ceph cluster for the guest: {info['unavailable']}")
    sh('modprobe', 'rbd')
    assert os.path.isdir('/sys/bus/rbd'), 'modprobe rbd did not bring /sys/bus/rbd'
    t0 = time.monotonic()
    # the maps advertise 127.0.0.1:<port>: listen there and pass each connection to the host
    forwarders = [subprocess.Popen(['socat', f'TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr,fork',
                                    f'TCP:{info["host_addr"]}:{p}'], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for p in info['ports']]
    try:
        for p in info['ports']:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(('127.0.0.1', p), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        TIMES['forwarders up (guest)'] = round(time.monotonic() - t0, 2)
        yield info
    finally:
        for proc in forwarders:
            proc.terminate()
        for proc in forwarders:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print('guest rbd timings (s):', json.dumps(TIMES))


@pytest.fixture(scope='module')
def rbd_backend(guest_ceph, tmp_path_factory):
    from cinder_nb import _runtime
    if not _runtime.is_setup():
        cnb.setup('memory', state_dir=str(tmp_path_factory.mktemp('cnb-rbd') / 'state'))
    backend = _timed('backend start (RBDDriver)', cnb.Backend, 'ceph-guest', volume_driver=RBD_DRIVER,
                     rbd_pool=guest_ceph['pool'], rbd_user=guest_ceph['user'], rbd_ceph_conf=guest_ceph['conf'],
                     rbd_keyring_conf=guest_ceph['keyring'])
    yield backend
    for vol in list(backend.volumes):   # whatever a failed test left
        for conn in list(vol.connections):
            try:
                conn.detach(force=True) if conn.attached else conn.disconnect(force=True)
            except Exception:
                pass
        for snap in list(vol.snapshots):
            try:
                snap.delete()
            except Exception:
                pass
        try:
            vol.delete()
        except Exception:
            pass
    assert not _mappings(), f'rbd mappings left behind: {_mappings()}'


def _mappings() -> list[dict]:
    """`rbd showmapped` (the kernel's mappings; stdout only: rbd warns on stderr without a conf)."""
    proc = subprocess.run(['rbd', 'showmapped', '--format=json'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout or '[]')


def _sys_devices() -> list[str]:
    return sorted(os.listdir('/sys/bus/rbd/devices'))


def _images(info: dict) -> set[str]:
    import rados
    import rbd
    with rados.Rados(conffile=info['conf'], rados_id=info['user']) as cluster:
        with cluster.open_ioctx(info['pool']) as ioctx:
            return set(rbd.RBD().list(ioctx))


def _krbd_attach(vol, name: str):
    """Attach through krbd; check it is a /dev/rbdN listed by `rbd showmapped` and in sysfs."""
    conn = _timed(name, vol.attach, rbd_attach='krbd')
    assert conn.device['rbd_attach'] == 'krbd'
    real = os.path.realpath(conn.path)
    assert re.fullmatch(r'/dev/rbd\d+', real), f'{conn.path} -> {real} is not a kernel rbd device'
    assert stat.S_ISBLK(os.stat(real).st_mode)
    image = f'volume-{vol.id}'
    mapped = [m for m in _mappings() if m['name'] == image]
    assert mapped and mapped[0]['device'] == real, _mappings()
    assert real[len('/dev/rbd'):] in _sys_devices()
    return conn, real


def test_krbd_attach_snapshot_clone_extend(rbd_backend, guest_ceph, caplog, capsys):
    """create -> krbd attach (/dev/rbdN), write -> detach (unmapped) -> attach, read back,
    overwrite, extend while attached -> snapshot/clone/volume-from-snapshot read the right
    generation (one through rbd-fuse) -> delete; the cephx key never leaves the process."""
    from cinder_nb.notebook import frames
    caplog.set_level(logging.DEBUG)
    with open(guest_ceph['keyring']) as fh:
        key = re.search(r'key\s*=\s*(\S+)', fh.read()).group(1)
    assert _mappings() == [] and _sys_devices() == []
    vol = _timed('create 1 GiB', rbd_backend.create_volume, 1, name='krbd')
    assert f'volume-{vol.id}' in _images(guest_ceph)

    conn, dev = _krbd_attach(vol, 'attach krbd #1')
    assert read_at(dev, 0, 4096) == bytes(4096)
    write_at(dev, 3 * MiB, b'GEN-ONE!' * 128)
    _timed('detach krbd #1', vol.detach)
    assert _mappings() == [] and _sys_devices() == [], 'the mapping outlived the detach'
    snap = _timed('snapshot', vol.create_snapshot, name='gen-one')

    conn, dev = _krbd_attach(vol, 'attach krbd #2')
    assert read_at(dev, 3 * MiB, 1024) == b'GEN-ONE!' * 128, 'data did not survive unmap/map'
    write_at(dev, 3 * MiB, b'GEN-TWO!' * 128)
    # extend while mapped: os-brick's RBDConnector.extend_volume reads the new size from
    # /sys/devices/rbd/N/size (the kernel follows the image header by itself)
    _timed('extend to 2 GiB while attached', vol.extend, 2)
    assert vol.size == 2 and vol.status == 'in-use'
    assert int(sh('blockdev', '--getsize64', dev)) == 2 * GiB
    write_at(dev, 2 * GiB - 4096, b'TAIL' * 1024)
    assert read_at(dev, 3 * MiB, 8) == b'GEN-TWO!'
    # secrets while the connection (and its keyring-bearing connection info) is live
    assert conn.connection_info['data'].get('keyring'), 'the driver passed no keyring (the test proves nothing)'
    dumped = cnb.dumps()
    assert key not in dumped and '***' in dumped
    assert key not in repr(vol) + repr(conn) + vol._repr_html_() + conn._repr_html_()
    for df in (frames.volumes_df(), frames.connections_df()):
        assert key not in df.to_string() + df.to_html() + df.to_json()
    _timed('detach krbd #2', vol.detach)
    assert _mappings() == []

    clone = _timed('clone', vol.clone, name='krbd-clone')
    cconn, cdev = _krbd_attach(clone, 'attach krbd (clone)')
    assert read_at(cdev, 3 * MiB, 1024) == b'GEN-TWO!' * 128
    assert read_at(cdev, 2 * GiB - 4096, 4096) == b'TAIL' * 1024
    _timed('detach krbd (clone)', clone.detach)

    restored = _timed('volume from snapshot', snap.create_volume, name='krbd-restored')
    rconn, rdev = _krbd_attach(restored, 'attach krbd (from snapshot)')
    assert read_at(rdev, 3 * MiB, 1024) == b'GEN-ONE!' * 128
    assert int(sh('blockdev', '--getsize64', rdev)) == GiB
    _timed('detach krbd (from snapshot)', restored.detach)

    for res in (clone, restored):
        res.delete()
    _timed('delete snapshot', snap.delete)
    _timed('delete volume', vol.delete)
    assert not {f'volume-{v.id}' for v in (vol, clone, restored)} & _images(guest_ceph)
    assert _mappings() == [] and _sys_devices() == []
    logged = caplog.text + '\n'.join(r.getMessage() for r in caplog.records)
    assert key not in logged, 'the cephx key reached the logs'
    out = capsys.readouterr()
    assert key not in out.out + out.err


def test_rbd_fuse_reads_the_same_image(rbd_backend, guest_ceph):
    """The rbd-fuse path (hosts without the module) in the same guest: bytes written into the
    image with librbd read back through rbd_attach='fuse', which is no /dev/rbdN."""
    import rados
    import rbd
    if subprocess.run(['modprobe', 'fuse'], capture_output=True).returncode != 0 or not os.path.exists('/dev/fuse'):
        pytest.skip('fuse cannot be loaded in the guest (modprobe fuse failed or no /dev/fuse)')
    vol = rbd_backend.create_volume(1, name='fuse')
    try:
        with rados.Rados(conffile=guest_ceph['conf'], rados_id=guest_ceph['user']) as cluster:
            with cluster.open_ioctx(guest_ceph['pool']) as ioctx, rbd.Image(ioctx, f'volume-{vol.id}') as image:
                image.write(b'VIA-FUSE' * 128, 5 * MiB)
        conn = _timed('attach fuse', vol.attach, rbd_attach='fuse')
        assert conn.device['rbd_attach'] == 'fuse'
        assert not re.fullmatch(r'/dev/rbd\d+', os.path.realpath(conn.path))
        assert _mappings() == []
        assert read_at(conn.path, 5 * MiB, 1024) == b'VIA-FUSE' * 128
        _timed('detach fuse', vol.detach)
    finally:
        if vol.local_attach is not None:
            vol.detach(force=True)
        vol.delete()
