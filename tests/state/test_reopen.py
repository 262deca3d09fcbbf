"""Reopening a session: a new process on an existing state gets its backends back from the
stored configuration (secrets from secrets=, the environment or the OS keyring) and finds
its resources by cinderlib's lookup names; refresh() re-reads what another process changed."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import cinder_nb as cnb
from cinder_nb import _credentials, _runtime
from cinder_nb.persistence.sql import SQLPersistence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHAP = 'tests.state.secret_driver.ChapFileDriver'
PW = 'reopen-Pw-41c9'
STORES = ['sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)]


def _make_state(tmp_path, config) -> dict:
    _runtime.setup(config, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    chap = cnb.Backend('chap', volume_driver=CHAP, local_file_path=str(tmp_path / 'chapvols'),
                       local_file_attach_mode='file', chapfile_password=PW)
    vol = lab.create_volume(1, name='data')
    snap = vol.create_snapshot(name='before')
    conn = vol.connect({'host': 'h1'})
    cvol = chap.create_volume(1, name='chapvol')
    cconn = cvol.connect({'host': 'h1'})
    return {'volume': vol.id, 'snapshot': snap.id, 'connection': conn.id, 'chap_connection': cconn.id,
            'objects': (vol, snap, conn, cvol, cconn)}


def _new_process(tmp_path, config, ids, env=None, secrets=None) -> dict:
    cfg = {'url': config} if isinstance(config, str) else dict(config)
    if secrets is not None:
        cfg['_secrets'] = secrets
    clean = {k: v for k, v in os.environ.items() if not k.startswith('CINDER_NB_SECRET_')}
    proc = subprocess.run([sys.executable, '-m', 'tests.state.reopen_worker', json.dumps(cfg), str(tmp_path),
                           json.dumps({k: v for k, v in ids.items() if k != 'objects'})],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env={**clean, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('persistence_config', STORES, indirect=True)
def test_a_new_process_reopens_the_backends_and_finds_everything(tmp_path, persistence_config):
    ids = _make_state(tmp_path, persistence_config)
    seen = _new_process(tmp_path, persistence_config, ids, secrets={'chap': {'chapfile_password': PW}})
    assert 'error' not in seen, seen
    assert seen['loaded_at_start'] == [] and seen['loaded_before_op'] == []      # lookups start nothing
    assert seen['volume'] == [ids['volume'], 'data', 1, 'in-use']
    assert seen['by_name'] == [ids['volume']]
    assert seen['snapshot'] == [ids['snapshot'], ids['volume'], 'available']
    assert seen['snap_by_name'] == [ids['snapshot']]
    assert seen['connection'] == [ids['connection'], ids['volume'], 'attached']
    assert seen['missing'] == 'NotFound'
    assert seen['loaded_after_op'] == ['lab']                 # extend() reopened the volume's backend
    assert seen['file_size'] == 2 << 30
    assert seen['backends'] == ['chap', 'lab']
    vol = ids['objects'][0]
    vol.refresh()                                             # this process sees the other's extend
    assert vol.size == 2 and os.path.getsize(vol.provider_location) == 2 << 30


@pytest.mark.parametrize('source', ['environment', 'keyring'])
def test_secret_from_the_environment_or_the_os_keyring(tmp_path, source):
    config = {'storage': 'sqlite', 'path': str(tmp_path / 's.db')}
    ids = _make_state(tmp_path, config)
    if source == 'environment':
        env = {_credentials.secret_env_name('chap', 'chapfile_password'): PW}
    else:
        pytest.importorskip('keyring', reason='the keyring package is not installed (cinder_nb[keyring])')
        store = tmp_path / 'keyring.json'
        env = {'PYTHON_KEYRING_BACKEND': 'tests.state.file_keyring.FileKeyring',
               'CNB_TEST_KEYRING_FILE': str(store)}
        setter = subprocess.run([sys.executable, '-c', 'import keyring, sys; keyring.set_password(*sys.argv[1:])',
                                 _credentials.KEYRING_SERVICE, _credentials.keyring_user('chap', 'chapfile_password'),
                                 PW], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
        assert setter.returncode == 0, setter.stderr
    seen = _new_process(tmp_path, config, ids, env=env)
    assert 'error' not in seen, seen
    assert seen['backends'] == ['chap', 'lab']


def test_a_missing_secret_is_a_typed_error_naming_the_option(tmp_path):
    config = {'storage': 'sqlite', 'path': str(tmp_path / 's.db')}
    ids = _make_state(tmp_path, config)
    seen = _new_process(tmp_path, config, ids, env={
        'PYTHON_KEYRING_BACKEND': 'tests.state.file_keyring.FileKeyring',
        'CNB_TEST_KEYRING_FILE': str(tmp_path / 'empty-keyring.json')})
    assert seen['loaded_after_op'] == ['lab']                 # the backend without secrets still opens
    assert seen['error'] == 'MissingSecret'
    assert 'chapfile_password' in seen['message'] and 'CINDER_NB_SECRET_CHAP_CHAPFILE_PASSWORD' in seen['message']
    assert PW not in json.dumps(seen)


def test_stored_secret_is_redacted_and_a_wrong_one_fails_to_start(tmp_path):
    db = tmp_path / 's.db'
    ids = _make_state(tmp_path, {'path': str(db)})
    stored = SQLPersistence(f'sqlite:///{db}').get('backend', 'chap')
    assert stored['secret_options'] == ['chapfile_password'] and PW not in json.dumps(stored)
    _runtime.setup({'path': str(db)}, state_dir=str(tmp_path / 'st2'), secrets={'chap': {'chapfile_password': ''}})
    with pytest.raises(cnb.BackendConfigError):
        cnb.Backend.open('chap')
    assert 'chap' not in cnb.Backend.backends
    assert cnb.Backend.open('lab').name == 'lab'
    with pytest.raises(cnb.NotFound):
        cnb.Backend.open('nosuch')
    assert ids


def test_backend_backends_is_a_live_view_of_the_loaded_backends(tmp_path):
    _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    assert dict(cnb.Backend.backends) == {}
    lab = cnb.embedded(str(tmp_path / 'v'), name='lab', local_file_attach_mode='file')
    assert cnb.Backend.backends['lab'] is lab and list(cnb.Backend.backends) == ['lab']
    assert len(cnb.Backend.backends) == 1 and 'lab' in cnb.Backend.backends
    with pytest.raises(TypeError):
        cnb.Backend.backends['x'] = lab               # read-only: backends are made by Backend(...)
    lab.shutdown()
    assert 'lab' not in cnb.Backend.backends
    # a memory session keeps the stored configuration for the process: backends() reopens it
    assert [b.name for b in cnb.backends()] == ['lab']
    lab2 = cnb.Backend.backends['lab']
    lab2.refresh()
    assert lab2.stats()['pools']


def test_lookups_and_refresh_in_one_process(tmp_path):
    db = tmp_path / 's.db'
    _runtime.setup({'path': str(db)}, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    a, b = lab.create_volume(1, name='twin'), lab.create_volume(1, name='twin')
    assert cnb.Volume.get_by_id(a.id) is a
    assert [v.id for v in cnb.Volume.get_by_name('twin')] == [a.id, b.id]
    assert cnb.Volume.get_by_name('nobody') == []
    for bad in (None, 5, 'x' * 300):
        with pytest.raises(cnb.InvalidArgument):
            cnb.Volume.get_by_id(bad)
    with pytest.raises(cnb.NotFound):
        cnb.Snapshot.get_by_id(a.id)                      # a volume id is not a snapshot's
    other = cnb.embedded(str(tmp_path / 'vols2'), name='other', local_file_attach_mode='file')
    c = other.create_volume(1, name='elsewhere')
    assert [v.id for v in cnb.Volume.get_all()] == [a.id, b.id, c.id]     # every volume, oldest first
    assert [v.id for v in cnb.Volume.get_all(backend='other')] == [c.id]
    assert cnb.Snapshot.get_all() == [] and cnb.Connection.get_all('lab') == []
    elsewhere = SQLPersistence(f'sqlite:///{db}')         # another process sharing the file
    row = elsewhere.get('volume', a.id)
    row.update(name='renamed', updated_at='2999-01-01T00:00:00+00:00')
    elsewhere.put('volume', row)
    a.refresh()
    assert a.name == 'renamed'
    elsewhere.delete('volume', b.id)
    with pytest.raises(cnb.NotFound):
        b.refresh()
    assert b.status == 'deleted'
    elsewhere.close()
