"""Migration from a cinderlib 5.2 deployment: state written by the REAL cinderlib 5.2.0.

tests/cinderlib/legacy_writer.py runs in a venv with cinderlib 5.2.0 + Cinder 23.5
(tests/cinderlib/legacy.py) and leaves volumes (one with data, one with a volume type),
a snapshot, a volume from it and a connection with a recorded device, in its memory
persistence (JSON dumps) or its db persistence (SQLite, PostgreSQL). cinder_nb imports that
with one call, and the volumes are then usable: extend, snapshot, attach and read the data
cinderlib's user wrote, disconnect, delete.
"""
from __future__ import annotations

import os

import pytest

import cinder_nb as cnb
import cinder_nb.cinderlib as cinderlib
from cinder_nb.errors import StateError
from tests.cinderlib.legacy import write_legacy_state
from tests.helpers import cleanup_backends as _cleanup_backends, read_at

MiB, GiB = 1 << 20, 1 << 30


@pytest.fixture
def fresh(tmp_path):
    cinderlib.Backend.global_initialization = False
    yield
    _cleanup_backends()
    cinderlib.Backend.global_initialization = False


def _legacy_backend(volumes) -> None:
    cinderlib.Backend(volume_backend_name='legacy', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                      local_file_path=str(volumes), local_file_attach_mode='file')


def _check_and_use(ids: dict, volumes, qos: bool) -> None:
    """The migrated state is cinderlib's, and cinder_nb can work with it to the end."""
    data, typed = cnb.Volume.get_by_id(ids['data']), cnb.Volume.get_by_id(ids['typed'])
    assert (data.name, data.size, data.status) == ('data', 1, 'in-use')
    assert (typed.name, typed.size, typed.extra_specs, typed.metadata) == (
        'typed', 2, {'thin': 'true'}, {'owner': 'ovirt'})
    if qos:   # cinderlib's db persistence loses a volume type's QoS link (see docs/cinderlib.md)
        assert typed.qos_specs == {'read_iops_sec': '500'}
    snap = cnb.Snapshot.get_by_id(ids['snapshot'])
    assert (snap.name, snap.volume_id, snap.volume_size, snap.status) == ('before', data.id, 1, 'available')
    restored = cnb.Volume.get_by_id(ids['restored'])
    assert restored.snapshot_id == snap.id and restored.status == 'available'
    conn = cinderlib.Connection.get_by_id(ids['connection'])
    assert conn.connector_info['host'] == 'hv-legacy' and conn.path == '/dev/fake-on-hv-legacy'
    assert conn.conn_info['driver_volume_type'] == 'local' and conn.volume.id == data.id
    assert sorted(v.id for v in cnb.Backend.open('legacy').volumes) == sorted(
        [ids['data'], ids['typed'], ids['restored']])

    data.extend(2)
    assert os.path.getsize(volumes / 'volumes' / f'volume-{data.id}') == 2 * GiB
    new_snap = data.create_snapshot(name='after-migration')
    conn.disconnect()                    # the hypervisor's device: forgotten with the connection
    assert data.status == 'available'
    for vol in (data, restored):
        local = vol.attach()
        assert read_at(local.path, 3 * MiB, 200) == b'cinderlib wrote this' * 10
        vol.detach()
    for s in (new_snap, snap):
        s.delete()
    for v in (restored, typed, data):
        v.delete()
    assert os.listdir(volumes / 'volumes') == [] and os.listdir(volumes / 'snapshots') == []


def test_migrate_cinderlib_json_dumps(cinderlib_python, fresh, tmp_path):
    volumes = tmp_path / 'volumes'
    ids = write_legacy_state(cinderlib_python, {'storage': 'memory'}, str(volumes), str(tmp_path))
    cinderlib.setup(persistence_config={'storage': 'db', 'connection': f'sqlite:///{tmp_path}/nb.db'},
                    file_locks_path=str(tmp_path / 'nb'))
    with pytest.raises(StateError, match='legacy'):
        cinderlib.migrate(ids['dumps'])   # its backend is not loaded yet: nothing imported
    assert cnb.Volume.get_by_name('data') == []
    _legacy_backend(volumes)
    result = cinderlib.migrate(ids['dumps'])
    assert sorted(v.id for v in result['volumes']) == sorted([ids['data'], ids['typed'], ids['restored']])
    assert [s.id for s in result['snapshots']] == [ids['snapshot']]
    assert [c.id for c in result['connections']] == [ids['connection']]
    _check_and_use(ids, volumes, qos=True)


def test_migrate_cinderlib_db_on_sqlite(cinderlib_python, fresh, tmp_path):
    volumes, url = tmp_path / 'volumes', f'sqlite:///{tmp_path}/cinderlib.db'
    ids = write_legacy_state(cinderlib_python, {'storage': 'db', 'connection': url}, str(volumes), str(tmp_path))
    cinderlib.setup(persistence_config={'storage': 'db', 'connection': f'sqlite:///{tmp_path}/nb.db'},
                    file_locks_path=str(tmp_path / 'nb'))
    _legacy_backend(volumes)
    cinderlib.migrate({'storage': 'db', 'connection': url})
    _check_and_use(ids, volumes, qos=False)


@pytest.mark.postgresql
def test_migrate_cinderlib_db_on_postgresql_into_the_same_database(cinderlib_python, postgresql_url, fresh,
                                                                   tmp_path):
    """cinder_nb's tables (cinder_nb_*) sit beside Cinder's in the database cinderlib used."""
    volumes = tmp_path / 'volumes'
    ids = write_legacy_state(cinderlib_python, {'storage': 'db', 'connection': postgresql_url},
                             str(volumes), str(tmp_path))
    cinderlib.setup(persistence_config={'storage': 'db', 'connection': postgresql_url},
                    file_locks_path=str(tmp_path / 'nb'))
    _legacy_backend(volumes)
    cinderlib.migrate(postgresql_url)
    _check_and_use(ids, volumes, qos=False)


def test_migrate_refuses_crafted_documents_whole(fresh, tmp_path):
    cinderlib.setup(file_locks_path=str(tmp_path))
    _legacy_backend(tmp_path / 'volumes')
    good = {'class': 'Volume', 'backend': {'volume_backend_name': 'legacy'}, 'ovo': {
        'versioned_object.name': 'Volume', 'versioned_object.data': {
            'id': 'v1', 'size': 1, 'status': 'available', 'host': 'h@legacy#legacy', 'display_name': 'x'}}}
    for bad_data in ({'status': 'exploded'}, {'size': 0}, {'host': 'no-backend-here'}, {'size': '1'}):
        doc = {**good, 'ovo': {'versioned_object.data': {**good['ovo']['versioned_object.data'], **bad_data}}}
        with pytest.raises(StateError):
            cinderlib.migrate([doc, {'class': 'Volume', 'backend': {}, 'ovo': good['ovo']}])
    for junk in ('not json', '[{"class": "Nope"}]', '{"class": "Volume", "ovo": 3}'):
        with pytest.raises(StateError):
            cinderlib.migrate(junk)
    assert cnb.Backend.open('legacy').volumes == []
