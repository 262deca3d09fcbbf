"""SQLite's bulk writes (put_many, replace_all, adopt_many: what load(save=True) calls) go
through the raw sqlite3 connection, and its reads decode rows with orjson: the rows must be
what the SQLAlchemy path (still PostgreSQL's) stores, and every row must read back as
json.loads reads it."""
from __future__ import annotations

import itertools
import json
import math
import sqlite3

import pytest

from cinder_nb.errors import PersistenceError
from cinder_nb.persistence import sql
from cinder_nb.persistence.base import VERSION_KEY
from cinder_nb.persistence.sql import SQLPersistence

# values where orjson and json differ or refuse: integers beyond 64 bits (orjson.loads turns
# them into floats, orjson.dumps refuses them), a lone surrogate, non-ASCII text, -0.0, tiny
# and huge floats
ODD = {'big': 2 ** 70, 'neg_big': -(2 ** 64) - 3, 'i64': 2 ** 63 - 1, 'u64': 2 ** 64 - 1, 'surrogate': '\ud800',
       'text': 'é ü ✓ 漢', 'neg_zero': -0.0, 'tiny': 5e-324, 'huge': 1.7976931348623157e308, 'digits': '1' * 30,
       'nested': {'b': [1, 2.5, None, True, {'z': 2 ** 65}], 'a': ''}}


def _records(tag: str) -> list[tuple[str, dict]]:
    out = []
    for i in range(6):
        out.append(('volume', {'id': f'v{i}', 'backend': 'b1' if i % 2 else 'b2', 'size': i, 'pool_name': f'p{i % 3}',
                               'name': f'{tag}{i}', **(ODD if i == 3 else {})}))
    out.append(('snapshot', {'id': 's1', 'volume_id': 'v1', 'backend': 'b1', 'name': tag}))
    out.append(('kv', {'id': 'k', 'value': [tag, 1]}))
    return out


def _batches() -> list[tuple[str, list]]:
    """Writes that cover both shapes of _upsert: new rows with and without a given version,
    rows replaced with and without one, a row twice in one batch, then a replace_all."""
    first = _records('a')
    again = [(k, dict(r, **{VERSION_KEY: 1000 + n})) if n % 2 else (k, r) for n, (k, r) in enumerate(_records('b'))]
    twice = [('volume', {'id': 'v9', 'size': 1, 'name': 'x'}), ('volume', {'id': 'v9', 'size': 2, 'name': 'y'}),
             ('volume', dict(_records('c')[0][1], **{VERSION_KEY: 7})), ('volume', {'id': 'v10', VERSION_KEY: 9})]
    return [('put_many', first), ('put_many', again), ('put_many', twice), ('put', [('kv', {'id': 'k2', 'v': 'é'})]),
            ('replace_all', {'volume': [r for k, r in _records('d') if k == 'volume'][:4], 'kv': [{'id': 'k'}]}),
            ('put_many', _records('e')[2:])]


def _deterministic_versions(monkeypatch):
    """New rows' versions drawn from a counter instead of at random; the function returned
    starts the counter at a given value (both paths of one write draw the same ones)."""
    counter = [itertools.count()]
    monkeypatch.setattr(sql, 'first_version', lambda: next(counter[0]))
    monkeypatch.setattr(sql, 'first_versions', lambda n: [next(counter[0]) for _ in range(n)])
    return lambda start: counter.__setitem__(0, itertools.count(start))


def _rows(path) -> list[tuple]:
    with sqlite3.connect(path) as raw:
        return raw.execute('SELECT kind, id, backend, volume_id, pool_name, size_gb, version, seq, data '
                           'FROM cinder_nb_resources ORDER BY kind, id').fetchall()


def _same(a, b) -> bool:
    """Equal with types (1 is not 1.0, -0.0 is not 0.0; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (a == b and math.copysign(1, a) == math.copysign(1, b)) or (math.isnan(a) and math.isnan(b))
    return a == b


def _old_path(store: SQLPersistence, op: str, arg) -> None:
    """The same write through SQLAlchemy (SQLPersistence._upsert, as before the raw path)."""
    with store._write() as conn:
        if op == 'replace_all':
            conn.execute(sql.resources.delete())
            store._upsert(conn, [store._row(k, r) for k, recs in arg.items() for r in recs])
        else:
            store._upsert(conn, [store._row(k, r) for k, r in arg])


def test_bulk_writes_store_the_rows_the_sqlalchemy_path_stores(tmp_path, monkeypatch):
    restart = _deterministic_versions(monkeypatch)
    new, old = SQLPersistence(f'sqlite:///{tmp_path / "new.db"}'), SQLPersistence(f'sqlite:///{tmp_path / "old.db"}')
    try:
        for n, (op, arg) in enumerate(_batches()):
            restart(1_000_000 * (n + 1))
            if op == 'put':
                new.put(*arg[0])
            else:
                getattr(new, op)(arg)
            restart(1_000_000 * (n + 1))
            _old_path(old, op, arg)
            # byte for byte: data, versions (given ones kept, others drawn in the same order,
            # a replaced row at its version + 1), insertion order, the indexed columns
            assert _rows(tmp_path / 'new.db') == _rows(tmp_path / 'old.db'), op
    finally:
        new.close()
        old.close()


def test_adopted_records_read_back_as_json_loads_reads_what_put_many_stored(tmp_path, monkeypatch):
    """adopt_many (orjson-encoded rows) against put_many of the same records at the same
    versions (ROW_ENCODER's rows): the same rows once decoded, the same versions and columns."""
    _deterministic_versions(monkeypatch)(1)
    records = [(k, json.loads(json.dumps(r))) for k, r in _records('a')]      # fresh from JSON, as load() gives
    adopted, put = SQLPersistence(f'sqlite:///{tmp_path / "a.db"}'), SQLPersistence(f'sqlite:///{tmp_path / "p.db"}')
    try:
        adopted.adopt_many([(k, r, 500 + n) for n, (k, r) in enumerate(records)])
        put.put_many([(k, dict(r, **{VERSION_KEY: 500 + n})) for n, (k, r) in enumerate(records)])
        a_rows, p_rows = _rows(tmp_path / 'a.db'), _rows(tmp_path / 'p.db')
        assert [r[:8] for r in a_rows] == [r[:8] for r in p_rows]
        assert all(_same(json.loads(a[8]), json.loads(p[8])) for a, p in zip(a_rows, p_rows))
        for store in (adopted, put):
            for n, (kind, rec) in enumerate(records):
                got = store.get_versioned(kind, rec['id'])
                assert got[1] == 500 + n and _same(got[0], rec), (kind, rec['id'])
            listed = store.list_versioned('volume')
            assert [v for _, v in listed] == [500 + n for n, (k, _) in enumerate(records) if k == 'volume']
            assert all(_same(got, rec) for (got, _), (_, rec) in zip(listed, [x for x in records if x[0] == 'volume']))
    finally:
        adopted.close()
        put.close()


@pytest.mark.parametrize('text', [
    '{"id": "x", "n": 123456789012345678901234567890}', '{"id": "x", "n": -9223372036854775809}',
    '{"id": "x", "n": 18446744073709551616}', '{"id": "x", "n": 1e400}', '{"id": "x", "n": NaN}',
    '{"id": "x", "s": "\\ud800"}', '{"id": "x", "n": 0.1, "m": -0.0, "k": 1E5}',
    '{"id": "x", "s": "\\u00e9", "t": "é", "d": "' + '9' * 40 + '"}',
])
def test_rows_decode_as_json_loads_decodes_them(text):
    """A row written by any cinder_nb (json's text, or hand-made) reads as json.loads reads it."""
    assert _same(sql._decode(text), json.loads(text))
    assert _same(sql._decode(text.encode()), json.loads(text))      # list_versioned's bytes


def test_a_row_that_is_not_utf8_is_a_persistence_error(tmp_path):
    """list_versioned reads rows as bytes (CAST AS BLOB): a row another writer stored as invalid
    UTF-8 is still a typed PersistenceError, as sqlite3's own decode failure was."""
    store = SQLPersistence(f'sqlite:///{tmp_path / "s.db"}')
    try:
        store.put('volume', {'id': 'v1', 'backend': 'b'})
        with sqlite3.connect(tmp_path / 's.db') as conn:
            conn.execute("UPDATE cinder_nb_resources SET data = CAST(X'7b226964223a2276ff227d' AS TEXT)")
        with pytest.raises(PersistenceError):
            store.list_versioned('volume')
    finally:
        store.close()
