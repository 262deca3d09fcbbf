"""In-process persistence: nothing survives the process (use dumps() to keep it)."""
from __future__ import annotations

import json
import threading
from typing import Iterable, NamedTuple

from cinder_nb.persistence.base import KINDS, Persistence, check_kind, check_record


class _Row(NamedTuple):
    backend: object
    volume_id: object
    text: str


class MemoryPersistence(Persistence):
    """Records held as JSON text (like a database row), indexed by volume id.

    Storing text means a caller can neither change a stored record afterwards nor
    store something a SQL back-end could not, and reads are plain ``json.loads``.
    """

    name = 'memory'

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, _Row]] = {k: {} for k in KINDS}
        self._by_volume: dict[str, dict[str, dict[str, None]]] = {k: {} for k in KINDS}

    @staticmethod
    def _row(record: dict) -> _Row:
        check_record(record)
        return _Row(record.get('backend'), record.get('volume_id'),
                    json.dumps(record, sort_keys=True, default=str))

    def _put_locked(self, kind: str, ident: str, row: _Row) -> None:
        old = self._data[kind].get(ident)
        self._data[kind][ident] = row
        if old is not None and old.volume_id == row.volume_id:
            return
        if old is not None:
            self._index_drop(kind, ident, old)
        if isinstance(row.volume_id, str):
            self._by_volume[kind].setdefault(row.volume_id, {})[ident] = None

    def _index_drop(self, kind: str, ident: str, row: _Row) -> None:
        ids = self._by_volume[kind].get(row.volume_id) if isinstance(row.volume_id, str) else None
        if ids is not None:
            ids.pop(ident, None)
            if not ids:
                del self._by_volume[kind][row.volume_id]

    def put(self, kind: str, record: dict) -> None:
        check_kind(kind)
        row = self._row(record)
        with self._lock:
            self._put_locked(kind, record['id'], row)

    def update(self, kind: str, record: dict) -> bool:
        check_kind(kind)
        row = self._row(record)
        with self._lock:
            if record['id'] not in self._data[kind]:
                return False
            self._put_locked(kind, record['id'], row)
            return True

    def put_many(self, items: Iterable[tuple[str, dict]]) -> None:
        staged = []
        for kind, record in items:
            check_kind(kind)
            row = self._row(record)
            staged.append((kind, record['id'], row))
        with self._lock:
            for kind, ident, row in staged:
                self._put_locked(kind, ident, row)

    def delete(self, kind: str, ident: str) -> None:
        check_kind(kind)
        with self._lock:
            old = self._data[kind].pop(ident, None)
            if old is not None:
                self._index_drop(kind, ident, old)

    def get(self, kind: str, ident: str) -> dict | None:
        check_kind(kind)
        with self._lock:
            row = self._data[kind].get(ident)
        return json.loads(row.text) if row is not None else None

    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        check_kind(kind)
        with self._lock:
            if volume_id is not None:
                rows = [self._data[kind][i] for i in self._by_volume[kind].get(volume_id, ())]
            else:
                rows = list(self._data[kind].values())
        return [json.loads(r.text) for r in rows if backend is None or r.backend == backend]

    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        fresh = MemoryPersistence()
        for kind, recs in records.items():
            check_kind(kind)
            for rec in recs:
                row = self._row(rec)
                fresh._put_locked(kind, rec['id'], row)
        with self._lock:
            self._data, self._by_volume = fresh._data, fresh._by_volume
