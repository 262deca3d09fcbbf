"""Secrets never leave the process: each secret field, through every way out.

The backend is a real Cinder driver (ChapFileDriver, a LocalFileDriver subclass)
with a ``secret=True`` option, per-volume CHAP ``provider_auth``, iSCSI connection
data with ``auth_password``/``discovery_auth_password``, or RBD data with a Ceph
``keyring``; it logs every one of them.
"""
from __future__ import annotations

import glob
import json
import logging
import sqlite3

import pytest

from cinder_nb.drivers.localfile import LocalFileDriver

import cinder_nb as cnb
from cinder_nb import _runtime, serialization
from cinder_nb._secrets import REDACTED, secret_values

CHAP = 'tests.state.secret_driver.ChapFileDriver'
BACKEND_PW = 'backend-Pw-7f3a9c'
CONNECTOR = {'host': 'h1', 'initiator': 'iqn.1993-08.org.debian:01:test'}


def _logged(caplog) -> str:
    """Every log message of the test so far (fixture set-up included), as handlers format them."""
    records = caplog.get_records('setup') + caplog.get_records('call')
    return '\n'.join(logging.Formatter('%(message)s').format(r) for r in records)


def _dig(node, path):
    for key in path.split('.'):
        node = node[key]
    return node


@pytest.fixture
def world(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    db = tmp_path / 'state.db'
    _runtime.setup({'path': str(db)}, state_dir=str(tmp_path / 'st'))
    iscsi = cnb.Backend('chap', volume_driver=CHAP, local_file_path=str(tmp_path / 'v1'),
                        local_file_attach_mode='file', chapfile_password=BACKEND_PW)
    rbd = cnb.Backend('cephish', volume_driver=CHAP, local_file_path=str(tmp_path / 'v2'),
                      local_file_attach_mode='file', chapfile_password=BACKEND_PW + 'x',
                      chapfile_protocol='rbd')
    vol = iscsi.create_volume(1, name='secretive')
    conn = vol.connect(CONNECTOR)
    rvol = rbd.create_volume(1)
    rconn = rvol.connect(CONNECTOR)
    return {'db': db, 'backend': iscsi, 'rbd': rbd, 'volume': vol, 'connection': conn, 'rconnection': rconn}


FIELDS = [
    ('volume', 'volume', 'driver_data.provider_auth'),
    ('connection', 'connection', 'connection_info.data.auth_password'),
    ('connection', 'connection', 'connection_info.data.discovery_auth_password'),
    ('connection', 'rconnection', 'connection_info.data.keyring'),
]


@pytest.mark.parametrize('kind, name, path', FIELDS, ids=[f[2].rsplit('.', 1)[-1] for f in FIELDS])
def test_secret_field_stays_in_process(world, caplog, kind, name, path):
    obj = world[name]
    secret = _dig(obj.record, path)
    if path.endswith('provider_auth'):
        assert secret.startswith('CHAP cnbuser ') and len(secret.split()) == 3
        secret_part = secret.split()[2]
    elif path.endswith('keyring'):
        assert '[client.cinder]' in secret and 'key = ' in secret
        secret_part = secret.split('key = ')[1].strip()
    else:
        secret_part = secret
    assert len(secret_part) >= 12
    # the live object holds the full value: the driver can use it
    assert _dig(obj.connection_info if kind == 'connection' else obj.record,
                path.split('.', 1)[1] if kind == 'connection' else path) == secret
    leaks = {'JSON (cnb.dumps)': cnb.dumps(), 'JSON (obj.dumps)': obj.dumps(),
             'JSON (backend.dumps)': obj.backend.dumps(), 'repr': repr(obj), 'html': obj._repr_html_(),
             'to_dict': json.dumps(obj.to_dict()), 'log': _logged(caplog)}
    # the database: the rows as stored, and every byte of the file and its WAL
    with sqlite3.connect(world['db']) as raw:
        rows = {i: json.loads(d) for i, d in raw.execute(
            'SELECT id, data FROM cinder_nb_resources WHERE kind = ?', (kind,))}
    assert _dig(rows[obj.id], path) == REDACTED
    leaks['db files'] = b''.join(open(f, 'rb').read() for f in glob.glob(f'{world["db"]}*')).decode('latin-1')
    pd = pytest.importorskip('pandas')
    leaks['DataFrame'] = pd.DataFrame([obj.to_dict()]).to_string() + repr(pd.json_normalize(obj.to_dict()))
    try:
        from cinder_nb.notebook import frames
        frame = frames.volumes_df() if kind == 'volume' else frames.connections_df()
        leaks['notebook DataFrame'] = frame.to_string() + repr(frame.to_dict())
    except ImportError:
        pass
    for where, text in leaks.items():
        assert secret_part not in text, f'secret leaked through {where}'
    doc = json.loads(obj.dumps())
    rec = doc[kind + 's'][0] if kind != 'connection' else next(
        c for c in doc['connections'] if c['id'] == obj.id)
    assert _dig(rec, path) == REDACTED and path in rec['_redacted']
    assert REDACTED in _logged(caplog)            # the driver did log it, scrubbed


def test_secret_backend_option_stays_in_process(world, caplog):
    backend = world['backend']
    assert backend.driver.configuration.chapfile_password == BACKEND_PW
    assert backend.secret_options == ['chapfile_password']
    assert backend.config['chapfile_password'] == REDACTED
    texts = [cnb.dumps(), backend.dumps(), repr(backend), backend._repr_html_(), _logged(caplog),
             json.dumps(_runtime.get().persistence.get('backend', 'chap'))]
    texts.append(b''.join(open(f, 'rb').read() for f in glob.glob(f'{world["db"]}*')).decode('latin-1'))
    for text in texts:
        assert BACKEND_PW not in text
    assert 'starting with discovery password ***' in _logged(caplog)
    entry = next(b for b in json.loads(cnb.dumps())['backends'] if b['name'] == 'chap')
    assert 'chapfile_password' not in entry['config'] and entry['secret_options'] == ['chapfile_password']


def test_loading_asks_for_the_secret_option(world, tmp_path, monkeypatch):
    text = cnb.dumps()
    vol_id = world['volume'].id
    _runtime.setup('memory', state_dir=str(tmp_path / 'st2'))
    with pytest.raises(cnb.MissingSecret) as info:
        cnb.load(text)
    err = info.value
    assert err.option == 'chapfile_password' and err.backend in ('chap', 'cephish')
    assert 'chapfile_password' in str(err) and err.env in str(err)
    assert _runtime.get().backends == {}
    env = serialization.secret_env_name('cephish', 'chapfile_password')
    monkeypatch.setenv(env, BACKEND_PW + 'x')
    out = cnb.load(text, secrets={'chap': {'chapfile_password': BACKEND_PW}})
    assert {b.name: b.driver.configuration.chapfile_password for b in out['backends']} == {
        'chap': BACKEND_PW, 'cephish': BACKEND_PW + 'x'}
    vol = _runtime.get().get('volume', vol_id)
    assert vol.record['driver_data']['provider_auth'] == REDACTED   # a lost secret stays a placeholder


def test_reload_in_the_same_process_keeps_the_real_secrets(world):
    vol, conn = world['volume'], world['connection']
    auth, pw = vol.record['driver_data']['provider_auth'], conn.connection_info['data']['auth_password']
    _runtime.get().backends['chap']  # loaded: its secret option comes from it
    cnb.load(cnb.dumps(), save=True)
    assert vol.record['driver_data']['provider_auth'] == auth
    assert conn.connection_info['data']['auth_password'] == pw
    assert _runtime.get().get('volume', vol.id).record['driver_data']['provider_auth'] == auth


def test_a_second_session_on_the_same_store_keeps_live_secrets_on_refresh(world):
    """Refreshing a live object from a newer stored row keeps its in-process secrets."""
    vol = world['volume']
    auth = vol.record['driver_data']['provider_auth']
    row = _runtime.get().persistence.get('volume', vol.id)
    row['name'] = 'renamed elsewhere'
    row['updated_at'] = '2999-01-01T00:00:00+00:00'
    _runtime.get().persistence.put('volume', row)
    [fresh] = [v for v in world['backend'].volumes if v.id == vol.id]
    assert fresh is vol and vol.name == 'renamed elsewhere'
    assert vol.record['driver_data']['provider_auth'] == auth


def test_log_scrubber_masks_unseen_credentials_by_shape(caplog):
    from cinder_nb._secrets import SCRUBBER
    SCRUBBER.install()
    log = logging.getLogger('cinder.volume.drivers.fake')
    with caplog.at_level(logging.INFO, logger='cinder.volume.drivers.fake'):
        log.info('auth CHAP admin s3cr3tv4lue and %s', {'auth_password': 'p4ssw0rdXYZ', 'secret_type': 'ceph'})
        log.info('keyring [client.admin]\n\tkey = AQBSdFhgAAAAABAAk7KkyB4U+0gc5Cl9e3kCRw==')
        log.info('password=hunter2222 user=admin')
    assert len(caplog.records) == 3
    for value in ('s3cr3tv4lue', 'p4ssw0rdXYZ', 'AQBSdFhgAAAAABAAk7KkyB4U', 'hunter2222'):
        assert value not in caplog.text
    assert "'secret_type': 'ceph'" in caplog.text and 'user=admin' in caplog.text


class LeakyDriver(LocalFileDriver):
    """Fails create_volume with a message quoting credentials, as some array drivers do."""

    def create_volume(self, volume):
        raise RuntimeError('login failed for admin with password=hunter2-secret CHAP admin s3cr3tchap')


def test_driver_error_quoting_a_secret_is_scrubbed(tmp_path):
    """A driver whose exception text quotes a password: the record, JSON and error are clean."""
    import cinder_nb as cnb
    cnb.setup('memory', state_dir=str(tmp_path))
    lab = cnb.Backend('leaky', volume_driver='tests.state.test_secrets.LeakyDriver',
                      local_file_path=str(tmp_path / 'v'))
    with pytest.raises(cnb.DriverError) as err:
        lab.create_volume(1)
    [vol] = lab.volumes
    for text in (str(err.value), vol.error, cnb.dumps()):
        assert 'hunter2-secret' not in text and 's3cr3tchap' not in text
    assert vol.status == 'error' and 'login failed' in vol.error


def test_dumps_from_stored_records_equals_redacting_the_live_ones(world, tmp_path):
    """dumps() takes saved objects' stored records as their public form (serialization.state_dict):
    that must equal redacting the live records, also after changes and with objects held only here."""
    from cinder_nb._secrets import redact
    world['volume'].create_snapshot(name='s1')
    world['volume'].extend(2)
    rvol = world['rconnection'].volume
    world['rconnection'].disconnect()
    # a copy of the RBD-style volume under a new id, held in this process only (save=False)
    here_only = cnb.load(rvol.dumps().replace(rvol.id, 'a0000000-0000-4000-8000-000000000001'), save=False)
    assert here_only['volumes'][0].id == 'a0000000-0000-4000-8000-000000000001'
    doc = json.loads(cnb.dumps())
    rt = _runtime.get()
    for kind, key in (('volume', 'volumes'), ('snapshot', 'snapshots'), ('connection', 'connections')):
        expect = {o.id: serialization._resource_entry(o, redact(o.record)) for o in rt.find(kind)}
        got = {r['id']: r for r in doc[key]}
        assert got == json.loads(json.dumps(expect)), kind
    assert 'a0000000-0000-4000-8000-000000000001' in {r['id'] for r in doc['volumes']}
    text = json.dumps(doc)
    secrets = secret_values(world["volume"].record) - {REDACTED}
    assert secrets and not any(v in text for v in secrets)
    assert BACKEND_PW not in text


def test_log_scrubber_masks_secrets_in_logged_tracebacks(world, caplog):
    """LOG.exception() of an error quoting a secret: the formatted traceback is masked."""
    log = logging.getLogger('cinder.volume.drivers.fake')
    with caplog.at_level(logging.ERROR, logger='cinder.volume.drivers.fake'):
        try:
            raise RuntimeError(f'login refused for {BACKEND_PW} and CHAP admin s3cr3tv4lue')
        except RuntimeError:
            log.exception('driver call failed')
        try:
            raise ValueError('nothing secret here')
        except ValueError:
            log.exception('plain failure')
    [masked, plain] = caplog.records
    text = logging.Formatter('%(message)s').format(masked)
    assert 'RuntimeError: login refused for ***' in text and 'Traceback' in text
    assert BACKEND_PW not in text and 's3cr3tv4lue' not in text and BACKEND_PW not in caplog.text
    assert plain.exc_info is not None        # tracebacks with nothing to mask are left as they were
    assert 'ValueError: nothing secret here' in logging.Formatter('%(message)s').format(plain)


@pytest.mark.parametrize('save', [True, False], ids=['save', 'in-process'])
def test_a_loaded_document_holding_plaintext_secrets_is_redacted_like_a_write(world, caplog, save):
    """A hand-written document may carry secrets in clear (not listed in _redacted): load()
    keeps them in the live objects for the driver, but neither the store, nor dumps(), nor a
    log line sees them, exactly as if cinder_nb had written the records itself."""
    plain_meta, plain_chap = 'crafted-Meta-Pw-4k2m9q', 'crafted-Chap-Pw-7v3n1x'
    new_vol, new_conn = 'a0000000-0000-4000-8000-0000000000aa', 'a0000000-0000-4000-8000-0000000000bb'
    doc = json.loads(world['volume'].dumps())
    vol = doc['volumes'][0]
    conn = next(c for c in doc['connections'] if c['volume_id'] == vol['id'])
    doc['snapshots'] = []
    doc['connections'] = [conn]
    conn['id'], conn['volume_id'] = new_conn, new_vol
    vol['id'], vol['name'] = new_vol, 'crafted'
    vol['metadata'] = {'admin_password': plain_meta}
    conn['connection_info']['data']['auth_password'] = plain_chap
    conn['_redacted'] = [p for p in conn['_redacted'] if not p.endswith('.auth_password')]
    loaded = cnb.load(doc, save=save)
    lvol, lconn = loaded['volumes'][0], loaded['connections'][0]
    assert lvol.record['metadata']['admin_password'] == plain_meta          # the driver can use it
    assert lconn.connection_info['data']['auth_password'] == plain_chap
    logging.getLogger('cinder').warning('driver says %s and %s', plain_meta, plain_chap)
    leaks = {'cnb.dumps': cnb.dumps(), 'volume.dumps': lvol.dumps(), 'repr': repr(lvol) + repr(lconn),
             'log': _logged(caplog),
             'db files': b''.join(open(f, 'rb').read() for f in glob.glob(f'{world["db"]}*')).decode('latin-1')}
    for where, text in leaks.items():
        assert plain_meta not in text and plain_chap not in text, f'secret leaked through {where}'
    out = json.loads(cnb.dumps())
    got_vol = next(v for v in out['volumes'] if v['id'] == new_vol)
    got_conn = next(c for c in out['connections'] if c['id'] == new_conn)
    assert got_vol['metadata']['admin_password'] == REDACTED and 'metadata.admin_password' in got_vol['_redacted']
    assert got_conn['connection_info']['data']['auth_password'] == REDACTED
    assert 'connection_info.data.auth_password' in got_conn['_redacted']
    if save:
        with sqlite3.connect(world['db']) as raw:
            row = json.loads(raw.execute('SELECT data FROM cinder_nb_resources WHERE id = ?',
                                         (new_vol,)).fetchone()[0])
        assert row['metadata']['admin_password'] == REDACTED
