"""SQL persistence (SQLite file with WAL, or PostgreSQL) through SQLAlchemy Core.

One row per record; each write is its own transaction, so a crash leaves either
the old or the new row, and processes sharing one database never overwrite each
other's records (they only ever upsert or delete the rows they changed).
"""
from __future__ import annotations

import json
import os
from typing import Iterable

import sqlalchemy as sa

from cinder_nb.errors import PersistenceError
from cinder_nb.persistence.base import KINDS, Persistence, check_kind

SCHEMA_VERSION = 1

_metadata = sa.MetaData()
resources = sa.Table(
    'cinder_nb_resources', _metadata,
    sa.Column('kind', sa.String(16), primary_key=True),
    sa.Column('id', sa.String(255), primary_key=True),
    sa.Column('backend', sa.String(255), index=True),
    sa.Column('volume_id', sa.String(255), index=True),
    sa.Column('seq', sa.BigInteger, nullable=False),
    sa.Column('data', sa.Text, nullable=False),
)
meta = sa.Table(
    'cinder_nb_meta', _metadata,
    sa.Column('key', sa.String(64), primary_key=True),
    sa.Column('value', sa.Text, nullable=False),
)


class SQLPersistence(Persistence):
    """Records in one table of a SQLite file or PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url.split(':', 1)[0].split('+', 1)[0]
        try:
            if self.name == 'sqlite':
                path = url.split('///', 1)[-1]
                if path and path != ':memory:':
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self.engine = sa.create_engine(url, connect_args={'timeout': 60, 'check_same_thread': False})
                sa.event.listen(self.engine, 'connect', _sqlite_pragmas)
                sa.event.listen(self.engine, 'begin', _sqlite_begin_immediate)
            else:
                if url.startswith('postgresql://'):
                    url = 'postgresql+psycopg://' + url[len('postgresql://'):]
                self.engine = sa.create_engine(url, pool_pre_ping=True)
            with self.engine.begin() as conn:
                _metadata.create_all(conn)
                row = conn.execute(sa.select(meta.c.value).where(meta.c.key == 'schema')).first()
                if row is None:
                    conn.execute(meta.insert().values(key='schema', value=str(SCHEMA_VERSION)))
                elif int(row[0]) > SCHEMA_VERSION:
                    raise PersistenceError(
                        f'{_safe_url(url)} holds cinder_nb schema {row[0]}, newer than this '
                        f'cinder_nb ({SCHEMA_VERSION}); upgrade cinder_nb to use it.')
        except PersistenceError:
            raise
        except Exception as exc:
            raise PersistenceError(f'Cannot open persistence {_safe_url(url)}: {exc}') from exc

    def describe(self) -> str:
        return _safe_url(self.url)

    def _row(self, kind: str, record: dict) -> dict:
        return {'kind': kind, 'id': record['id'], 'backend': record.get('backend'),
                'volume_id': record.get('volume_id'),
                'data': json.dumps(record, sort_keys=True, default=str)}

    def put(self, kind: str, record: dict) -> None:
        check_kind(kind)
        row = self._row(kind, record)
        with self.engine.begin() as conn:
            seq = self._next_seq(conn)
            updated = conn.execute(
                resources.update().where(resources.c.kind == kind, resources.c.id == row['id'])
                .values(data=row['data'], backend=row['backend'], volume_id=row['volume_id'])).rowcount
            if not updated:
                conn.execute(resources.insert().values(seq=seq, **row))

    def _next_seq(self, conn) -> int:
        value = conn.execute(sa.select(sa.func.coalesce(sa.func.max(resources.c.seq), 0))).scalar()
        return int(value) + 1

    def delete(self, kind: str, ident: str) -> None:
        check_kind(kind)
        with self.engine.begin() as conn:
            conn.execute(resources.delete().where(resources.c.kind == kind, resources.c.id == ident))

    def get(self, kind: str, ident: str) -> dict | None:
        check_kind(kind)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(resources.c.data).where(
                resources.c.kind == kind, resources.c.id == ident)).first()
        return json.loads(row[0]) if row else None

    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        check_kind(kind)
        query = sa.select(resources.c.data).where(resources.c.kind == kind)
        if backend is not None:
            query = query.where(resources.c.backend == backend)
        if volume_id is not None:
            query = query.where(resources.c.volume_id == volume_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(resources.c.seq)).all()
        return [json.loads(r[0]) for r in rows]

    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        rows = []
        for kind, recs in records.items():
            check_kind(kind)
            rows.extend(self._row(kind, r) for r in recs)
        with self.engine.begin() as conn:
            conn.execute(resources.delete())
            for i, row in enumerate(rows, 1):
                row['seq'] = i
            if rows:
                conn.execute(resources.insert(), rows)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute('PRAGMA journal_mode=WAL')
    cur.execute('PRAGMA synchronous=FULL')
    cur.execute('PRAGMA busy_timeout=60000')
    cur.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at BEGIN so two processes never deadlock upgrading read locks.
    conn.exec_driver_sql('BEGIN IMMEDIATE')


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split('@')[-1]


def kinds() -> tuple:
    return KINDS
