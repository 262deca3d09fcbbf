"""oVirt Managed Block Storage style: every command a fresh process on a shared database.

The test plays both sides: the engine, which runs tests/cinderlib/client.py once per
command (cinder_nb.cinderlib on PostgreSQL or SQLite, caller-chosen UUIDs), and the
hypervisor host, which attaches the exported volume itself with os-brick and reports the
device back (``device_attached``), as vdsm does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.helpers import LOOP_OK, device_size, read_at, write_at

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GiB, MiB = 1 << 30, 1 << 20
CONNECTOR = {'host': 'hv-1', 'ip': '192.0.2.21', 'initiator': 'iqn.1994-05.com.redhat:hv-1',
             'multipath': False, 'platform': 'x86_64', 'os_type': 'linux2'}


def _client(db_url: str, locks: str, driver: dict):
    def call(command: str, *args: str):
        proc = subprocess.run([sys.executable, '-m', 'tests.cinderlib.client', command, db_url, locks,
                               json.dumps(driver), *args], cwd=REPO, capture_output=True, text=True,
                              timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert not (isinstance(out, dict) and 'error' in out), out
        return out
    return call


def _host_attach(conn_info: dict) -> dict:
    """The hypervisor's side: os-brick attaches what connect() exported."""
    from os_brick.initiator import connector
    brick = connector.InitiatorConnector.factory(conn_info['driver_volume_type'], None)
    return brick.connect_volume(conn_info['data'])


def _host_detach(conn_info: dict, device: dict) -> None:
    from os_brick.initiator import connector
    brick = connector.InitiatorConnector.factory(conn_info['driver_volume_type'], None)
    brick.disconnect_volume(conn_info['data'], device)


def _flow(db_url: str, tmp_path) -> None:
    volumes = tmp_path / 'volumes'
    driver = {'volume_backend_name': 'mbs', 'volume_driver': 'cinder_nb.drivers.localfile.LocalFileDriver',
              'local_file_path': str(volumes), 'local_file_attach_mode': 'loop' if LOOP_OK else 'file'}
    cl = _client(db_url, str(tmp_path / 'locks'), driver)
    vol_id, clone_id, restored_id = (str(uuid.uuid4()) for _ in range(3))

    assert cl('stats')['allocated_gb'] == 0
    assert cl('create_volume', vol_id, '1') == {'id': vol_id, 'size': 1, 'status': 'available'}
    assert cl('stats')['allocated_gb'] == 1

    connected = cl('connect', vol_id, json.dumps(CONNECTOR))
    conn_id, conn_info = connected['connection_id'], connected['conn']
    assert conn_info['driver_volume_type'] == 'local'
    device = _host_attach(conn_info)
    assert cl('save_device', conn_id, json.dumps(device)) == {'attached': True}
    info = cl('connection_info', vol_id)
    assert len(info) == 1 and info[0]['conn'] == conn_info and info[0]['device'] == device
    assert info[0]['connector'] == CONNECTOR

    write_at(device['path'], 5 * MiB, b'written by the host' * 50)
    assert cl('extend', vol_id, '2') == {'new_size_bytes': 2 * GiB}
    assert device_size(device['path']) == 2 * GiB, 'the host does not see the new size'
    assert cl('stats')['allocated_gb'] == 2

    assert cl('clone', vol_id, clone_id) == {'id': clone_id, 'source_volid': vol_id, 'size': 2}
    snap = cl('create_snapshot', vol_id, 'before-change')
    write_at(device['path'], 5 * MiB, b'CHANGED AFTERWARDS!' * 50)
    assert cl('create_from_snapshot', snap['id'], restored_id) == {
        'id': restored_id, 'snapshot_id': snap['id'], 'size': 2}
    assert cl('remove_snapshot', snap['id']) == {'deleted': snap['id']}
    assert cl('stats')['allocated_gb'] == 6

    # the data at the storage: the clone and the volume from the snapshot hold the original
    for ident in (clone_id, restored_id):
        assert read_at(str(volumes / 'volumes' / f'volume-{ident}'), 5 * MiB, 19 * 50) == b'written by the host' * 50
    assert read_at(device['path'], 5 * MiB, 19) == b'CHANGED AFTERWARDS!'

    _host_detach(conn_info, device)
    assert cl('disconnect', vol_id) == {'status': 'available', 'connections': 0}
    assert cl('connection_info', vol_id) == []
    for ident in (restored_id, clone_id, vol_id):
        assert cl('delete', ident) == {'deleted': True}
    assert cl('list') == [] and cl('stats')['allocated_gb'] == 0
    assert os.listdir(volumes / 'volumes') == [] and os.listdir(volumes / 'snapshots') == []
    loops = subprocess.run(['losetup', '-a'], capture_output=True, text=True).stdout
    assert str(volumes) not in loops


def test_client_flow_on_sqlite(tmp_path):
    _flow(f"sqlite:///{tmp_path / 'engine.db'}", tmp_path)


@pytest.mark.postgresql
def test_client_flow_on_postgresql(postgresql_url, tmp_path):
    _flow(postgresql_url, tmp_path)
