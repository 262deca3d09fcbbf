"""Every operation through the embedded driver, each followed by a data check via attach()."""
from __future__ import annotations

import os

import pytest

import cinder_nb as cnb
from tests.helpers import check_online_extend, device_size, read_at, write_at

GiB = 1 << 30
MiB = 1 << 20


def test_create_attach_write_read(lab):
    vol = lab.create_volume(1, name='data', description='first')
    assert (vol.status, vol.size, vol.name, vol.description) == ('available', 1, 'data', 'first')
    conn = vol.attach()
    assert vol.status == 'in-use' and vol.local_attach is conn and conn.attached
    assert conn.protocol == 'local'
    write_at(conn.path, 5 * MiB, b'hello cinder')
    assert read_at(conn.path, 5 * MiB, 12) == b'hello cinder'
    vol.detach()
    assert vol.status == 'available' and vol.local_attach is None and vol.connections == []
    conn2 = vol.attach()
    assert read_at(conn2.path, 5 * MiB, 12) == b'hello cinder'
    vol.detach()


def test_snapshot_overwrite_restore_from_snapshot(lab):
    vol = lab.create_volume(1, name='src')
    conn = vol.attach()
    write_at(conn.path, 0, b'ORIGINAL' * 512)
    vol.detach()
    snap = vol.create_snapshot(name='before')
    assert snap.status == 'available' and snap.volume_id == vol.id and snap.volume_size == 1
    assert [s.id for s in vol.snapshots] == [snap.id]
    conn = vol.attach()
    write_at(conn.path, 0, b'OVERWRITTEN!' * 100)
    vol.detach()
    restored = snap.create_volume(name='restored')
    assert restored.snapshot_id == snap.id and restored.size == 1
    rconn = restored.attach()
    assert read_at(rconn.path, 0, 8 * 512) == b'ORIGINAL' * 512
    restored.detach()
    conn = vol.attach()
    assert read_at(conn.path, 0, 12) == b'OVERWRITTEN!'
    vol.detach()


def test_clone_keeps_data_and_is_independent(lab):
    vol = lab.create_volume(1)
    conn = vol.attach()
    write_at(conn.path, 100 * MiB, b'clone me')
    vol.detach()
    clone = vol.clone(name='copy')
    assert clone.source_volid == vol.id and clone.size == 1 and clone.id != vol.id
    cconn = clone.attach()
    assert read_at(cconn.path, 100 * MiB, 8) == b'clone me'
    write_at(cconn.path, 100 * MiB, b'changed!')
    clone.detach()
    conn = vol.attach()
    assert read_at(conn.path, 100 * MiB, 8) == b'clone me'
    vol.detach()


def test_clone_bigger(lab):
    vol = lab.create_volume(1)
    clone = vol.clone(size=3)
    conn = clone.attach()
    assert conn.extend() == 3 * GiB
    clone.detach()


def test_extend_visible_on_attached_device(lab):
    vol = lab.create_volume(1)
    check_online_extend(vol)
    vol.extend(3)
    assert vol.status == 'available'
    conn = vol.attach()
    assert device_size(conn.path) == 3 * GiB
    assert read_at(conn.path, 2 * GiB - 4, 4) == b'tail'
    vol.detach()



def test_snapshot_delete_and_volume_delete(lab):
    vol = lab.create_volume(1)
    snap = vol.create_snapshot()
    snap.delete()
    assert snap.status == 'deleted' and vol.snapshots == []
    vol.delete()
    assert vol.status == 'deleted' and lab.volumes == []
    root = lab.driver.root
    assert os.listdir(os.path.join(root, 'volumes')) == []
    assert os.listdir(os.path.join(root, 'snapshots')) == []


def test_deleted_resources_leave_no_lock_file(filelab, session):
    """A file lock is a file per name; Cinder's volume manager removes those of a deleted
    volume or snapshot, and so must cinder_nb, or the locks dir grows a file per delete."""
    locks = session / 'state' / 'locks'
    kept = filelab.create_volume(1)
    deleted = []
    for _ in range(3):
        vol = kept.clone()
        snap = vol.create_snapshot()
        from_snap = snap.create_volume()
        vol.extend(2)
        deleted += [from_snap.id, snap.id, vol.id]
        from_snap.delete()
        snap.delete()
        vol.delete()
    names = [n for n in os.listdir(locks) if os.path.isfile(locks / n)]
    assert any('localfile' in n for n in names) and any('delete' in n for n in names)   # the check sees them
    assert [n for n in names if any(i in n for i in deleted)] == []


def test_revert_to_snapshot(filelab):
    vol = filelab.create_volume(1)
    conn = vol.attach()
    write_at(conn.path, 0, b'v1')
    vol.detach()
    snap = vol.create_snapshot()
    conn = vol.attach()
    write_at(conn.path, 0, b'v2')
    vol.detach()
    vol.revert_to_snapshot(snap)
    conn = vol.attach()
    assert read_at(conn.path, 0, 2) == b'v1'
    vol.detach()


def test_connect_disconnect_with_connector(lab):
    vol = lab.create_volume(1)
    connector = {'host': 'compute-1', 'initiator': 'iqn.1993-08.org.debian:01:abc', 'ip': '127.0.0.1',
                 'multipath': False, 'platform': 'x86_64', 'os_type': 'linux'}
    lab.validate_connector(connector)
    conn = vol.connect(connector)
    assert conn.status == 'attached' and not conn.attached and conn.connector == connector
    assert conn.connection_info['driver_volume_type'] == 'local'
    assert os.path.exists(conn.connection_info['data']['device_path'])
    assert vol.status == 'in-use' and [c.id for c in vol.connections] == [conn.id]
    with pytest.raises(cnb.InvalidState, match='not multiattach'):
        vol.connect(dict(connector, host='compute-2'))
    conn.disconnect()
    assert vol.status == 'available' and vol.connections == [] and conn.status == 'deleted'


def test_multiattach_volume_takes_two_connections(filelab):
    vol = filelab.create_volume(1, multiattach=True)
    c1 = vol.connect({'host': 'a'})
    c2 = vol.connect({'host': 'b'})
    assert {c.id for c in vol.connections} == {c1.id, c2.id}
    c1.disconnect()
    assert vol.status == 'in-use'
    c2.disconnect()
    assert vol.status == 'available'


def test_sparse_copies_follow_data_not_size(filelab):
    vol = filelab.create_volume(8)
    conn = vol.attach()
    for i in range(4):
        write_at(conn.path, i * GiB, os.urandom(MiB))
    vol.detach()
    snap = vol.create_snapshot()
    clone = vol.clone()
    for path in (snap.record['driver_data']['provider_location'], clone.provider_location):
        st = os.stat(path)
        assert st.st_size == 8 * GiB
        assert st.st_blocks * 512 < 16 * MiB, 'copy allocated far more than the 4 MiB of data'


def test_stats_report_real_capacity(filelab):
    st = os.statvfs(filelab.driver.root)
    pool = filelab.stats(refresh=True)['pools'][0]
    assert pool['pool_name'] == filelab.pool_names[0] == 'embedded'
    assert abs(pool['total_capacity_gb'] - st.f_blocks * st.f_frsize / GiB) < 0.1
    assert pool['provisioned_capacity_gb'] == 0
    vol = filelab.create_volume(2)
    conn = vol.attach()
    write_at(conn.path, 0, os.urandom(4 * MiB))
    vol.detach()
    pool = filelab.stats(refresh=True)['pools'][0]
    assert pool['provisioned_capacity_gb'] == 2
    assert pool['allocated_capacity_gb'] == 2   # Cinder's meaning: GiB of volumes, not bytes written
    assert filelab.stats()['storage_protocol'] == 'local'


def test_allocated_capacity_is_the_recorded_volumes_like_cinders_manager(filelab):
    """Cinder's volume manager sets allocated_capacity_gb from its database; so does cinder_nb
    (cinderlib's functional suite checks that it changes when a volume is created)."""
    assert filelab.stats(refresh=True)['pools'][0]['allocated_capacity_gb'] == 0
    small, big = filelab.create_volume(1), filelab.create_volume(3)
    assert filelab.stats()['pools'][0]['allocated_capacity_gb'] == 0, 'refresh=False keeps the cached stats'
    assert filelab.stats(refresh=True)['pools'][0]['allocated_capacity_gb'] == 4
    big.extend(5)
    small.delete()
    assert filelab.stats(refresh=True)['pools'][0]['allocated_capacity_gb'] == 5


def test_volume_type_extra_specs_reach_the_driver(filelab):
    from cinder.volume import volume_types
    vol = filelab.create_volume(1, extra_specs={'thin': 'true'}, qos_specs={'read_iops_sec': '100'},
                                metadata={'owner': 'qa'})
    ovo = vol.ovo()
    assert ovo.volume_type.extra_specs == {'thin': 'true'}
    assert volume_types.get_volume_type_extra_specs(ovo.volume_type_id) == {'thin': 'true'}
    assert ovo.metadata == {'owner': 'qa'}
    clone = vol.clone()
    assert clone.extra_specs == {'thin': 'true'}


def test_pool_name_checked(filelab):
    with pytest.raises(cnb.InvalidArgument, match='pool_name'):
        filelab.create_volume(1, pool_name='nope')
    assert filelab.create_volume(1, pool_name='embedded').pool_name == 'embedded'


def test_connect_passes_the_export_model_update_to_initialize_connection(session):
    """Regression (issue 12): connect() stored create_export's provider_location in the record
    but handed the old OVO to initialize_connection, so Cinder's iSCSI targets (LVM with LIO)
    failed with "'NoneType' object has no attribute 'split'" (this driver: IndexError from
    the discovery fallback). The driver is a real
    LocalFileDriver whose export goes through Cinder's ISCSITarget code (FakeTarget)."""
    import tests.core.export_driver  # noqa: F401  (the module defines ExportingDriver)
    lab = cnb.Backend('exporting', volume_driver='tests.core.export_driver.ExportingDriver',
                      local_file_path=str(session / 'exp'), target_ip_address='192.0.2.10',
                      target_port=3260, target_prefix='iqn.2010-10.org.openstack:')
    vol = lab.create_volume(1)
    connector = {'host': 'compute-1', 'initiator': 'iqn.1993-08.org.debian:01:abc', 'ip': '192.0.2.20',
                 'multipath': False, 'platform': 'x86_64', 'os_type': 'linux'}
    conn = vol.connect(connector)
    assert conn.status == 'attached' and vol.status == 'in-use'
    data = conn.connection_info['data']
    assert conn.connection_info['driver_volume_type'] == 'iscsi'
    assert data['target_portal'] == '192.0.2.10:3260'
    assert data['target_iqn'] == f'iqn.2010-10.org.openstack:volume-{vol.id}'
    assert data['auth_method'] == 'CHAP' and data['auth_username'] and data['auth_password']
    assert vol.provider_location.startswith('192.0.2.10:3260')
    # the CHAP secret the export made never reaches the saved state
    assert data['auth_password'] not in cnb.dumps()
    conn.disconnect()
    assert vol.status == 'available' and vol.connections == []
