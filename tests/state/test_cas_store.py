"""The compare-and-swap contract of every persistence back-end (Persistence.commit), the
generic per-process one third-party plugins inherit, and the SQL schema upgrade to versions."""
from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime, persistence
from cinder_nb.persistence import ANY, NEW, Persistence, StaleRecord, Write
from cinder_nb.persistence import sql
from cinder_nb.persistence.memory import MemoryPersistence
from cinder_nb.persistence.sql import SQLPersistence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STORES = ['memory', 'sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)]


class DictStore(Persistence):
    """A minimal third-party back-end: only the abstract methods (records kept verbatim)."""
    name = 'dict'

    def __init__(self, shared=False):
        self.shared = shared
        self.rows: dict = {}

    def put(self, kind, record):
        self.rows[kind, record['id']] = json.loads(json.dumps(record))

    def delete(self, kind, ident):
        self.rows.pop((kind, ident), None)

    def get(self, kind, ident):
        rec = self.rows.get((kind, ident))
        return json.loads(json.dumps(rec)) if rec is not None else None

    def list(self, kind, backend=None, volume_id=None):
        return [json.loads(json.dumps(r)) for (k, _), r in self.rows.items() if k == kind]

    def replace_all(self, records):
        self.rows = {(k, r['id']): r for k, recs in records.items() for r in recs}


@pytest.fixture(params=STORES + ['generic'])
def store(request, tmp_path):
    if request.param == 'generic':
        yield DictStore()
        return
    s = persistence.create(_config(request, tmp_path), str(tmp_path))
    yield s
    s.close()


def _config(request, tmp_path):
    if request.param == 'memory':
        return 'memory'
    if request.param == 'sqlite':
        return {'storage': 'sqlite', 'path': str(tmp_path / 'cas.db')}
    return request.getfixturevalue('postgresql_url')


def test_commit_writes_only_at_the_versions_read(store):
    [v1] = store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 1}, NEW)])
    assert v1 >= 1 and store.get_versioned('volume', 'a') == ({'id': 'a', 'backend': 'b', 'n': 1}, v1)
    if not isinstance(store, DictStore):     # the generic versions live inside the plugin's records
        assert store.get('volume', 'a') == {'id': 'a', 'backend': 'b', 'n': 1}
    assert store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 2}, v1)]) == [v1 + 1]
    with pytest.raises(StaleRecord) as info:                                      # a second writer of v1
        store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 99}, v1)])
    assert (info.value.expected, info.value.found) == (v1, v1 + 1)
    with pytest.raises(StaleRecord):                                              # insert of an existing id
        store.commit([Write('volume', 'a', {'id': 'a', 'n': 0}, NEW)])
    with pytest.raises(StaleRecord):                                              # update of a missing one
        store.commit([Write('volume', 'zz', {'id': 'zz'}, 3)])
    assert store.get_versioned('volume', 'a') == ({'id': 'a', 'backend': 'b', 'n': 2}, v1 + 1)
    assert store.get('volume', 'zz') is None
    # all or nothing: the good write of a commit whose other write is stale is not made
    with pytest.raises(StaleRecord):
        store.commit([Write('snapshot', 's', {'id': 's', 'volume_id': 'a'}, NEW),
                      Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 3}, v1)])
    assert store.get('snapshot', 's') is None and store.get('volume', 'a')['n'] == 2
    # a child inserted with its parent's version bump, in one commit
    va, vs = store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 2}, v1 + 1),
                           Write('snapshot', 's', {'id': 's', 'volume_id': 'a'}, NEW)])
    assert va == v1 + 2 and store.get_versioned('snapshot', 's')[1] == vs
    assert [r['id'] for r, v in store.list_versioned('snapshot')] == ['s']
    with pytest.raises(StaleRecord):                                              # delete at a stale version
        store.commit([Write('snapshot', 's', None, vs + 7)])
    assert store.commit([Write('snapshot', 's', None, vs)]) == [0]
    assert store.get('snapshot', 's') is None
    assert store.commit([Write('snapshot', 's', None, ANY)]) == [0]               # already gone: fine
    # ABA: a record deleted and stored again under its id does not come back at a version a
    # stale copy may hold (each new record starts at a random version)
    [again] = store.commit([Write('snapshot', 's', {'id': 's', 'volume_id': 'a'}, NEW)])
    with pytest.raises(StaleRecord):
        store.commit([Write('snapshot', 's', {'id': 's', 'volume_id': 'a', 'stale': 1}, vs)])
    assert again != vs and 'stale' not in store.get('snapshot', 's')
    # put() and put_many() keep working and move the version on (a plugin's own put() cannot
    # know about versions: with the generic scheme a plain put stores a record at version 1)
    store.put('volume', {'id': 'a', 'backend': 'b', 'n': 4})
    generic = isinstance(store, DictStore)
    assert store.get_versioned('volume', 'a')[1] == (1 if generic else v1 + 3)
    store.put_many([('volume', {'id': 'a', 'backend': 'b', 'n': 5})])
    assert store.get_versioned('volume', 'a') == ({'id': 'a', 'backend': 'b', 'n': 5}, 1 if generic else v1 + 4)


@pytest.mark.parametrize('persistence_config', STORES, indirect=True)
def test_threads_incrementing_one_record_lose_no_update(tmp_path, persistence_config):
    """8 threads (own store objects, so own connections for SQL), read-modify-write with retry."""
    first = persistence.create(persistence_config, str(tmp_path))
    stores = [first] * 8 if persistence_config == 'memory' else \
        [persistence.create(persistence_config, str(tmp_path)) for _ in range(8)]
    [start] = first.commit([Write('kv', 'counter', {'id': 'counter', 'value': 0}, NEW)])
    barrier = threading.Barrier(8)
    conflicts = []

    def work(s):
        barrier.wait()
        for _ in range(25):
            conflicts.append(_add_one(s))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    rec, version = first.get_versioned('kv', 'counter')
    assert rec['value'] == 200 and version == start + 200
    for s in set(stores):
        s.close()


def _add_one(store) -> int:
    """Read-modify-write the counter, retrying on StaleRecord; returns how many retries it took."""
    retries = 0
    while True:
        rec, version = store.get_versioned('kv', 'counter')
        try:
            store.commit([Write('kv', 'counter', dict(rec, value=rec['value'] + 1), version)])
            return retries
        except StaleRecord:
            retries += 1


def _increment(path: str, n: int) -> None:
    store = SQLPersistence(f'sqlite:///{path}')
    for _ in range(n):
        _add_one(store)
    store.close()


def test_processes_incrementing_one_sqlite_record_lose_no_update(tmp_path):
    path = str(tmp_path / 'counter.db')
    [start] = SQLPersistence(f'sqlite:///{path}').commit([Write('kv', 'counter', {'id': 'counter', 'value': 0}, NEW)])
    ctx = multiprocessing.get_context('spawn')
    procs = [ctx.Process(target=_increment, args=(path, 40)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * 4
    assert SQLPersistence(f'sqlite:///{path}').get_versioned('kv', 'counter') == ({'id': 'counter', 'value': 160}, start + 160)


def test_closing_a_sqlite_store_while_other_threads_use_it_does_not_crash(tmp_path):
    """setup() closes the previous store while another thread (a lineage redraw, a form's
    operation) may still be reading it: close() used to free that thread's sqlite3 connection
    under it and the interpreter died (segmentation fault). Run in a child process so a crash
    fails this test instead of killing the suite; the threads must see only typed errors."""
    proc = subprocess.run([sys.executable, '-m', 'tests.state.close_worker', str(tmp_path / 'closing.db'), '3'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    closes, rounds = (int(part.split('=')[1]) for part in proc.stdout.split()[:2])
    assert closes > 10 and rounds > 10, proc.stdout      # the two really overlapped


def test_a_schema_1_database_is_upgraded_in_place(tmp_path):
    """A state file written before versions existed opens, every record at version 1."""
    path = tmp_path / 'old.db'
    with sqlite3.connect(path) as raw:
        raw.executescript('''
            CREATE TABLE cinder_nb_resources (kind VARCHAR(16) NOT NULL, id VARCHAR(255) NOT NULL,
                backend VARCHAR(255), volume_id VARCHAR(255), seq BIGINT NOT NULL, data TEXT NOT NULL,
                PRIMARY KEY (kind, id));
            CREATE TABLE cinder_nb_meta (key VARCHAR(64) NOT NULL PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO cinder_nb_meta VALUES ('schema', '1');
            INSERT INTO cinder_nb_resources VALUES ('volume', 'v1', 'b', NULL, 1, '{"id": "v1", "backend": "b"}');
        ''')
    store = SQLPersistence(f'sqlite:///{path}')
    assert store.get_versioned('volume', 'v1') == ({'id': 'v1', 'backend': 'b'}, 1)
    assert store.commit([Write('volume', 'v1', {'id': 'v1', 'backend': 'b', 'x': 1}, 1)]) == [2]
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM cinder_nb_meta WHERE key = 'schema'").fetchone() == (str(sql.SCHEMA_VERSION),)
    SQLPersistence(f'sqlite:///{path}').close()          # opening again changes nothing


def test_generic_commit_refuses_to_serve_a_shared_plugin(tmp_path, monkeypatch):
    """A plugin whose records other processes write must bring its own atomic commit()."""
    from importlib import metadata

    class EP:
        name = 'dictshared'

        def load(self):
            return lambda **kw: DictStore(shared=True)
    real = metadata.entry_points
    monkeypatch.setattr(persistence, 'entry_points',
                        lambda group: [EP()] if group == persistence.ENTRY_POINT_GROUP else real(group=group))
    with pytest.raises(cnb.PersistenceError, match='does not implement commit'):
        _runtime.setup({'storage': 'dictshared'}, state_dir=str(tmp_path))


def test_a_version_bump_moves_the_version_on_and_keeps_the_record(store):
    """Write(bump=True): the parent of a child being stored keeps its record (nothing in it
    changed) while its version moves on, all or nothing with the rest of the commit."""
    [v1] = store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 1}, NEW)])
    va, vs = store.commit([Write('volume', 'a', None, v1, bump=True),
                           Write('snapshot', 's', {'id': 's', 'volume_id': 'a'}, NEW)])
    assert va == v1 + 1 and store.get_versioned('volume', 'a') == ({'id': 'a', 'backend': 'b', 'n': 1}, va)
    assert store.get_versioned('snapshot', 's')[1] == vs
    assert [r['id'] for r, _ in store.list_versioned('volume')] == ['a']
    # at a stale version nothing is written: not the bump, not the child
    with pytest.raises(StaleRecord):
        store.commit([Write('volume', 'a', None, v1, bump=True),
                      Write('snapshot', 't', {'id': 't', 'volume_id': 'a'}, NEW)])
    assert store.get('snapshot', 't') is None and store.get_versioned('volume', 'a')[1] == va
    with pytest.raises(StaleRecord):            # a bump never makes a record
        store.commit([Write('volume', 'gone', None, 3, bump=True)])
    assert store.get('volume', 'gone') is None
    with pytest.raises(ValueError, match='needs the version it read'):
        store.commit([Write('volume', 'a', None, ANY, bump=True)])
    # a write at the bumped version goes through; one at the old version loses
    with pytest.raises(StaleRecord):
        store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 2}, v1)])
    assert store.commit([Write('volume', 'a', {'id': 'a', 'backend': 'b', 'n': 2}, va)]) == [va + 1]


@pytest.mark.parametrize('bumps', [True, False], ids=['store-bumps', 'store-rewrites'])
def test_storing_a_child_moves_its_parents_version_on_not_its_record(tmp_path, monkeypatch, bumps):
    """A snapshot, a clone or a connection is stored with its parent's version bump (a delete of
    the parent checking its children then conflicts), and the parent's record, updated_at
    included, is left as it was; a store without bumps gets the record written again."""
    monkeypatch.setattr(MemoryPersistence, 'version_bumps', bumps)
    rt = _runtime.setup('memory', state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='p')
    for make in (vol.create_snapshot, vol.clone, lambda: vol.connect({'host': 'h'})):
        before, version = rt.persistence.get_versioned('volume', vol.id)
        child = make()
        after, now = rt.persistence.get_versioned('volume', vol.id)
        assert now > version and vol.version == now
        if child.KIND == 'connection':      # connecting moves the volume to in-use afterwards
            assert {k: v for k, v in after.items() if k not in ('status', 'updated_at')} == \
                {k: v for k, v in before.items() if k not in ('status', 'updated_at')}
        else:
            assert after == before and vol.record == after
    snap = vol.snapshots[0]
    vol.connections[0].disconnect()
    before, version = rt.persistence.get_versioned('snapshot', snap.id)
    vol.revert_to_snapshot(snap)            # the snapshot reverted to is bumped: no delete meanwhile
    assert rt.persistence.get_versioned('snapshot', snap.id) == (before, version + 1)


def test_the_api_runs_on_a_plugin_with_only_the_abstract_methods(tmp_path):
    """The generic versions (kept inside the stored records) carry the whole API."""
    store = DictStore()
    _runtime.setup(store, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='p')
    snap = vol.create_snapshot()
    vol.extend(2)
    conn = vol.connect({'host': 'h'})
    assert store.rows['volume', vol.id]['_version'] == vol.version >= 4
    conn.disconnect()
    snap.delete()
    vol.delete()
    assert [k for k in store.rows if k[0] != 'backend'] == []


class AlwaysStale(MemoryPersistence):
    """Unit-test double: another writer always gets there first."""

    def commit(self, writes):
        raise StaleRecord(writes[0].kind, writes[0].ident, writes[0].expected, None)


def test_a_writer_that_keeps_losing_gets_a_typed_conflict(tmp_path, monkeypatch):
    store = MemoryPersistence()
    _runtime.setup(store, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    vol = lab.create_volume(1)
    monkeypatch.setattr(_runtime, 'MAX_ATTEMPTS', 3)
    monkeypatch.setattr(store, 'commit', AlwaysStale.commit.__get__(store))
    with pytest.raises(cnb.errors.Conflict, match='it is available') as info:
        vol.extend(2)
    assert isinstance(info.value, cnb.InvalidState) and info.value.status == 'available'
    assert vol.size == 1 and store.get('volume', vol.id)['size'] == 1
