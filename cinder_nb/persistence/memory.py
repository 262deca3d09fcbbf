"""In-process persistence: nothing survives the process (use dumps() to keep it)."""
from __future__ import annotations

import copy
import threading
from typing import Iterable

from cinder_nb.persistence.base import KINDS, Persistence, check_kind, matches


class MemoryPersistence(Persistence):
    name = 'memory'

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, dict]] = {k: {} for k in KINDS}

    def put(self, kind: str, record: dict) -> None:
        check_kind(kind)
        with self._lock:
            self._data[kind][record['id']] = copy.deepcopy(record)

    def delete(self, kind: str, ident: str) -> None:
        check_kind(kind)
        with self._lock:
            self._data[kind].pop(ident, None)

    def get(self, kind: str, ident: str) -> dict | None:
        check_kind(kind)
        with self._lock:
            rec = self._data[kind].get(ident)
            return copy.deepcopy(rec) if rec is not None else None

    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        check_kind(kind)
        with self._lock:
            return [copy.deepcopy(r) for r in self._data[kind].values() if matches(r, backend, volume_id)]

    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        fresh: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
        for kind, recs in records.items():
            check_kind(kind)
            for rec in recs:
                fresh[kind][rec['id']] = copy.deepcopy(rec)
        with self._lock:
            self._data = fresh
