"""Fixtures of the guest-side tests (they run INSIDE the qemu guest, see ../conftest.py).

Two volume groups on the guest's two virtio disks: ``cnb-thick`` on /dev/vda and ``cnb-thin``
on /dev/vdb (Cinder's thin backend makes its pool from the whole group, so thick and thin get
one each). Backends are Cinder's own LVMVolumeDriver with lioadm (port 3260) or tgtadm (tgtd
on port 3261), CHAP on, targets on 127.0.0.1. Every test checks it left no iSCSI session.
"""
from __future__ import annotations

import os
import subprocess

import pytest

import cinder_nb as cnb

IN_GUEST = os.environ.get('CINDER_NB_IN_GUEST') == '1'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VG = {'thick': 'cnb-thick', 'thin': 'cnb-thin'}
DISK = {'thick': '/dev/vda', 'thin': '/dev/vdb'}
PORT = {'lioadm': 3260, 'tgtadm': 3261}
LVM_DRIVER = 'cinder.volume.drivers.lvm.LVMVolumeDriver'
_BACKENDS: dict = {}   # (lvm_type, helper) -> Backend, made once per guest session


def sh(*argv: str, check: bool = True) -> str:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f'{argv} failed ({proc.returncode}): {proc.stdout}')
    return proc.stdout


def iscsi_sessions() -> list[str]:
    out = sh('iscsiadm', '-m', 'session', check=False)
    return [line for line in out.splitlines() if line.startswith('tcp:')]


def lv_names(vg: str) -> list[str]:
    return sh('lvs', '--noheadings', '-o', 'lv_name', vg).split()


@pytest.fixture(autouse=True)
def _only_in_guest():
    if not IN_GUEST:
        pytest.skip('runs inside the test guest only (tests/kernel/conftest.py boots it)')


@pytest.fixture(scope='session')
def lvm_session(tmp_path_factory):
    """A cinder_nb session and the two volume groups (removed at the end)."""
    if not IN_GUEST:
        pytest.skip('runs inside the test guest only')
    state = tmp_path_factory.mktemp('cnb')
    cnb.setup('memory', state_dir=str(state / 'state'))
    for kind, vg in VG.items():
        sh('pvcreate', '-ff', '-y', DISK[kind])
        sh('vgcreate', vg, DISK[kind])
    yield state
    _cleanup_all()
    for kind, vg in VG.items():
        sh('vgremove', '-ff', '-y', vg, check=False)
        sh('pvremove', '-ff', '-y', DISK[kind], check=False)


@pytest.fixture(scope='session')
def tgtd(lvm_session):
    """tgtd on 127.0.0.1:3261, reading Cinder's target files (as a real tgt host is set up)."""
    vols = lvm_session / 'tgt-volumes'
    vols.mkdir()
    os.makedirs('/etc/tgt/conf.d', exist_ok=True)
    with open('/etc/tgt/conf.d/cinder_nb.conf', 'w') as fh:
        fh.write(f'include {vols}/*\n')
    sh('tgtd', '--iscsi', f'portal=127.0.0.1:{PORT["tgtadm"]}')
    for _ in range(50):
        if subprocess.run(['tgtadm', '--lld', 'iscsi', '--mode', 'target', '--op', 'show'],
                          capture_output=True).returncode == 0:
            break
        import time
        time.sleep(0.2)
    yield str(vols)
    sh('tgtadm', '--op', 'delete', '--mode', 'system', check=False)


@pytest.fixture(scope='session')
def backends(lvm_session, request):
    """backends(lvm_type, helper) -> a Backend of Cinder's LVMVolumeDriver (made once)."""
    made = _BACKENDS

    def get(lvm_type: str, helper: str = 'lioadm'):
        key = (lvm_type, helper)
        if key not in made:
            extra = {}
            if helper == 'tgtadm':
                extra['volumes_dir'] = request.getfixturevalue('tgtd')
            made[key] = cnb.Backend(
                f'lvm-{lvm_type}-{helper[:3]}', volume_driver=LVM_DRIVER, volume_group=VG[lvm_type],
                lvm_type='thin' if lvm_type == 'thin' else 'default', target_helper=helper,
                target_protocol='iscsi', target_ip_address='127.0.0.1', target_port=PORT[helper],
                use_chap_auth=True, volume_clear='none', **extra)
        return made[key]
    return get


@pytest.fixture
def clean(lvm_session):
    """After the test: nothing it made is left attached, connected or on the volume groups.

    Leftovers of an earlier failed test are removed first and not blamed on this one."""
    _cleanup_all()
    before = _resource_ids()
    yield
    made = _resource_ids() - before
    _cleanup_all()
    sessions = iscsi_sessions()
    assert not sessions, f'iSCSI sessions left behind: {sessions}'
    assert not made, f'the test left resources behind: {sorted(made)}'


def _resource_ids() -> set[str]:
    from cinder_nb import _runtime
    if not _runtime.is_setup():
        return set()
    ids = {f'connection {c.id}' for c in _runtime.get().live['connection'].values() if c.status != 'deleted'}
    for backend in _BACKENDS.values():
        for vol in backend.volumes:
            ids.add(f'volume {vol.id}')
            ids.update(f'snapshot {s.id}' for s in vol.snapshots)
    return ids


def _cleanup_all() -> None:
    """Detach, disconnect and delete whatever the LVM backends still hold (errors ignored)."""
    from cinder_nb import _runtime
    if not _runtime.is_setup():
        return
    for conn in list(_runtime.get().live['connection'].values()):
        if conn.status == 'deleted':
            continue
        try:
            conn.detach(force=True) if conn.attached else conn.disconnect(force=True)
        except Exception:
            pass
    for backend in _BACKENDS.values():
        for vol in backend.volumes:
            for snap in vol.snapshots:
                try:
                    snap.delete()
                except Exception:
                    pass
            try:
                if vol.status not in ('available', 'error'):
                    vol.reset_status('error')
                vol.delete()
            except Exception:
                pass
    if iscsi_sessions():   # a session whose connection record is gone: log it out
        sh('iscsiadm', '-m', 'node', '--logoutall=all', check=False)
