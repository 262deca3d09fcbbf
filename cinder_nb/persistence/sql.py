"""SQL persistence (SQLite file with WAL, or PostgreSQL) through SQLAlchemy Core.

One row per record. Every write is one transaction, so a crash (even kill -9)
leaves either the old or the new row; processes sharing one database never
overwrite each other's records: each row has a version, and ``commit`` updates or
deletes a row only at the version its writer read (``UPDATE ... WHERE version =
:read``), all rows of one commit in one transaction.

SQLite: WAL journal, ``synchronous=NORMAL`` by default (a commit is in the WAL file before it
returns, so a kill -9 loses nothing; only an OS crash or power loss can lose the last commits;
``synchronous='FULL'`` adds an fsync per commit against that), writers take the lock at ``BEGIN
IMMEDIATE`` (so two writers queue instead of failing to upgrade a read lock),
readers use a plain deferred ``BEGIN`` and never block. PostgreSQL: the insertion
order comes from a sequence and inserts are ``INSERT ... ON CONFLICT DO UPDATE``,
so concurrent writers of the same new id cannot collide.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
import weakref
from typing import Any, Iterable, Iterator, Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from cinder_nb import _jsonread
from cinder_nb.errors import InvalidArgument, PersistenceError
from cinder_nb.persistence.base import (ANY, NEW, ROW_ENCODER, VERSION_KEY, Persistence, StaleRecord, Write,
                                        check_bump, check_kind, check_record, first_version, first_versions, pool_of,
                                        size_of)

#: 1: one row per record; 2: each row has a version (compare-and-swap writes); 3: a volume
#: row's pool_name and size_gb in columns of their own, indexed (allocated_gb sums them), and
#: an index on seq (SQLite's insert reads max(seq): it scanned the whole table)
SCHEMA_VERSION = 3
_WRITE = 'cinder_nb_write'
_PG_INIT_LOCK = 0x63696e6465726e62  # pg_advisory_xact_lock key ("cindernb")

_metadata = sa.MetaData()
order_seq = sa.Sequence('cinder_nb_resources_seq', metadata=_metadata)
resources = sa.Table(
    'cinder_nb_resources', _metadata,
    sa.Column('kind', sa.String(16), primary_key=True),
    sa.Column('id', sa.String(255), primary_key=True),
    sa.Column('backend', sa.String(255), index=True),
    sa.Column('volume_id', sa.String(255), index=True),
    sa.Column('seq', sa.BigInteger, nullable=False),
    sa.Column('data', sa.Text, nullable=False),
    sa.Column('version', sa.BigInteger, nullable=False, server_default='1'),
    sa.Column('pool_name', sa.String(255)),
    sa.Column('size_gb', sa.BigInteger),
)
#: allocated_gb reads this index only (a covering index: no row, no JSON decoded)
allocated_index = sa.Index('ix_cinder_nb_allocated', resources.c.kind, resources.c.backend,
                           resources.c.pool_name, resources.c.size_gb)
seq_index = sa.Index('ix_cinder_nb_seq', resources.c.seq)
meta = sa.Table(
    'cinder_nb_meta', _metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.Text, nullable=False),
)


class SQLPersistence(Persistence):
    """Records in one table of a SQLite file or a PostgreSQL database."""

    shared = True
    version_bumps = True

    def __init__(self, url: str, synchronous: str = 'NORMAL') -> None:
        """``url``: sqlite:///path or postgresql://...; ``synchronous`` (SQLite only): 'NORMAL'
        (default: safe against kill -9, an fsync only at WAL checkpoints) or 'FULL' (an fsync per
        commit: also safe against power loss, 3-70 ms more per write)."""
        if not isinstance(synchronous, str) or synchronous.upper() not in SYNCHRONOUS_MODES:
            raise InvalidArgument('persistence_config.synchronous', synchronous,
                                  "'NORMAL' (safe against kill -9) or 'FULL' (also against power loss)")
        self.synchronous = synchronous.upper()
        self.url = url
        self.name = url.split(':', 1)[0].split('+', 1)[0]
        if self.name == 'sqlite':
            path = url.split('///', 1)[-1]
            if not path or path == ':memory:':
                raise InvalidArgument('persistence_config', url, "a SQLite file path: an in-memory SQLite "
                                      "database is neither kept nor shared (use 'memory')")
        try:
            if self.name == 'sqlite':
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self._path = os.path.abspath(path)
                #: this process's own sqlite3 connections (one per thread) for the per-operation
                #: path: commit, get_versioned, list_versioned, allocated_gb (see _sqlite)
                self._local = threading.local()
                self._raw_conns: weakref.WeakSet[_Holder] = weakref.WeakSet()
                self._raw_lock = threading.Lock()
                self.engine = sa.create_engine(url, connect_args={'timeout': 60, 'check_same_thread': False})
                sa.event.listen(self.engine, 'connect', functools.partial(_sqlite_pragmas, self.synchronous))
                sa.event.listen(self.engine, 'begin', _sqlite_begin)
            else:
                if url.startswith(('postgresql://', 'postgres://')):
                    url = 'postgresql+psycopg://' + url.split('://', 1)[1]
                self.name = 'postgresql'
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            self.dialect = self.engine.dialect.name
            with self._write() as conn:
                if self.dialect == 'postgresql':
                    # two processes opening a fresh database at once must not both CREATE TABLE
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_INIT_LOCK)))
                _metadata.create_all(conn)
                row = conn.execute(sa.select(meta.c.value).where(meta.c.key == 'schema')).first()
                if row is None:
                    conn.execute(meta.insert().values(key='schema', value=str(SCHEMA_VERSION)))
                stored = int(row[0]) if row is not None else SCHEMA_VERSION
                if stored in (1, 2):
                    _upgrade(conn, stored)
                    conn.execute(meta.update().where(meta.c.key == 'schema').values(value=str(SCHEMA_VERSION)))
                    stored = SCHEMA_VERSION
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, PersistenceError) and exc.__cause__ else exc
            raise PersistenceError(f'Cannot open persistence {_safe_url(url)}: {cause}') from cause
        if stored > SCHEMA_VERSION:
            self.engine.dispose()
            raise PersistenceError(f'{_safe_url(url)} holds cinder_nb schema {stored}, newer than this '
                                   f'cinder_nb ({SCHEMA_VERSION}); upgrade cinder_nb to use it.')

    def describe(self) -> str:
        return _safe_url(self.url)

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE); errors become PersistenceError."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
        except (PersistenceError, ValueError):
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise PersistenceError(f'Writing to {self.describe()} failed: {exc}') from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise PersistenceError(f'Reading from {self.describe()} failed: {exc}') from exc

    # ------------------------------------------------------------------ SQLite per-operation path
    # The writes and reads every volume operation makes (commit, get_versioned,
    # list_versioned, allocated_gb) go straight through sqlite3 on SQLite: one connection
    # per thread (pragmas set once), plain SQL that sqlite3 keeps prepared, and a read is one
    # autocommit SELECT. Through SQLAlchemy each of them cost a pool check-out, expression
    # building and compilation: about 0.3-0.6 ms per transaction. Same SQL, same locking
    # (BEGIN IMMEDIATE for writers), same rows; everything else keeps SQLAlchemy.
    @contextlib.contextmanager
    def _sqlite(self) -> Iterator[sqlite3.Connection | None]:
        """This thread's own sqlite3 connection (None: not SQLite), held for the block: close()
        from another thread (setup() closing the previous store while a lineage redraw still
        reads it) waits for the block to end instead of freeing the connection under it, which
        crashed the interpreter. A connection closed meanwhile is replaced by a fresh one."""
        if self.dialect != 'sqlite':
            yield None
            return
        while True:
            held = self._holder()
            with held.lock:
                if held.conn is not None:
                    yield held.conn
                    return

    def _holder(self) -> _Holder:
        local = self._local
        held = getattr(local, 'held', None)
        if held is not None and held.pid == os.getpid():
            return held
        conn = sqlite3.connect(self._path, timeout=60, isolation_level=None, check_same_thread=False,
                               cached_statements=64)
        try:
            _sqlite_pragmas(self.synchronous, conn, None)
            # a page cache of up to 64 MiB instead of SQLite's 2 MiB, for this process's own
            # connections: a bulk write (load(save=True) of 10k volumes, about 15 MiB of rows) keeps its
            # pages in memory until COMMIT instead of spilling them to the WAL mid-transaction, and
            # dumps() reads them back from the cache. Memory only: what reaches the WAL, and when it is
            # synced (journal_mode, synchronous), is unchanged, so is every kill -9 and power-loss case.
            conn.execute(f'PRAGMA cache_size={_CACHE_KIB}')
        except BaseException:
            conn.close()
            raise
        local.held = held = _Holder(conn)
        with self._raw_lock:
            self._raw_conns.add(held)
        return held

    @contextlib.contextmanager
    def _sqlite_write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on conn; rolled back on any error (StaleRecord included)."""
        try:
            conn.execute('BEGIN IMMEDIATE')
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute('ROLLBACK')
                raise
            conn.execute('COMMIT')
        except sqlite3.Error as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute('ROLLBACK')
            raise PersistenceError(f'Writing to {self.describe()} failed: {exc}') from exc

    def _sqlite_read(self, conn: sqlite3.Connection, sql: str, params: tuple) -> list:
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise PersistenceError(f'Reading from {self.describe()} failed: {exc}') from exc

    def _sqlite_commit(self, conn: sqlite3.Connection, writes: Sequence[Write], rows: list) -> list[int]:
        versions: list[int] = []
        with self._sqlite_write(conn):
            for w, row in zip(writes, rows):
                if w.bump:
                    if not conn.execute(_SQL_BUMP, (w.expected + 1, w.kind, w.ident, w.expected)).rowcount:
                        raise StaleRecord(w.kind, w.ident, w.expected, _sqlite_version(conn, w))
                    versions.append(w.expected + 1)
                    continue
                if row is None:
                    if w.expected == ANY:
                        conn.execute(_SQL_DELETE, (w.kind, w.ident))
                    elif not conn.execute(_SQL_DELETE + ' AND version = ?', (w.kind, w.ident, w.expected)).rowcount:
                        raise StaleRecord(w.kind, w.ident, w.expected, _sqlite_version(conn, w))
                    versions.append(0)
                    continue
                values = (row['data'], row['backend'], row['volume_id'], row['pool_name'], row['size_gb'])
                if w.expected == NEW:
                    version = first_version()
                    if not conn.execute(_SQL_INSERT + ' ON CONFLICT(kind, id) DO NOTHING',
                                        (w.kind, w.ident, *values, version)).rowcount:
                        raise StaleRecord(w.kind, w.ident, w.expected, _sqlite_version(conn, w))
                    versions.append(version)
                elif w.expected == ANY:
                    conn.execute(_SQL_INSERT + _SQL_ON_CONFLICT_BUMP, (w.kind, w.ident, *values, first_version()))
                    versions.append(_sqlite_version(conn, w) or 1)
                else:
                    if not conn.execute(_SQL_UPDATE, (*values, w.expected + 1, w.kind, w.ident, w.expected)).rowcount:
                        raise StaleRecord(w.kind, w.ident, w.expected, _sqlite_version(conn, w))
                    versions.append(w.expected + 1)
        return versions

    # ------------------------------------------------------------------ rows
    @staticmethod
    def _columns(kind: str, record: dict, encode=ROW_ENCODER.encode) -> tuple:
        """A record's row: (kind, id, data, backend, volume_id, pool_name, size_gb, version);
        version None when the record carries none (VERSION_KEY; a given one is not stored in data)."""
        check_kind(kind)
        check_record(record)
        version = record.get(VERSION_KEY)
        if version is not None:
            record = {k: v for k, v in record.items() if k != VERSION_KEY}
        volume = kind == 'volume'
        return (kind, record['id'], encode(record), _opt_str(record.get('backend')),
                _opt_str(record.get('volume_id')), pool_of(record) if volume else None,
                size_of(record) if volume else None, version)

    @classmethod
    def _row(cls, kind: str, record: dict) -> dict:
        return dict(zip(_COLUMNS, cls._columns(kind, record)))

    def _insert(self, conn: sa.Connection, rows: list[dict]):
        """An INSERT of rows (with their insertion order) for on_conflict_* to finish."""
        if self.dialect == 'postgresql':
            return pg_dialect.insert(resources).values(seq=order_seq.next_value())
        # the write lock is held since BEGIN IMMEDIATE: max(seq) cannot move under us
        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(resources.c.seq), 0))).scalar()
        for i, row in enumerate(rows, 1):
            row['seq'] = int(top) + i
        return sqlite_dialect.insert(resources)

    def _upsert(self, conn: sa.Connection, rows: list[dict]) -> None:
        """Insert or replace rows; a replaced row's version goes up by one (or to the given one)."""
        if not rows:
            return
        for given in (True, False):     # one statement per shape: executemany needs equal keys
            part = [dict(r) for r in rows if (r['version'] is not None) == given]
            if not part:
                continue
            if not given:
                for r in part:
                    r['version'] = first_version()
            stmt = self._insert(conn, part)
            version = stmt.excluded.version if given else resources.c.version + 1
            stmt = stmt.on_conflict_do_update(
                index_elements=[resources.c.kind, resources.c.id],
                set_={'data': stmt.excluded.data, 'backend': stmt.excluded.backend,
                      'volume_id': stmt.excluded.volume_id, 'version': version,
                      'pool_name': stmt.excluded.pool_name, 'size_gb': stmt.excluded.size_gb})
            conn.execute(stmt, part)

    def put(self, kind: str, record: dict) -> None:
        self.put_many([(kind, record)])

    def put_many(self, items: Iterable[tuple[str, dict]]) -> None:
        if self.dialect == 'sqlite':
            self._sqlite_put_rows([self._columns(kind, rec) for kind, rec in items])
            return
        rows = [self._row(kind, rec) for kind, rec in items]
        with self._write() as conn:
            self._upsert(conn, rows)

    def adopt_many(self, items: Iterable[tuple[str, dict, int]]) -> None:
        """put_many() of records fresh from JSON decoding (Persistence.adopt_many): on SQLite
        encoded by orjson (rows the same once decoded, compact UTF-8 text) and written in one
        executemany per shape on this thread's sqlite3 connection."""
        if self.dialect != 'sqlite':
            super().adopt_many(items)
            return
        rows = []
        for kind, record, version in items:
            if VERSION_KEY in record:     # as put_many: the given version, never inside the record
                record = {k: v for k, v in record.items() if k != VERSION_KEY}
            rows.append(self._columns(kind, record, _encode_plain)[:7] + (version,))
        self._sqlite_put_rows(rows)

    def _sqlite_put_rows(self, rows: list[tuple], replace: bool = False) -> None:
        """Upsert rows (SQLPersistence._columns) in one BEGIN IMMEDIATE transaction on this
        thread's sqlite3 connection, after deleting every row if replace."""
        with self._sqlite() as raw, self._sqlite_write(raw):
            if replace:
                raw.execute('DELETE FROM cinder_nb_resources')
            _sqlite_upsert(raw, rows)

    def update(self, kind: str, record: dict) -> bool:
        row = self._row(kind, record)
        with self._write() as conn:
            done = conn.execute(
                resources.update().where(resources.c.kind == kind, resources.c.id == row['id'])
                .values(data=row['data'], backend=row['backend'], volume_id=row['volume_id'],
                        pool_name=row['pool_name'], size_gb=row['size_gb'],
                        version=row['version'] or resources.c.version + 1)).rowcount
        return bool(done)

    def commit(self, writes: Sequence[Write]) -> list[int]:
        """One transaction: every write checks the version it expects (UPDATE/DELETE ... WHERE
        version = expected; INSERT ... ON CONFLICT DO NOTHING); any miss rolls all back."""
        rows = [self._row(w.kind, w.record) if w.record is not None else None for w in writes]
        for w in writes:
            check_kind(w.kind)
            check_bump(w)
        with self._sqlite() as raw:
            if raw is not None:
                return self._sqlite_commit(raw, writes, rows)
        versions: list[int] = []
        with self._write() as conn:
            for w, row in zip(writes, rows):
                key = (resources.c.kind == w.kind, resources.c.id == w.ident)
                if w.bump:
                    if not conn.execute(resources.update().where(*key, resources.c.version == w.expected)
                                        .values(version=w.expected + 1)).rowcount:
                        raise StaleRecord(w.kind, w.ident, w.expected, self._version_in(conn, w))
                    versions.append(w.expected + 1)
                elif row is None:
                    stmt = resources.delete().where(*key)
                    if w.expected != ANY:
                        stmt = stmt.where(resources.c.version == w.expected)
                    if not conn.execute(stmt).rowcount and w.expected != ANY:
                        raise StaleRecord(w.kind, w.ident, w.expected, self._version_in(conn, w))
                    versions.append(0)
                elif w.expected == NEW:
                    row['version'] = first_version()
                    stmt = self._insert(conn, [row]).on_conflict_do_nothing(
                        index_elements=[resources.c.kind, resources.c.id]).returning(resources.c.id)
                    if conn.execute(stmt, row).first() is None:   # nothing inserted: the id exists
                        raise StaleRecord(w.kind, w.ident, w.expected, self._version_in(conn, w))
                    versions.append(row['version'])
                elif w.expected == ANY:
                    row['version'] = None
                    self._upsert(conn, [row])
                    versions.append(self._version_in(conn, w) or 1)
                else:
                    done = conn.execute(
                        resources.update().where(*key, resources.c.version == w.expected)
                        .values(data=row['data'], backend=row['backend'], volume_id=row['volume_id'],
                                pool_name=row['pool_name'], size_gb=row['size_gb'],
                                version=w.expected + 1)).rowcount
                    if not done:
                        raise StaleRecord(w.kind, w.ident, w.expected, self._version_in(conn, w))
                    versions.append(w.expected + 1)
        return versions

    @staticmethod
    def _version_in(conn: sa.Connection, w: Write) -> int | None:
        return conn.execute(sa.select(resources.c.version).where(
            resources.c.kind == w.kind, resources.c.id == w.ident)).scalar()

    def delete(self, kind: str, ident: str) -> None:
        check_kind(kind)
        with self._write() as conn:
            conn.execute(resources.delete().where(resources.c.kind == kind, resources.c.id == ident))

    def get(self, kind: str, ident: str) -> dict | None:
        found = self.get_versioned(kind, ident)
        return found[0] if found is not None else None

    def get_versioned(self, kind: str, ident: str) -> tuple[dict, int] | None:
        check_kind(kind)
        with self._sqlite() as raw:
            if raw is not None:
                found = self._sqlite_read(raw, _SQL_GET, (kind, ident))
                return (_decode(found[0][0]), int(found[0][1])) if found else None
        with self._read() as conn:
            row = conn.execute(sa.select(resources.c.data, resources.c.version).where(
                resources.c.kind == kind, resources.c.id == ident)).first()
        return (_decode(row[0]), int(row[1])) if row else None

    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        return [r for r, _ in self.list_versioned(kind, backend=backend, volume_id=volume_id)]

    def list_versioned(self, kind: str, backend: str | None = None,
                       volume_id: str | None = None) -> list[tuple[dict, int]]:
        check_kind(kind)
        with self._sqlite() as raw:
            if raw is not None:
                sql, params = _SQL_LIST, [kind]
                for column, value in (('backend', backend), ('volume_id', volume_id)):
                    if value is not None:
                        sql += f' AND {column} = ?'
                        params.append(value)
                found = self._sqlite_read(raw, sql + ' ORDER BY seq', tuple(params))
        if raw is not None:
            return [(_decode(data), int(version)) for data, version in found]
        query = sa.select(resources.c.data, resources.c.version).where(resources.c.kind == kind)
        if backend is not None:
            query = query.where(resources.c.backend == backend)
        if volume_id is not None:
            query = query.where(resources.c.volume_id == volume_id)
        with self._read() as conn:
            rows = conn.execute(query.order_by(resources.c.seq)).all()
        return [(_decode(r[0]), int(r[1])) for r in rows]

    def allocated_gb(self, backend: str) -> dict[str | None, int]:
        """One SUM over the covering index (kind, backend, pool_name, size_gb): every process's
        committed volumes count, and no record is read or decoded."""
        with self._sqlite() as raw:
            if raw is not None:
                found = self._sqlite_read(raw, _SQL_ALLOCATED, (backend,))
                return {pool: int(total) for pool, total in found if total}
        query = (sa.select(resources.c.pool_name, sa.func.coalesce(sa.func.sum(resources.c.size_gb), 0))
                 .where(resources.c.kind == 'volume', resources.c.backend == backend)
                 .group_by(resources.c.pool_name))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {pool: int(total) for pool, total in rows if total}

    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        if self.dialect == 'sqlite':
            self._sqlite_put_rows([self._columns(kind, r) for kind, recs in records.items() for r in recs],
                                  replace=True)
            return
        rows = [self._row(kind, r) for kind, recs in records.items() for r in recs]
        with self._write() as conn:
            conn.execute(resources.delete())
            self._upsert(conn, rows)

    def close(self) -> None:
        if self.dialect == 'sqlite':
            with self._raw_lock:
                held, self._raw_conns = list(self._raw_conns), weakref.WeakSet()
                self._local = threading.local()     # every thread opens a fresh one next time
            for h in held:
                if h.pid == os.getpid():    # a parent's (inherited by fork) is its to close
                    with h.lock:            # waits for a block of _sqlite() in another thread
                        h.close()
        self.engine.dispose()


# the per-operation statements of the SQLite path (SQLPersistence._sqlite_*), on the table above
_SQL_GET = 'SELECT data, version FROM cinder_nb_resources WHERE kind = ? AND id = ?'
# the text's UTF-8 bytes as stored (CAST ... AS BLOB): orjson reads them without a str made and encoded again
_SQL_LIST = 'SELECT CAST(data AS BLOB), version FROM cinder_nb_resources WHERE kind = ?'
_SQL_ALLOCATED = ("SELECT pool_name, coalesce(sum(size_gb), 0) FROM cinder_nb_resources "
                  "WHERE kind = 'volume' AND backend = ? GROUP BY pool_name")
_SQL_DELETE = 'DELETE FROM cinder_nb_resources WHERE kind = ? AND id = ?'
# a volume row's pool_name/size_gb are NULL for other kinds (_row); seq: the write lock is held
# since BEGIN IMMEDIATE, so max(seq) (read over ix_cinder_nb_seq) cannot move under us
_SQL_INSERT = ('INSERT INTO cinder_nb_resources (kind, id, data, backend, volume_id, pool_name, size_gb, '
               'version, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '
               '(SELECT coalesce(max(seq), 0) + 1 FROM cinder_nb_resources))')
_SQL_ON_CONFLICT_BUMP = (' ON CONFLICT(kind, id) DO UPDATE SET data = excluded.data, backend = excluded.backend, '
                         'volume_id = excluded.volume_id, pool_name = excluded.pool_name, '
                         'size_gb = excluded.size_gb, version = cinder_nb_resources.version + 1')
# the bulk upsert (_sqlite_upsert): seq given, as SQLPersistence._upsert numbers its rows
_SQL_INSERT_SEQ = ('INSERT INTO cinder_nb_resources (kind, id, data, backend, volume_id, pool_name, size_gb, '
                   'version, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
_SQL_ON_CONFLICT_GIVEN = _SQL_ON_CONFLICT_BUMP.replace('cinder_nb_resources.version + 1', 'excluded.version')
_SQL_BUMP = 'UPDATE cinder_nb_resources SET version = ? WHERE kind = ? AND id = ? AND version = ?'
_SQL_UPDATE = ('UPDATE cinder_nb_resources SET data = ?, backend = ?, volume_id = ?, pool_name = ?, size_gb = ?, '
               'version = ? WHERE kind = ? AND id = ? AND version = ?')


#: the columns of SQLPersistence._columns' tuples (and of its _row dicts)
_COLUMNS = ('kind', 'id', 'data', 'backend', 'volume_id', 'pool_name', 'size_gb', 'version')


def _sqlite_upsert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """SQLPersistence._upsert() on a sqlite3 connection in its write transaction: rows with a
    version first (stored at it), then the others (a new row at first_version(), a replaced one
    at its version + 1); each part numbered on from max(seq), a replaced row keeps its seq."""
    given = [r for r in rows if r[7] is not None]
    bumped = [r for r in rows if r[7] is None]
    for part, conflict in ((given, _SQL_ON_CONFLICT_GIVEN), (bumped, _SQL_ON_CONFLICT_BUMP)):
        if not part:
            continue
        top = int(conn.execute('SELECT coalesce(max(seq), 0) FROM cinder_nb_resources').fetchone()[0])
        if part is bumped:
            part = [r[:7] + (v,) for r, v in zip(part, first_versions(len(part)))]
        conn.executemany(_SQL_INSERT_SEQ + conflict, [r + (top + i,) for i, r in enumerate(part, 1)])


def _encode_plain(record: dict) -> str:
    """A record of JSON-decoded values as text that decodes to what ROW_ENCODER's does: orjson
    (sorted keys, compact, UTF-8; about 5x faster) unless it refuses (integers beyond 64 bits,
    lone surrogates), then ROW_ENCODER. Only for plain values: orjson writes NaN as null and
    dates, enums and UUIDs its own way, where ROW_ENCODER writes NaN and str()."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return ROW_ENCODER.encode(record)


def _decode(data: str | bytes) -> Any:
    """A row's text (or its UTF-8 bytes, as CAST(data AS BLOB) gives them: orjson reads those
    without a str made and encoded again) as json.loads reads it, by orjson where that gives
    the same (_jsonread.fast_loads)."""
    found = _jsonread.fast_loads(data)
    if found is not _jsonread.MISS:
        return found
    if isinstance(data, bytes):
        try:
            data = data.decode('utf-8')
        except UnicodeDecodeError as exc:   # what sqlite3 reports as 'Could not decode to UTF-8'
            raise PersistenceError(f'A stored record is not UTF-8 text: {exc}') from exc
    return json.loads(data)


class _Holder:
    """One thread's sqlite3 connection: closed when the thread ends (its thread-local holder is
    dropped) or at SQLPersistence.close(). A connection opened before a fork is not reused."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection | None = conn
        self.pid = os.getpid()
        #: held while the connection is in use (SQLPersistence._sqlite) and to close it;
        #: reentrant: a block of _sqlite() inside another in one thread gets the same connection
        self.lock = threading.RLock()
        self._finalizer = weakref.finalize(self, _close_quietly, conn, self.pid)

    def close(self) -> None:
        """Close the connection; the caller holds self.lock."""
        self.conn = None
        self._finalizer()


def _close_quietly(conn: sqlite3.Connection, pid: int) -> None:
    if os.getpid() != pid:      # a child of a fork does not close its parent's connection
        return
    with contextlib.suppress(sqlite3.Error):
        conn.close()


def _sqlite_version(conn: sqlite3.Connection, w: Write) -> int | None:
    row = conn.execute('SELECT version FROM cinder_nb_resources WHERE kind = ? AND id = ?', (w.kind, w.ident)).fetchone()
    return int(row[0]) if row else None


def _upgrade(conn: sa.Connection, stored: int) -> None:
    """Bring a schema 1 or 2 table to SCHEMA_VERSION in the opening transaction (the write
    lock, or PostgreSQL's advisory lock, keeps a second process out meanwhile)."""
    if stored == 1:     # 1 -> 2: rows get a version column (every existing record at version 1)
        conn.exec_driver_sql('ALTER TABLE cinder_nb_resources ADD COLUMN version BIGINT NOT NULL DEFAULT 1')
    # 2 -> 3: each volume row's pool and size in columns of their own, read from its record
    conn.exec_driver_sql('ALTER TABLE cinder_nb_resources ADD COLUMN pool_name VARCHAR(255)')
    conn.exec_driver_sql('ALTER TABLE cinder_nb_resources ADD COLUMN size_gb BIGINT')
    volumes = conn.execute(sa.select(resources.c.id, resources.c.data).where(resources.c.kind == 'volume')).all()
    values = []
    for ident, data in volumes:
        try:
            record = json.loads(data)
        except ValueError:
            record = {}
        record = record if isinstance(record, dict) else {}
        values.append({'ident': ident, 'pool': pool_of(record), 'size': size_of(record)})
    if values:
        conn.execute(resources.update().where(resources.c.kind == 'volume', resources.c.id == sa.bindparam('ident'))
                     .values(pool_name=sa.bindparam('pool'), size_gb=sa.bindparam('size')), values)
    allocated_index.create(conn, checkfirst=True)
    seq_index.create(conn, checkfirst=True)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


#: SQLite's synchronous levels cinder_nb accepts: both keep every confirmed commit through a kill -9
#: (WAL); OFF would not survive an OS crash without corruption risk, so it is not offered.
SYNCHRONOUS_MODES = ('NORMAL', 'FULL')


#: SQLPersistence._holder's page cache, in KiB as PRAGMA cache_size reads a negative number
_CACHE_KIB = -65536


def _sqlite_pragmas(synchronous: str, dbapi_conn, _record) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute('PRAGMA busy_timeout=60000')
    deadline = time.monotonic() + 60
    while True:
        try:
            cur.execute('PRAGMA journal_mode=WAL')
            break
        except sqlite3.OperationalError as exc:
            # Two processes opening a fresh file at once: the switch to WAL answers 'locked'
            # at once, without SQLite's busy handler, so wait for the other one here.
            if 'locked' not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    cur.execute(f'PRAGMA synchronous={synchronous}')   # one of SYNCHRONOUS_MODES, checked in __init__
    cur.close()


def _sqlite_begin(conn) -> None:
    # Writers take the write lock at BEGIN so two processes never deadlock upgrading
    # read locks; readers stay deferred and, with WAL, never wait for a writer.
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql('BEGIN IMMEDIATE')
    else:
        conn.exec_driver_sql('BEGIN')


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split('@')[-1]
