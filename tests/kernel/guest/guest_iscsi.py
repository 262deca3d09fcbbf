"""iSCSI beyond the basic LIO path: tgt (tgtadm) as target helper, CHAP secrets kept in the
process, and a remote attach by a second host from connection_info alone. Runs inside the test
guest (see tests/kernel/conftest.py)."""
from __future__ import annotations

import glob
import json
import logging
import os
import subprocess
import sys

import pytest

import cinder_nb as cnb
from tests.kernel.guest.conftest import VG, iscsi_sessions, sh
from tests.helpers import read_at, write_at
from tests.kernel.guest.guest_lvm import GiB, read_through_attach, write_through_attach

HOST2_IFACE = 'cnb-host2'
HOST2_IQN = 'iqn.2026-11.org.cinder-nb:host2'
LIO = '/sys/kernel/config/target/iscsi'


@pytest.mark.parametrize('lvm_type', ['thick'])
def test_tgt_attach_snapshot_clone(backends, clean, lvm_type):
    lab = backends(lvm_type, 'tgtadm')
    vol = lab.create_volume(1)
    marks = {0: b'tgt-' + lvm_type.encode(), GiB - 512: b'end'}
    conn = vol.attach()
    try:
        assert conn.connection_info['data']['target_portal'] == '127.0.0.1:3261'
        assert conn.connection_info['data']['auth_method'] == 'CHAP'
        iqn = conn.connection_info['data']['target_iqn']
        assert iqn in sh('tgtadm', '--lld', 'iscsi', '--mode', 'target', '--op', 'show')
        for offset, data in marks.items():
            write_at(conn.path, offset, data)
    finally:
        vol.detach()
    assert iqn not in sh('tgtadm', '--lld', 'iscsi', '--mode', 'target', '--op', 'show')
    snap = vol.create_snapshot()
    write_through_attach(vol, {0: b'changed'})
    from_snap = snap.create_volume()
    assert read_through_attach(from_snap, marks) == marks
    assert read_at(f'/dev/{VG[lvm_type]}/volume-{vol.id}', 0, 7, uncached=True) == b'changed'   # the source kept its new data
    from_snap.delete()
    snap.delete()
    vol.delete()
    assert iqn not in sh('tgtadm', '--lld', 'iscsi', '--mode', 'target', '--op', 'show')


def _no_secret(secret: str, where: str, text: str) -> None:
    assert secret not in text, f'the CHAP secret leaked into {where}'


def test_chap_secrets_stay_in_the_process(backends, clean, caplog, capsys):
    from cinder_nb.notebook import frames
    caplog.set_level(logging.DEBUG)
    lab = backends('thin')
    vol = lab.create_volume(1)
    conn = vol.attach()
    try:
        data = conn.connection_info['data']
        user, password = data['auth_username'], data['auth_password']
        assert data['auth_method'] == 'CHAP' and len(password) >= 12
        assert vol.provider_location and password in (vol._rec['driver_data'].get('provider_auth') or '')
        # LIO really enforces it: the target's ACL carries the CHAP user this session logged in with
        acl = glob.glob(f'{LIO}/{data["target_iqn"]}/tpgt_1/acls/*/auth/userid')
        assert acl and open(acl[0]).read().strip() == user
        dumped = cnb.dumps()
        _no_secret(password, 'dumps()', dumped)
        assert '***' in dumped
        _no_secret(password, 'reprs', repr(vol) + repr(conn) + vol._repr_html_() + conn._repr_html_())
        for df in (frames.volumes_df(), frames.connections_df()):
            _no_secret(password, 'DataFrames', df.to_string() + df.to_html() + df.to_json())
        # a driver failure while the secret is around: connect once more from another host
        # whose export the target refuses (the volume is not multiattach -> typed error)
        with pytest.raises(cnb.InvalidState) as err:
            vol.connect({'host': 'other', 'initiator': 'iqn.2026-11.org.cinder-nb:other', 'ip': '127.0.0.1',
                         'multipath': False, 'platform': 'x86_64', 'os_type': 'linux'})
        _no_secret(password, 'error output', str(err.value) + repr(err.value))
    finally:
        vol.detach()
    logged = caplog.text + '\n'.join(r.getMessage() for r in caplog.records)
    _no_secret(password, 'logs', logged)
    out = capsys.readouterr()
    _no_secret(password, 'stdout/stderr', out.out + out.err)
    vol.delete()


@pytest.fixture
def host2():
    """A second initiator identity: an open-iscsi interface with its own initiator name.

    A separate network namespace cannot host it: the kernel's iSCSI transport (NETLINK_ISCSI,
    scsi_transport_iscsi) is registered in the initial namespace only, so iscsid started in
    another namespace cannot drive sessions (see docs/kernel-tests.md).
    """
    sh('iscsiadm', '-m', 'iface', '-I', HOST2_IFACE, '-o', 'new')
    sh('iscsiadm', '-m', 'iface', '-I', HOST2_IFACE, '-o', 'update', '-n', 'iface.initiatorname', '-v', HOST2_IQN)
    sh('iscsiadm', '-m', 'iface', '-I', HOST2_IFACE, '-o', 'update', '-n', 'iface.transport_name', '-v', 'tcp')
    yield {'host': 'compute-2', 'initiator': HOST2_IQN, 'ip': '127.0.0.1', 'multipath': False,
           'platform': 'x86_64', 'os_type': 'linux', 'do_local_attach': False}
    sh('iscsiadm', '-m', 'iface', '-I', HOST2_IFACE, '-o', 'delete', check=False)


@pytest.mark.parametrize('helper', ['lioadm'])
def test_remote_attach_from_a_second_host(backends, clean, host2, helper):
    lab = backends('thin', helper)
    vol = lab.create_volume(1)
    marks = {8192: b'written by host 1 through cinder_nb'}
    write_through_attach(vol, marks)
    conn = vol.connect(host2)
    assert conn.status == 'attached' and not conn.attached and vol.status == 'in-use'
    info = conn.connection_info
    iqn = info['data']['target_iqn']
    if helper == 'lioadm':
        assert os.path.isdir(f'{LIO}/{iqn}/tpgt_1/acls/{HOST2_IQN}'), 'LIO has no ACL for host 2'
    proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'host2_attach.py'),
                           HOST2_IFACE, '8192', str(len(marks[8192]))], input=json.dumps(info),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen['data'].encode('latin-1') == marks[8192]
    assert HOST2_IQN in seen['sessions'], 'the session did not log in as host 2'
    assert iscsi_sessions() == []
    conn.disconnect()
    assert vol.status == 'available' and vol.connections == []
    if helper == 'lioadm':
        assert not os.path.exists(f'{LIO}/{iqn}'), 'disconnect() left the LIO target'
    else:
        assert iqn not in sh('tgtadm', '--lld', 'iscsi', '--mode', 'target', '--op', 'show')
    vol.delete()

