"""Persistence back-ends: selection by setup(), plugins by entry point, and what Cinder's
DB API (as drivers call it) answers from each of them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime
from cinder_nb import persistence as persistence_mod
from cinder_nb.cinderlib.backend import persistence_config_to_cinder_nb
from cinder_nb.persistence.memory import MemoryPersistence
from cinder_nb.persistence.sql import SQLPersistence
from tests.state.dbview import volume_view

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STORES = ['memory', 'sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)]


# ----------------------------------------------------------------------------- selection
def test_default_is_a_sqlite_file_in_the_state_dir(tmp_path):
    rt = _runtime.setup(None, state_dir=str(tmp_path))
    assert isinstance(rt.persistence, SQLPersistence) and rt.persistence.dialect == 'sqlite'
    assert os.path.exists(tmp_path / 'cinder_nb.db')
    with rt.persistence.engine.connect() as conn:
        assert conn.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'


@pytest.mark.parametrize('config', [{'path': 'x.db'}, {'storage': 'sqlite', 'path': 'x.db'}, 'sqlite:///{}/x.db'])
def test_sqlite_when_a_path_or_url_is_given(tmp_path, config):
    if isinstance(config, dict):
        config = dict(config, path=str(tmp_path / config['path']))
    else:
        config = config.format(tmp_path)
    rt = _runtime.setup(config, state_dir=str(tmp_path / 'st'))
    assert rt.persistence.dialect == 'sqlite' and os.path.exists(tmp_path / 'x.db')


def test_memory(tmp_path):
    assert isinstance(_runtime.setup('memory', state_dir=str(tmp_path)).persistence, MemoryPersistence)


@pytest.mark.postgresql
def test_postgresql_url(tmp_path, postgresql_url):
    rt = _runtime.setup(postgresql_url, state_dir=str(tmp_path))
    assert rt.persistence.dialect == 'postgresql' and rt.persistence.shared
    rt2 = _runtime.setup({'storage': 'postgresql', 'url': postgresql_url}, state_dir=str(tmp_path))
    assert rt2.persistence.dialect == 'postgresql'


@pytest.mark.parametrize('config, message', [
    ({'storage': 'nosuch'}, 'one of memory, sqlite, postgresql'),
    ({'storage': 'postgresql'}, "a 'url' for postgresql"),
    (42, "None, 'memory', a URL or a dict"),
])
def test_bad_config_is_a_typed_error(tmp_path, config, message):
    with pytest.raises(cnb.InvalidArgument, match=message):
        _runtime.setup(config, state_dir=str(tmp_path))


def test_unreachable_postgresql_is_a_persistence_error(tmp_path):
    with pytest.raises(cnb.PersistenceError, match='Cannot open persistence'):
        _runtime.setup('postgresql://nobody@127.0.0.1:1/none?connect_timeout=2', state_dir=str(tmp_path))


def test_sqlite_database_from_a_newer_cinder_nb_is_refused(tmp_path):
    path = tmp_path / 's.db'
    store = SQLPersistence(f'sqlite:///{path}')
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE cinder_nb_meta SET value = '99' WHERE key = 'schema'")
    store.close()
    with pytest.raises(cnb.PersistenceError, match='schema 99, newer'):
        SQLPersistence(f'sqlite:///{path}')


# ----------------------------------------------------------------------------- plugins
PLUGIN = textwrap.dedent('''
    """A third-party persistence: every record in one JSON file."""
    import json, os
    from cinder_nb.persistence.memory import MemoryPersistence
    from cinder_nb.persistence.files import write_file

    class JsonFilePersistence(MemoryPersistence):
        name = 'jsonfile'
        shared = False

        def __init__(self, path):
            super().__init__()
            self.path = path
            if os.path.exists(path):
                with open(path) as f:
                    MemoryPersistence.replace_all(self, json.load(f))

        def _flush(self):
            kinds = ('backend', 'volume', 'snapshot', 'connection', 'kv')
            write_file(self.path, json.dumps({k: self.list(k) for k in kinds}))

        def put(self, kind, record):
            super().put(kind, record); self._flush()

        def update(self, kind, record):
            done = super().update(kind, record); self._flush(); return done

        def put_many(self, items):
            super().put_many(items); self._flush()

        def delete(self, kind, ident):
            super().delete(kind, ident); self._flush()

        def replace_all(self, records):
            super().replace_all(records); self._flush()
''')


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) with a cinder_nb.persistence entry point."""
    site = tmp_path / 'site'
    info = site / 'cnb_jsonfile_plugin-1.0.dist-info'
    info.mkdir(parents=True)
    (site / 'cnb_jsonfile_plugin.py').write_text(PLUGIN)
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: cnb-jsonfile-plugin\nVersion: 1.0\n')
    (info / 'entry_points.txt').write_text(
        '[cinder_nb.persistence]\njsonfile = cnb_jsonfile_plugin:JsonFilePersistence\n')
    (info / 'RECORD').write_text('')
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop('cnb_jsonfile_plugin', None)


def test_plugin_found_by_entry_point(tmp_path, plugin_dist):
    from importlib.metadata import entry_points
    assert 'jsonfile' in {ep.name for ep in entry_points(group='cinder_nb.persistence')}
    path = str(tmp_path / 'records.json')
    rt = _runtime.setup({'storage': 'jsonfile', 'path': path}, state_dir=str(tmp_path / 'st'))
    assert type(rt.persistence).__name__ == 'JsonFilePersistence'
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='via-plugin', metadata={'k': 'v'})
    with open(path) as f:
        stored = json.load(f)
    assert [v['name'] for v in stored['volume']] == ['via-plugin']
    # a new session on the same file sees the volume through Cinder's DB API
    _runtime.setup({'storage': 'jsonfile', 'path': path}, state_dir=str(tmp_path / 'st'))
    cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    assert volume_view(vol.id)['volume_metadata'] == {'k': 'v'}


def test_plugin_that_fails_or_returns_junk_is_a_persistence_error(tmp_path, plugin_dist):
    with pytest.raises(cnb.PersistenceError, match="plugin 'jsonfile' failed to start"):
        _runtime.setup({'storage': 'jsonfile', 'nosuch_arg': 1}, state_dir=str(tmp_path))


# ----------------------------------------------------------------------------- Cinder DB API
def _populate(tmp_path):
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='typed', extra_specs={'thin_provisioning': '<is> True'},
                            qos_specs={'total_iops_sec': '400'}, metadata={'owner': 'alice'})
    snaps = [vol.create_snapshot(name='s1'), None, None]
    vol.extend(2)
    snaps[1] = vol.create_snapshot(name='s2')
    snaps[2] = vol.create_snapshot(name='s3')
    snaps[2].delete()
    other = lab.create_volume(1, name='plain')
    gone = lab.create_volume(1)
    gone.delete()
    return lab, vol, [s.id for s in snaps[:2]], other


def _expected(vol, snap_ids, other):
    return {'id': vol.id, 'size': 2, 'status': 'available', 'display_name': 'typed',
            'host': 'cinder_nb@lab#lab', 'metadata': {'owner': 'alice'},
            'type_extra_specs': {'thin_provisioning': '<is> True'},
            'extra_specs': {'thin_provisioning': '<is> True'}, 'volume_metadata': {'owner': 'alice'},
            'snapshots': sorted(snap_ids), 'snapshot_sizes': [1, 2], 'qos': {'total_iops_sec': '400'},
            'on_host': sorted([vol.id, other.id])}


@pytest.mark.parametrize('persistence_config', STORES, indirect=True)
def test_cinder_db_api_answers_from_the_active_store(tmp_path, persistence_config):
    rt = _runtime.setup(persistence_config, state_dir=str(tmp_path / 'st'))
    lab, vol, snap_ids, other = _populate(tmp_path)
    expected = _expected(vol, snap_ids, other)
    assert volume_view(vol.id) == expected
    # a driver writing metadata through the DB API changes the record in the store
    from cinder.db import api as db
    from cinder_nb import _cinder
    db.volume_metadata_update(_cinder.context(), vol.id, {'tier': 'gold'}, False)
    assert vol.metadata == {'owner': 'alice', 'tier': 'gold'}
    assert rt.persistence.get('volume', vol.id)['metadata'] == {'owner': 'alice', 'tier': 'gold'}
    expected['metadata'] = expected['volume_metadata'] = {'owner': 'alice', 'tier': 'gold'}
    if persistence_config == 'memory':
        return
    # a new session (no live objects) reads the same answers back from the store
    _runtime.setup(persistence_config, state_dir=str(tmp_path / 'st'))
    assert _runtime.get().live['volume'] == {}
    cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    assert volume_view(vol.id) == expected


def test_second_process_sharing_the_sqlite_file_sees_the_same(tmp_path):
    config = {'storage': 'sqlite', 'path': str(tmp_path / 'shared.db')}
    _runtime.setup(config, state_dir=str(tmp_path / 'st'))
    lab, vol, snap_ids, other = _populate(tmp_path)
    proc = subprocess.run([sys.executable, '-m', 'tests.state.dbview', json.dumps(config),
                           str(tmp_path / 'st2'), str(tmp_path / 'vols'), vol.id],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == _expected(vol, snap_ids, other)


# ----------------------------------------------------------------------------- store semantics
@pytest.mark.parametrize('persistence_config', STORES, indirect=True)
def test_store_operations(tmp_path, persistence_config):
    from cinder_nb import persistence
    store = persistence.create(persistence_config, str(tmp_path))
    store.put('volume', {'id': 'a', 'backend': 'b1', 'n': 1})
    store.put('volume', {'id': 'b', 'backend': 'b2', 'n': 1})
    store.put('snapshot', {'id': 's', 'backend': 'b1', 'volume_id': 'a'})
    store.put('volume', {'id': 'a', 'backend': 'b1', 'n': 2})           # replace keeps the order
    assert [r['id'] for r in store.list('volume')] == ['a', 'b']
    assert store.get('volume', 'a')['n'] == 2
    assert [r['id'] for r in store.list('volume', backend='b2')] == ['b']
    assert [r['id'] for r in store.list('snapshot', volume_id='a')] == ['s']
    assert store.update('volume', {'id': 'a', 'backend': 'b1', 'n': 3}) is True
    assert store.update('volume', {'id': 'zz', 'backend': 'b1'}) is False
    assert store.get('volume', 'zz') is None
    store.put_many([('volume', {'id': 'c', 'backend': 'b1'}), ('snapshot', {'id': 't', 'volume_id': 'c'})])
    assert [r['id'] for r in store.list('volume')] == ['a', 'b', 'c']
    with pytest.raises(ValueError):
        store.put_many([('volume', {'id': 'd'}), ('volume', {'no': 'id'})])
    assert store.get('volume', 'd') is None                              # all or nothing
    store.delete('volume', 'b')
    store.delete('volume', 'b')
    store.replace_all({'volume': [{'id': 'x'}], 'kv': [{'id': 'k', 'value': 1}]})
    assert [r['id'] for r in store.list('volume')] == ['x'] and store.list('snapshot') == []
    assert store.get('kv', 'k') == {'id': 'k', 'value': 1}
    with pytest.raises(ValueError):
        store.put('nokind', {'id': 'x'})
    store.close()


@pytest.mark.postgresql
def test_postgresql_concurrent_writers_of_the_same_new_ids(tmp_path, postgresql_url):
    """Eight threads (own connections) upsert the same new ids at once: no error, no lost row,
    the order sequence stays unique."""
    stores = [SQLPersistence(postgresql_url) for _ in range(8)]
    errors: list = []
    barrier = threading.Barrier(len(stores))

    def work(i, store):
        try:
            barrier.wait()
            for n in range(40):
                store.put('volume', {'id': f'v{n}', 'backend': 'b', 'writer': i})
                store.put('volume', {'id': f'own-{i}-{n}', 'backend': 'b'})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [r['id'] for r in stores[0].list('volume')]
    assert len(ids) == len(set(ids)) == 40 + 8 * 40
    with stores[0].engine.connect() as conn:
        seqs = [r[0] for r in conn.exec_driver_sql('SELECT seq FROM cinder_nb_resources')]
    assert len(seqs) == len(set(seqs))
    for s in stores:
        s.close()


# ----------------------------------------------------------------------------- SQLite synchronous
def _synchronous_level(store) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql('PRAGMA synchronous').scalar()


@pytest.mark.parametrize('config, level', [
    (None, 1),                                             # default: NORMAL (WAL, safe against kill -9)
    ({'synchronous': 'FULL'}, 2),                          # an fsync per commit
    ({'synchronous': 'normal'}, 1),
])
def test_sqlite_synchronous_level_is_what_was_asked(tmp_path, config, level):
    store = persistence_mod.create(dict({'storage': 'sqlite', 'path': str(tmp_path / 's.db')}, **(config or {})),
                                   str(tmp_path))
    try:
        assert _synchronous_level(store) == level
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'
        # the per-operation path (commit, get_versioned, ...) has its own sqlite3 connection
        with store._sqlite() as raw:
            assert raw.execute('PRAGMA synchronous').fetchone()[0] == level
            assert raw.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
    finally:
        store.close()


def test_sqlite_per_thread_connections_are_closed_with_their_thread_and_the_store(tmp_path):
    """The per-operation path keeps one sqlite3 connection per thread: a thread that ends
    (a bulk pool's worker) does not leave its connection open, and close() closes the rest."""
    import sqlite3
    store = persistence_mod.create({'storage': 'sqlite', 'path': str(tmp_path / 's.db')}, str(tmp_path))
    try:
        store.put('kv', {'id': 'k', 'value': 1})
        opened = []

        def work():
            assert store.get('kv', 'k') == {'id': 'k', 'value': 1}
            with store._sqlite() as raw:
                opened.append(raw)
        for _ in range(5):
            t = threading.Thread(target=work)
            t.start()
            t.join()
        assert len(opened) == 5 and len({id(c) for c in opened}) >= 1
        for conn in opened:                     # each was closed when its thread ended
            with pytest.raises(sqlite3.ProgrammingError):
                conn.execute('SELECT 1')
        with store._sqlite() as mine:
            pass
        with store._sqlite() as again:
            assert again is mine                # reused within a thread
        assert store.get_versioned('kv', 'k')[0]['value'] == 1
    finally:
        store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        mine.execute('SELECT 1')


@pytest.mark.parametrize('config, message', [
    ({'synchronous': 'OFF'}, "'NORMAL'.*or 'FULL'"),
    ({'synchronous': 1}, "'NORMAL'.*or 'FULL'"),
    ({'synchronus': 'FULL'}, "only 'path'"),               # a typo is refused, not ignored
])
def test_sqlite_bad_synchronous_is_a_typed_error(tmp_path, config, message):
    with pytest.raises(cnb.InvalidArgument, match=message):
        persistence_mod.create(dict({'storage': 'sqlite', 'path': str(tmp_path / 's.db')}, **config), str(tmp_path))


@pytest.mark.parametrize('flag, level', [(True, 2), (False, 1)])
def test_cinderlib_sqlite_synchronous_maps_to_the_level(tmp_path, flag, level):
    config = persistence_config_to_cinder_nb({'storage': 'db', 'connection': f'sqlite:///{tmp_path}/cl.db',
                                       'sqlite_synchronous': flag})
    store = persistence_mod.create(config, str(tmp_path))
    try:
        assert _synchronous_level(store) == level
    finally:
        store.close()
