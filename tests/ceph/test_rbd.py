"""Every operation through Cinder's own RBD driver against a real Ceph cluster."""
from __future__ import annotations

import glob
import json
import os
import stat
import subprocess

import pytest

import cinder_nb as cnb
from tests.helpers import LOOP_OK, check_online_extend, read_at, write_at

pytestmark = pytest.mark.ceph
GiB = 1 << 30
MiB = 1 << 20


def _rbd(cluster, *args) -> str:
    return subprocess.run(['rbd', '-c', cluster['CINDER_NB_CEPH_CONF'], '-n', 'client.admin', *args],
                          check=True, capture_output=True, text=True).stdout


def _images(cluster) -> set[str]:
    return set(_rbd(cluster, 'ls', cluster['CINDER_NB_CEPH_POOL']).split())


def test_backend_init_and_stats(rbd_backend, ceph_cluster):
    assert type(rbd_backend.driver).__name__ == 'RBDDriver'
    pool = rbd_backend.stats(refresh=True)['pools'][0]
    assert pool['total_capacity_gb'] > 1 and pool['thin_provisioning_support']
    assert rbd_backend.stats()['storage_protocol'] in ('ceph', 'rbd', 'RBD')
    assert rbd_backend.pool_names == ('ceph',)


def test_create_extend_delete_really_change_the_cluster(rbd_backend, ceph_cluster):
    vol = rbd_backend.create_volume(1, name='r1')
    image = f'volume-{vol.id}'
    assert image in _images(ceph_cluster)
    info = json.loads(_rbd(ceph_cluster, 'info', '--format', 'json', f"{ceph_cluster['CINDER_NB_CEPH_POOL']}/{image}"))
    assert info['size'] == GiB
    vol.extend(2)
    info = json.loads(_rbd(ceph_cluster, 'info', '--format', 'json', f"{ceph_cluster['CINDER_NB_CEPH_POOL']}/{image}"))
    assert info['size'] == 2 * GiB and vol.size == 2
    vol.delete()
    assert image not in _images(ceph_cluster)


def test_data_survives_snapshot_overwrite_and_restore(rbd_backend):
    vol = rbd_backend.create_volume(1, name='data')
    conn = vol.attach()
    assert conn.protocol == 'rbd'
    # the keyring went to rbd-fuse through a private file that is gone once it has mounted
    from cinder_nb.ceph import RBDFuseConnector
    assert not glob.glob(os.path.join(RBDFuseConnector({}).mount_root, 'keyring-*'))
    if LOOP_OK:
        assert stat.S_ISBLK(os.stat(conn.path).st_mode), 'as root the attach should be a loop block device'
    write_at(conn.path, 3 * MiB, b'ORIGINAL-RBD' * 100)
    vol.detach()
    snap = vol.create_snapshot(name='before')
    conn = vol.attach()
    write_at(conn.path, 3 * MiB, b'OVERWRITTEN!' * 100)
    vol.detach()
    restored = snap.create_volume(name='restored')
    rconn = restored.attach()
    assert read_at(rconn.path, 3 * MiB, 1200) == b'ORIGINAL-RBD' * 100
    restored.detach()
    conn = vol.attach()
    assert read_at(conn.path, 3 * MiB, 12) == b'OVERWRITTEN!'
    vol.detach()
    clone = vol.clone(name='clone')
    cconn = clone.attach()
    assert read_at(cconn.path, 3 * MiB, 12) == b'OVERWRITTEN!'
    clone.detach()
    for v in (clone, restored):
        v.delete()
    snap.delete()
    vol.delete()


def test_extend_is_visible_on_the_attached_device(rbd_backend):
    vol = rbd_backend.create_volume(1)
    check_online_extend(vol)
    vol.delete()


def _clone_parent(cluster, vol) -> dict | None:
    return json.loads(_rbd(cluster, 'info', '--format', 'json',
                           f"{cluster['CINDER_NB_CEPH_POOL']}/volume-{vol.id}")).get('parent')


def test_clone_v1_snapshot_with_dependent_clone_is_flattened_then_deleted(session, ceph_cluster):
    """RBD clone format 1: Ceph refuses to unprotect a snapshot that has children.

    Cinder 29's RBD driver answers that ImageBusy by flattening the children and
    retrying (it raises SnapshotIsBusy only if that keeps failing); the clone then has
    no parent and keeps its data. Format 1 is forced with a client-side ceph.conf
    (rbd default clone format = 1) on the same cluster.
    """
    conf = session / 'ceph-v1.conf'
    with open(ceph_cluster['CINDER_NB_CEPH_CONF']) as f:
        conf.write_text(f.read() + '\n[client]\nrbd default clone format = 1\n')
    backend = cnb.Backend('ceph-v1', volume_driver='cinder.volume.drivers.rbd.RBDDriver',
                          rbd_pool=ceph_cluster['CINDER_NB_CEPH_POOL'], rbd_user=ceph_cluster['CINDER_NB_CEPH_USER'],
                          rbd_ceph_conf=str(conf), rbd_keyring_conf=ceph_cluster['CINDER_NB_CEPH_KEYRING'])
    vol = backend.create_volume(1)
    conn = vol.attach()
    write_at(conn.path, MiB, b'v1 parent data')
    vol.detach()
    snap = vol.create_snapshot()
    child = snap.create_volume()
    assert _clone_parent(ceph_cluster, child)['snapshot'] == f'snapshot-{snap.id}'
    snap_spec = f"{ceph_cluster['CINDER_NB_CEPH_POOL']}/volume-{vol.id}@snapshot-{snap.id}"
    assert json.loads(_rbd(ceph_cluster, 'snap', 'ls', '--format', 'json',
                           snap_spec.split('@')[0]))[0]['protected'] == 'true'
    snap.delete()
    assert snap.status == 'deleted'
    assert _clone_parent(ceph_cluster, child) is None, 'the clone should have been flattened'
    cconn = child.attach()
    assert read_at(cconn.path, MiB, 14) == b'v1 parent data'
    child.detach()
    child.delete()
    vol.delete()


def test_clone_v2_snapshot_with_dependent_clone_goes_to_trash(rbd_backend, ceph_cluster):
    """RBD clone format 2 (cluster requires mimic+ clients): the snapshot can be deleted
    while a clone depends on it; Ceph keeps it in the trash and the clone keeps its data."""
    vol = rbd_backend.create_volume(1)
    conn = vol.attach()
    write_at(conn.path, 0, b'parent data')
    vol.detach()
    snap = vol.create_snapshot()
    child = snap.create_volume()
    assert _clone_parent(ceph_cluster, child)['snapshot'] == f'snapshot-{snap.id}'
    snap.delete()
    assert snap.status == 'deleted' and vol.snapshots == []
    cconn = child.attach()
    assert read_at(cconn.path, 0, 11) == b'parent data'
    child.detach()
    child.delete()
    vol.delete()


def test_connect_disconnect_and_validate_connector(rbd_backend, ceph_cluster):
    vol = rbd_backend.create_volume(1)
    connector = {'host': 'compute-1', 'ip': '127.0.0.1', 'initiator': 'iqn.2026-11.example:c1'}
    rbd_backend.validate_connector(connector)
    conn = vol.connect(connector)
    data = conn.connection_info['data']
    assert conn.connection_info['driver_volume_type'] == 'rbd'
    assert data['name'] == f"{ceph_cluster['CINDER_NB_CEPH_POOL']}/volume-{vol.id}"
    assert data['auth_username'] == ceph_cluster['CINDER_NB_CEPH_USER'] and data['hosts'] == ['127.0.0.1']
    with open(ceph_cluster['CINDER_NB_CEPH_KEYRING']) as f:
        keyring = f.read()
    assert data['keyring'] == keyring                     # the driver needs it in-process...
    public = json.dumps(conn.public_record()) + cnb.dumps() + repr(conn)
    key = [line.split('=', 1)[1].strip() for line in keyring.splitlines() if 'key' in line][0]
    assert key not in public                               # ...but it never leaves the process
    assert vol.status == 'in-use'
    conn.disconnect()
    assert vol.status == 'available' and vol.connections == []
    vol.delete()


def test_embedded_and_ceph_side_by_side_with_copy_between(rbd_backend, session):
    lab = cnb.embedded(str(session / 'volumes'))
    src = lab.create_volume(1, name='on-embedded')
    conn = src.attach()
    write_at(conn.path, 7 * MiB, b'travels to ceph')
    src.detach()
    assert [v.name for v in lab.volumes] == ['on-embedded'] and rbd_backend.volumes == []
    on_ceph = src.copy_to(rbd_backend, name='on-ceph', sparse=True)   # new RBD images read as zeros
    assert on_ceph.backend is rbd_backend and on_ceph.size == 1
    cconn = on_ceph.attach()
    assert read_at(cconn.path, 7 * MiB, 15) == b'travels to ceph'
    on_ceph.detach()
    back = on_ceph.copy_to(lab, name='back')
    bconn = back.attach()
    assert read_at(bconn.path, 7 * MiB, 15) == b'travels to ceph'
    back.detach()
    # Cinder's driver API has no cross-backend clone: clone() stays on the source backend
    assert on_ceph.clone().backend is rbd_backend
    with pytest.raises(cnb.InvalidArgument, match='backend'):
        src.copy_to('ceph')
    for v in list(rbd_backend.volumes):
        v.delete()


@pytest.mark.parametrize('parent_first', [False, True], ids=['clone-first', 'parent-first'])
def test_deleting_clones_and_parents_leaves_no_image_behind(rbd_backend, ceph_cluster, parent_first):
    """Cinder 29's fast delete path skips the parent's '.clone_snap' clean-up (patched in
    cinder_nb._cinder); either deletion order must end with the pool as it was."""
    before = _images(ceph_cluster)
    vol = rbd_backend.create_volume(1)
    clone = vol.clone()
    assert _clone_parent(ceph_cluster, clone)['snapshot'] == f'volume-{clone.id}.clone_snap'
    first, second = (vol, clone) if parent_first else (clone, vol)
    first.delete()
    if parent_first:   # the parent lives on, renamed, while its clone needs it
        assert f'volume-{vol.id}.deleted' in _images(ceph_cluster)
    second.delete()
    assert _images(ceph_cluster) == before


def test_bulk_on_rbd_reuses_rados_connections(rbd_backend, ceph_cluster):
    """Cinder's RBD driver opens a RADOS connection per call; cinder_nb lends idle ones out again."""
    import rados
    from cinder_nb import _cinder
    driver = rbd_backend.driver
    made = []

    class CountingRados:      # the driver's own rados module, counting the cluster handles it makes
        def __getattr__(self, name):
            return getattr(rados, name)

        def Rados(self, *args, **kwargs):
            made.append(1)
            return rados.Rados(*args, **kwargs)

    driver.rados = CountingRados()
    try:
        res = rbd_backend.create_volumes(12, 1, name='bulk', workers=4)
        assert res.ok, res.failed
        images = {f'volume-{v.id}' for v in res.succeeded}
        assert images <= _images(ceph_cluster)
        snaps = rbd_backend.create_snapshots(res.succeeded, workers=4)
        assert snaps.ok, snaps.failed
        assert rbd_backend.delete_snapshots(snaps.succeeded, workers=4).ok
        assert rbd_backend.delete_volumes(res.succeeded, workers=4).ok
        assert not images & _images(ceph_cluster)
        # 48 driver calls, each opening at least one connection before; now one per worker
        # and nesting level at most
        assert len(made) <= 8, f'{len(made)} RADOS connections for 48 driver calls'
    finally:
        del driver.rados
    pool = _cinder.rados_pool(driver)
    assert pool.idle > 0
    rbd_backend.shutdown()
    assert pool.idle == 0


@pytest.mark.skipif(not LOOP_OK, reason='the attach is a loop device over the rbd-fuse file only with loop devices')
def test_online_extend_without_io_in_between(rbd_backend):
    """Extend right after attach, no I/O: rbd-fuse learns the new size up to a second later,
    and the loop device kept the old size (cinderlib's test_extend_attached caught it)."""
    from tests.helpers import device_size
    vol = rbd_backend.create_volume(1)
    conn = vol.attach()
    vol.extend(2)
    assert device_size(conn.path) == 2 * GiB
    vol.detach()
    vol.delete()
