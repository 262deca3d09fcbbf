"""In-process persistence: nothing survives the process (use dumps() to keep it)."""
from __future__ import annotations

import json
import threading
from typing import Iterable, NamedTuple, Sequence

from cinder_nb.persistence.base import (KINDS, ROW_ENCODER, VERSION_KEY, NotPlainJSON, Persistence, Write, check_expected,
                                        check_kind, check_record, copy_record, first_version, pool_of,
                                        size_of)


def _stored(record: dict) -> dict:
    """The store's own copy of a record: decoded JSON sharing nothing with the caller's dict.

    A record already made of plain JSON types is copied as it is (copy_record); anything
    else (a tuple, a datetime, a non-str key) goes through JSON text, as a database row
    would, so the store holds exactly what a SQL back-end would give back."""
    try:
        return copy_record(record)
    except (NotPlainJSON, RecursionError):
        return json.loads(ROW_ENCODER.encode(record))


class _Row(NamedTuple):
    backend: object
    volume_id: object
    record: dict                # the store's own decoded copy: never handed out (copy_record)
    version: int
    pool: str | None = None     # pool_of(record), size_of(record): kept for allocated_gb
    size: int = 0


class MemoryPersistence(Persistence):
    """Records held decoded (as a database row would give them back) with their versions,
    indexed by volume id.

    The store keeps its own copy of each record and hands out copies (``get``, ``list``):
    a caller can neither change a stored record afterwards nor store something a SQL
    back-end could not (what JSON would convert, it converts). ``scan`` and ``adopt_many``
    skip the copies for callers that promise not to change what they get or gave.
    ``commit`` checks versions and writes under one lock (atomic between threads);
    it writes through ``put_many``/``delete`` so a subclass that overrides those
    (to mirror records to a file, say) sees every change. The GiB of the volume
    records per (backend, pool) are kept as running totals, changed with every row
    written or dropped, so ``allocated_gb`` reads no record.
    """

    name = 'memory'
    version_bumps = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._data: dict[str, dict[str, _Row]] = {k: {} for k in KINDS}
        self._by_volume: dict[str, dict[str, dict[str, None]]] = {k: {} for k in KINDS}
        self._allocated: dict[tuple[object, str | None], int] = {}

    @staticmethod
    def _row(record: dict, old: _Row | None, version: int | None = None, owned: bool = False) -> _Row:
        """The row of record (with the store's own copy of it; owned: record is one, see
        Write.owned); version: the one a commit already chose for it."""
        check_record(record)
        if version is None:
            version = record.get(VERSION_KEY)
        if VERSION_KEY in record:
            record = {k: v for k, v in record.items() if k != VERSION_KEY}
        if version is None:
            version = old.version + 1 if old is not None else first_version()
        if not owned:
            record = _stored(record)
        return _Row(record.get('backend'), record.get('volume_id'), record, version, pool_of(record),
                    size_of(record))

    def _put_locked(self, kind: str, ident: str, record: dict) -> None:
        self._put_row(kind, ident, self._row(record, self._data[kind].get(ident)))

    def _count(self, kind: str, row: _Row, sign: int) -> None:
        """Add (sign 1) or take away (-1) a volume row's GiB in the running totals."""
        if kind == 'volume' and row.size:
            key = (row.backend, row.pool)
            total = self._allocated.get(key, 0) + sign * row.size
            if total:
                self._allocated[key] = total
            else:
                self._allocated.pop(key, None)

    def _put_row(self, kind: str, ident: str, row: _Row) -> None:
        old = self._data[kind].get(ident)
        self._data[kind][ident] = row
        if old is not None:
            self._count(kind, old, -1)
        self._count(kind, row, 1)
        if old is not None and old.volume_id == row.volume_id:
            return
        if old is not None:
            self._index_drop(kind, ident, old)
        if isinstance(row.volume_id, str):
            self._by_volume[kind].setdefault(row.volume_id, {})[ident] = None

    def _drop_row(self, kind: str, ident: str) -> None:
        """Remove a row (if any) with its index entry and its GiB (the lock is held)."""
        old = self._data[kind].pop(ident, None)
        if old is not None:
            self._index_drop(kind, ident, old)
            self._count(kind, old, -1)

    def _index_drop(self, kind: str, ident: str, row: _Row) -> None:
        ids = self._by_volume[kind].get(row.volume_id) if isinstance(row.volume_id, str) else None
        if ids is not None:
            ids.pop(ident, None)
            if not ids:
                del self._by_volume[kind][row.volume_id]

    def put(self, kind: str, record: dict) -> None:
        check_kind(kind)
        check_record(record)
        with self._lock:
            self._put_locked(kind, record['id'], record)

    def update(self, kind: str, record: dict) -> bool:
        check_kind(kind)
        check_record(record)
        with self._lock:
            if record['id'] not in self._data[kind]:
                return False
            self._put_locked(kind, record['id'], record)
            return True

    def put_many(self, items: Iterable[tuple[str, dict]]) -> None:
        staged = []
        for kind, record in items:
            check_kind(kind)
            # encoded once, before anything is written: what cannot be stored is refused first
            row = self._row(record, None)
            staged.append((kind, record['id'], row, VERSION_KEY in record))
        with self._lock:
            for kind, ident, row, explicit in staged:
                old = self._data[kind].get(ident)
                if old is not None and not explicit:
                    row = row._replace(version=old.version + 1)
                self._put_row(kind, ident, row)

    def adopt_many(self, items: Iterable[tuple[str, dict, int]]) -> None:
        if type(self).put_many is not MemoryPersistence.put_many:     # a subclass's own put_many sees it
            super().adopt_many(items)
            return
        staged = []
        for kind, record, version in items:
            check_kind(kind)
            check_record(record)
            if VERSION_KEY in record:       # as put_many: never stored inside the record
                record = {k: v for k, v in record.items() if k != VERSION_KEY}
            staged.append((kind, record['id'], _Row(record.get('backend'), record.get('volume_id'), record,
                                                    version, pool_of(record), size_of(record))))
        with self._lock:
            for kind, ident, row in staged:
                self._put_row(kind, ident, row)

    def delete(self, kind: str, ident: str) -> None:
        check_kind(kind)
        with self._lock:
            self._drop_row(kind, ident)

    def get(self, kind: str, ident: str) -> dict | None:
        found = self.get_versioned(kind, ident)
        return found[0] if found is not None else None

    def get_versioned(self, kind: str, ident: str) -> tuple[dict, int] | None:
        check_kind(kind)
        with self._lock:
            row = self._data[kind].get(ident)
        return (copy_record(row.record), row.version) if row is not None else None

    def _rows(self, kind: str, backend: str | None, volume_id: str | None) -> list[_Row]:
        check_kind(kind)
        with self._lock:
            if volume_id is not None:
                rows = [self._data[kind][i] for i in self._by_volume[kind].get(volume_id, ())]
            else:
                rows = list(self._data[kind].values())
        return [r for r in rows if backend is None or r.backend == backend]

    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        return [copy_record(r.record) for r in self._rows(kind, backend, volume_id)]

    def list_versioned(self, kind: str, backend: str | None = None,
                       volume_id: str | None = None) -> list[tuple[dict, int]]:
        return [(copy_record(r.record), r.version) for r in self._rows(kind, backend, volume_id)]

    def scan(self, kind: str, backend: str | None = None,
             volume_id: str | None = None) -> list[tuple[dict, int]]:
        return [(r.record, r.version) for r in self._rows(kind, backend, volume_id)]

    def commit(self, writes: Sequence[Write]) -> list[int]:
        for w in writes:
            check_kind(w.kind)
            if w.record is not None:
                check_record(w.record)
        with self._lock:
            versions = []
            for w in writes:
                row = self._data[w.kind].get(w.ident)
                check_expected(w, row.version if row is not None else None)
                versions.append(0 if w.record is None and not w.bump else
                                row.version + 1 if row is not None else first_version())
            if type(self).put_many is MemoryPersistence.put_many and type(self).delete is MemoryPersistence.delete:
                for w, v in zip(writes, versions):    # nothing overridden: write the rows directly
                    if w.bump:      # the row (found at the version expected) keeps its record
                        self._data[w.kind][w.ident] = self._data[w.kind][w.ident]._replace(version=v)
                    elif w.record is None:
                        self._drop_row(w.kind, w.ident)
                    else:
                        self._put_row(w.kind, w.ident, self._row(w.record, None, v, w.owned))
                return versions
            self._write_versioned(writes, versions)   # a subclass's own put_many()/delete()
            return versions

    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        fresh = MemoryPersistence()
        for kind, recs in records.items():
            check_kind(kind)
            for rec in recs:
                check_record(rec)
                fresh._put_locked(kind, rec['id'], rec)
        with self._lock:
            self._data, self._by_volume, self._allocated = fresh._data, fresh._by_volume, fresh._allocated

    def allocated_gb(self, backend: str) -> dict[str | None, int]:
        with self._lock:
            return {pool: gib for (owner, pool), gib in self._allocated.items() if owner == backend}
