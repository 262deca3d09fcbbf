"""Cinder's LVMVolumeDriver (thick and thin) exported over iSCSI with LIO, CHAP on, attached
through os-brick's ISCSIConnector and open-iscsi; every operation checked through the data
read back over a fresh attach. Runs inside the test guest (see tests/kernel/conftest.py)."""
from __future__ import annotations

import os
import stat

import pytest

import cinder_nb as cnb
from tests.helpers import read_at, write_at
from tests.kernel.guest.conftest import VG, iscsi_sessions, lv_names, sh

GiB = 1 << 30
TYPES = ['thin', 'thick']


def write_through_attach(vol, marks: dict[int, bytes]) -> None:
    conn = vol.attach()
    try:
        for offset, data in marks.items():
            write_at(conn.path, offset, data)
    finally:
        vol.detach()


def read_through_attach(vol, marks: dict[int, bytes]) -> dict[int, bytes]:
    conn = vol.attach()
    try:
        return {offset: read_at(conn.path, offset, len(data), uncached=True) for offset, data in marks.items()}
    finally:
        vol.detach()


@pytest.mark.parametrize('lvm_type', TYPES)
def test_volume_lifecycle_through_iscsi(backends, clean, lvm_type):
    """create -> attach (LIO, CHAP, os-brick ISCSIConnector) -> write -> detach -> snapshot ->
    write -> clone and volume from snapshot -> extend while attached (seen by the initiator)
    -> every volume read back over a fresh attach -> delete all; lvs confirms each step."""
    lab = backends(lvm_type)
    vg = VG[lvm_type]
    vol = lab.create_volume(1, name='first')
    lv = f'volume-{vol.id}'
    assert lv in lv_names(vg)
    head, tail = b'head-' + vol.id.encode(), b'tail-' + vol.id.encode()
    conn = vol.attach()
    try:
        assert conn.protocol == 'iscsi' and conn.connection_info['data']['auth_method'] == 'CHAP'
        assert stat.S_ISBLK(os.stat(conn.path).st_mode)
        assert int(sh('blockdev', '--getsize64', conn.path)) == GiB
        [session] = iscsi_sessions()
        assert conn.connection_info['data']['target_iqn'] in session
        write_at(conn.path, 0, head)
        write_at(conn.path, GiB - 4096, tail)
    finally:
        vol.detach()
    assert iscsi_sessions() == [] and vol.status == 'available'
    marks = {0: head, GiB - 4096: tail}
    # the LV itself holds the bytes (read on the target side, not through iSCSI)
    assert read_at(f'/dev/{vg}/{lv}', 0, len(head), uncached=True) == head
    snap = vol.create_snapshot(name='before')
    assert f'_snapshot-{snap.id}' in lv_names(vg)
    changed = {**marks, 0: b'B' * len(head)}
    write_through_attach(vol, {0: changed[0]})
    from_snap = snap.create_volume()
    clone = vol.clone()
    assert read_through_attach(from_snap, marks) == marks
    assert read_through_attach(clone, changed) == changed
    for v in (from_snap, clone):
        v.delete()
    snap.delete()
    conn = vol.attach()
    try:
        vol.extend(2)   # the LV grows, then os-brick's ISCSIConnector.extend_volume rescans
        assert vol.size == 2 and int(sh('blockdev', '--getsize64', conn.path)) == 2 * GiB
        write_at(conn.path, 2 * GiB - 4096, b'grown')
        grown = {**changed, 2 * GiB - 4096: b'grown'}   # read over iSCSI: read_at(..., uncached=True) drops the page cache first
        assert {offset: read_at(conn.path, offset, len(data), uncached=True) for offset, data in grown.items()} == grown
    finally:
        vol.detach()
    assert read_at(f'/dev/{vg}/{lv}', 2 * GiB - 4096, 5, uncached=True) == b'grown'   # on the grown LV itself
    vol.delete()
    assert not [x for x in lv_names(vg) if x.startswith(('volume-', '_snapshot-'))]


def test_revert_to_snapshot_thick(backends, clean):
    """The data is written on the LV itself (target side); the revert is checked over iSCSI."""
    lab = backends('thick')
    vol = lab.create_volume(1)
    lv = f'/dev/{VG["thick"]}/volume-{vol.id}'
    write_at(lv, 0, b'original')
    snap = vol.create_snapshot()
    write_at(lv, 0, b'changed!')
    vol.revert_to_snapshot(snap)
    assert vol.status == 'available'
    assert read_through_attach(vol, {0: b'original'}) == {0: b'original'}
    snap.delete()
    vol.delete()


def test_revert_to_snapshot_thin_is_refused_by_the_driver(backends, clean):
    """Cinder's LVM driver raises NotImplementedError for thin revert (Cinder's volume manager
    then reverts generically by copying); cinder_nb reports the driver's answer as a typed
    error and keeps the data (checked on the LV itself)."""
    lab = backends('thin')
    vol = lab.create_volume(1)
    lv = f'/dev/{VG["thin"]}/volume-{vol.id}'
    write_at(lv, 0, b'original')
    snap = vol.create_snapshot()
    write_at(lv, 0, b'changed!')
    with pytest.raises(cnb.CinderNBError, match='not implemented for thin'):
        vol.revert_to_snapshot(snap)
    vol.reset_status('available') if vol.status == 'error' else None
    assert read_at(lv, 0, 8, uncached=True) == b'changed!'
    snap.delete()
    vol.delete()


def _gib(text: str) -> float:
    return float(text.strip().rstrip('gG'))


@pytest.mark.parametrize('lvm_type', TYPES)
def test_stats_report_the_volume_group(backends, clean, lvm_type):
    lab = backends(lvm_type)
    vg = VG[lvm_type]
    stats = lab.stats(refresh=True)
    assert stats['storage_protocol'] == 'iSCSI'
    [stats] = stats['pools']   # Cinder's LVM driver reports its capacity per pool (one: the VG)

    def pool_stats() -> dict:
        return lab.stats(refresh=True)['pools'][0]
    if lvm_type == 'thick':
        size = _gib(sh('vgs', '--noheadings', '--units', 'g', '--nosuffix', '-o', 'vg_size', vg))
        free = _gib(sh('vgs', '--noheadings', '--units', 'g', '--nosuffix', '-o', 'vg_free', vg))
        assert stats['total_capacity_gb'] == pytest.approx(size, abs=0.01)
        assert stats['free_capacity_gb'] == pytest.approx(free, abs=0.01)
        vol = lab.create_volume(1)
        assert pool_stats()['free_capacity_gb'] == pytest.approx(free - 1, abs=0.01)
    else:
        pool = _gib(sh('lvs', '--noheadings', '--units', 'g', '--nosuffix', '-o', 'lv_size', f'{vg}/{vg}-pool'))
        assert stats['thin_provisioning_support'] is True
        assert stats['total_capacity_gb'] == pytest.approx(pool, abs=0.01)
        vol = lab.create_volume(1)
        assert pool_stats()['provisioned_capacity_gb'] >= 1
    vol.delete()


@pytest.mark.parametrize('lvm_type', ['thin'])
def test_copy_to_embedded_and_back(backends, clean, lvm_type, tmp_path):
    lab = backends(lvm_type)
    embedded = cnb.embedded(str(tmp_path / 'embedded'))
    vol = lab.create_volume(1)
    marks = {0: b'from-lvm', 512 << 20: b'middle', GiB - 512: b'last'}
    write_through_attach(vol, marks)
    copy = vol.copy_to(embedded)
    back = None
    try:
        assert read_through_attach(copy, marks) == marks     # embedded side (LOCAL protocol)
        back = copy.copy_to(lab)
        assert read_through_attach(back, marks) == marks     # an LVM volume again, over iSCSI
    finally:
        for v in (back, copy, vol):
            if v is not None:
                v.delete()
