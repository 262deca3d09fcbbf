"""cinder_nb.cinderlib's own behaviour: setup() arguments, views, validation where cinderlib had none."""
from __future__ import annotations

import os

import pytest

import cinder_nb.cinderlib as cinderlib
from cinder_nb import _runtime
from cinder_nb.cinderlib.backend import persistence_config_to_cinder_nb
from cinder_nb.cinderlib.cmd import cinder_to_yaml
from cinder_nb.errors import BackendConfigError, InvalidArgument, InvalidState, NotFound
from cinder_nb.persistence.memory import MemoryPersistence
from cinder_nb.persistence.sql import SQLPersistence
from tests.helpers import cleanup_backends as _cleanup_backends

GiB = 1 << 30


@pytest.fixture
def cl(tmp_path):
    """cinderlib set up on memory persistence with its locks in a temp dir."""
    cinderlib.Backend.global_initialization = False
    cinderlib.setup(file_locks_path=str(tmp_path / 'locks'), disable_logs=False)
    yield cinderlib
    _cleanup_backends()
    cinderlib.Backend.global_initialization = False


@pytest.fixture
def backend(cl, tmp_path):
    return cl.Backend('lab', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                      local_file_path=str(tmp_path / 'vols'), local_file_attach_mode='file')


def test_setup_maps_cinderlib_persistence_configs(tmp_path):
    assert persistence_config_to_cinder_nb(None) == 'memory'
    assert persistence_config_to_cinder_nb({'storage': 'memory_db'}) == 'memory'
    assert persistence_config_to_cinder_nb({'storage': 'db', 'connection': 'sqlite://'}) == 'memory'
    url = f'sqlite:///{tmp_path}/cl.db'
    assert persistence_config_to_cinder_nb({'storage': 'db', 'connection': url}) == url
    assert (persistence_config_to_cinder_nb({'storage': 'db', 'connection': 'postgresql+psycopg2://u@h/d'})
            == 'postgresql://u@h/d')
    for bad in ({'storage': 'db'}, {'storage': 'db', 'connection': 'mysql+pymysql://u@h/d'},
                {'storage': 'db', 'connection': url, 'pool_size': 3}, 'memory', {'storage': 42}):
        with pytest.raises(InvalidArgument):
            persistence_config_to_cinder_nb(bad)
    cinderlib.Backend.global_initialization = False
    cinderlib.setup(persistence_config={'storage': 'db', 'connection': url}, file_locks_path=str(tmp_path))
    try:
        assert isinstance(_runtime.get().persistence, SQLPersistence)
        assert os.path.exists(tmp_path / 'cl.db') and os.path.isdir(tmp_path / 'locks')
    finally:
        cinderlib.Backend.global_initialization = False


def test_setup_runs_once_and_checks_its_arguments(cl, tmp_path):
    assert isinstance(_runtime.get().persistence, MemoryPersistence)
    with pytest.raises(cinderlib.exception.AlreadySetup):
        cinderlib.setup()
    cinderlib.Backend.global_initialization = False
    before = _runtime.get()
    with pytest.raises(InvalidArgument, match='no_such_option'):
        cinderlib.setup(no_such_option=1)
    assert _runtime.get() is before, 'a refused setup() changed the session'
    with pytest.raises(InvalidArgument, match='disable_logs'):
        cinderlib.setup(disable_logs='yes')
    with pytest.raises(InvalidArgument, match='debug'):
        cinderlib.setup(debug='verbose')
    with pytest.raises(InvalidArgument, match='state_path'):   # cinder_nb sets it itself
        cinderlib.setup(state_path='/x')
    assert not cinderlib.Backend.global_initialization
    cinderlib.setup(file_locks_path=str(tmp_path), osapi_max_limit=500)   # a real Cinder option
    from cinder_nb import _cinder
    assert _cinder.CONF.osapi_max_limit == 500


def test_backend_views_and_lookups(backend, cl):
    assert cl.Backend.backends == {'lab': backend}
    assert cl.Backend('lab', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                      local_file_path=backend.driver.root, local_file_attach_mode='file') is backend
    with pytest.raises(BackendConfigError):   # cinderlib: ValueError; same name, other options
        cl.Backend('lab', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                   local_file_path='/elsewhere')
    vol = backend.create_volume(1, name='v', id='6a3f8d0e-6a54-4e3e-b5b8-6f3ff2d0c001')
    assert vol.id == '6a3f8d0e-6a54-4e3e-b5b8-6f3ff2d0c001' and vol.backend is backend
    assert cl.Volume.get_by_id(vol.id) is vol and cl.Volume.get_by_name('v') == [vol]
    assert backend.volumes_filtered(volume_name='v') == [vol] == backend.persistence.get_volumes(vol.id)
    assert backend.persistence.get_volumes(volume_id='nope') == []
    with pytest.raises(NotFound):
        cl.Volume.get_by_id('nope')
    assert vol.host.endswith('@lab#lab')   # an OVO field, read through the view as cinderlib did
    assert backend.config == {'volume_backend_name': 'lab'}


def test_create_validates_where_cinderlib_passed_garbage_on(backend):
    for bad in (0, -1, 1.5, '2', True):
        with pytest.raises(InvalidArgument):
            backend.create_volume(bad)
    with pytest.raises(InvalidArgument, match='availability_zone'):
        backend.create_volume(1, availability_zone='nova')
    assert backend.volumes == []


def test_connection_detach_keeps_it_until_disconnect(backend):
    vol = backend.create_volume(1)
    conn = vol.attach()
    assert conn.attached and vol.local_attach is conn and vol.status == 'in-use'
    assert conn.connection_info['conn'] == conn.conn_info and conn.conn_info['driver_volume_type'] == 'local'
    assert conn.connection_info['connector'] == conn.connector_info and conn.connection_info['device']
    conn.detach()
    assert not conn.attached and vol.local_attach is None and vol.connections == [conn]
    assert vol.status == 'in-use' and conn.connected
    with pytest.raises(cinderlib.exception.NotLocal):
        vol.detach()
    conn.disconnect()
    assert vol.connections == [] and vol.status == 'available' and conn.deleted


def test_disconnect_refuses_a_device_this_process_attached(backend):
    vol = backend.create_volume(1)
    conn = vol.attach()
    with pytest.raises(InvalidState, match='detach'):
        conn.disconnect()
    assert vol.local_attach is conn
    vol.detach()
    assert vol.connections == []


def test_device_attached_records_a_callers_device(backend):
    vol = backend.create_volume(1)
    conn = vol.connect({'host': 'hv-1', 'ip': '192.0.2.10'})
    for bad in (None, {}, {'path': ''}, {'path': 3}, '/dev/sdb'):
        with pytest.raises(InvalidArgument):
            conn.device_attached(bad)
    conn.device_attached({'type': 'block', 'path': '/dev/sdx'})
    assert conn.attached and conn.path == '/dev/sdx'
    assert cinderlib.Connection.get_by_id(conn.id).connection_info['device']['path'] == '/dev/sdx'
    conn.disconnect()   # the caller's device: forgotten with the connection, as in cinderlib
    assert vol.connections == [] and vol.status == 'available'


def test_extend_returns_bytes_detached_and_attached(backend):
    vol = backend.create_volume(1)
    assert vol.extend(2) == 2 * GiB
    vol.attach()
    assert vol.extend(3) == 3 * GiB == os.path.getsize(vol.local_attach.path)
    vol.detach()
    with pytest.raises(InvalidArgument):
        vol.extend(2)   # shrinking: cinderlib handed it to the driver


def test_deleted_and_the_ovo_view(backend):
    vol = backend.create_volume(1)
    snap = vol.create_snapshot(name='s')
    assert not vol.deleted and vol._ovo.size == 1 and snap._ovo.volume_size == 1
    with pytest.raises(InvalidArgument):
        vol._ovo.size = 5
    with pytest.raises(InvalidArgument):
        vol._ovo.status = 'sleeping'
    snap.delete()
    assert snap.deleted and snap.status == 'deleted'
    vol.delete()
    assert vol.deleted and vol not in backend.volumes
    vol._ovo.deleted = False   # what cinderlib's idempotency test does before deleting again
    assert vol.status == 'error' and not vol.deleted
    vol.delete()
    assert vol.deleted and backend.volumes == []


def test_key_values(backend, cl):
    p = backend.persistence
    p.set_key_value(cl.KeyValue('k1', {'a': 1}))
    p.set_key_value(cl.KeyValue('k2', 'v'))
    assert p.get_key_values('k1') == [cl.KeyValue('k1', {'a': 1})]
    assert sorted(kv.key for kv in p.get_key_values()) == ['k1', 'k2']
    with pytest.raises(InvalidArgument):
        p.set_key_value(cl.KeyValue('k3', object()))
    p.delete_key_value(cl.KeyValue('k1'))
    assert p.get_key_values('k1') == []


def test_list_supported_drivers_formats():
    v1, v2 = cinderlib.list_supported_drivers(), cinderlib.Backend.list_supported_drivers(2)
    assert v1['LocalFileDriver']['class_fqn'] == 'cinder_nb.drivers.localfile.LocalFileDriver'
    opt1 = next(o for o in v1['LocalFileDriver']['driver_options'] if o['dest'] == 'local_file_path')
    opt2 = next(o for o in v2['LocalFileDriver']['driver_options'] if o['dest'] == 'local_file_path')
    assert all(isinstance(v, str) for v in opt1.values()) and opt1['type'] == 'String'
    assert opt2['required'] is False and opt2['type']['type_name'] == 'string value'
    secret = [o for d in v2.values() for o in d['driver_options'] if o['secret']]
    assert secret and all(o['default'] is None for o in secret)
    with pytest.raises(InvalidArgument):
        cinderlib.list_supported_drivers(3)


def test_dumps_and_load_round_trip(backend, cl):
    vol = backend.create_volume(2, name='keep')
    text = cl.dumps()
    assert cl.json()['volumes'][0]['id'] == vol.id and isinstance(vol.jsons, str)
    cl.Backend.global_initialization = False
    cl.setup()
    loaded = cl.load(text)
    assert [b.id for b in loaded] == ['lab']
    again = cl.Volume.get_by_id(vol.id)
    assert again.size == 2 and again.name == 'keep' and again is not vol
    assert cl.Volume.load(vol.jsons).id == vol.id


def test_cinder_to_yaml(tmp_path):
    conf = tmp_path / 'cinder.conf'
    conf.write_text('[DEFAULT]\nenabled_backends = lvm, ceph\n[lvm]\nvolume_driver = x.LVM\n'
                    'volume_group = cinder-volumes\n[ceph]\nvolume_driver = x.RBD\nrbd_pool = rbd\n'
                    'volume_backend_name = rbd1\n')
    out = cinder_to_yaml.convert(str(conf), str(tmp_path / 'out.yaml'))
    assert out == {'backends': [
        {'volume_driver': 'x.LVM', 'volume_group': 'cinder-volumes', 'volume_backend_name': 'lvm'},
        {'volume_driver': 'x.RBD', 'rbd_pool': 'rbd', 'volume_backend_name': 'rbd1'}]}
    with pytest.raises(InvalidArgument):
        cinder_to_yaml.convert(str(tmp_path / 'missing.conf'))


def test_file_locks_path_and_debug_follow_every_setup(tmp_path):
    """A second setup() in the same process moves Cinder's locks and log level too
    (they were fixed by the first one, so file_locks_path was silently ignored)."""
    import logging
    from cinder_nb import _cinder
    try:
        for name, debug in (('one', True), ('two', False)):
            cinderlib.Backend.global_initialization = False
            cinderlib.setup(file_locks_path=str(tmp_path / name), debug=debug, disable_logs=False)
            assert _cinder.CONF.oslo_concurrency.lock_path == str(tmp_path / name / 'locks')
            assert _cinder.CONF.coordination.backend_url == 'file://' + str(tmp_path / name / 'locks')
            assert logging.getLogger('cinder').level == (logging.DEBUG if debug else logging.WARNING)
    finally:
        cinderlib.Backend.global_initialization = False


def test_a_device_recorded_for_another_host_is_not_rescanned_here(backend):
    """extend() of a volume another host attached (device_attached) must not run this
    host's os-brick on it: core Volume.local_attach took any recorded device for a local one."""
    vol = backend.create_volume(1)
    conn = vol.connect({'host': 'hv-2', 'ip': '192.0.2.22'})
    conn.device_attached({'type': 'block', 'path': '/dev/sdq'})
    assert vol.local_attach is None
    assert vol.extend(2) == 2 * GiB and vol.size == 2
    conn.disconnect()
