"""The persistence interface: plain JSON-able records per kind, written atomically."""
from __future__ import annotations

import abc
from typing import Iterable

KINDS = ('backend', 'volume', 'snapshot', 'connection', 'kv')


class Persistence(abc.ABC):
    """Stores records (dicts) of kinds in KINDS, keyed by their 'id'.

    Records arrive already redacted: secrets never reach a persistence back-end.
    Every method is atomic on its own; ``put_many`` and ``replace_all`` write
    several records in one transaction.

    A third-party back-end (entry point group ``cinder_nb.persistence``) must
    implement the abstract methods; the others have correct but non-atomic
    defaults it should override when its store can do better.
    """

    name = 'base'
    #: True when other processes may change the records behind this process's back
    #: (a database file or server); the runtime then re-reads records it has live.
    shared = False

    @abc.abstractmethod
    def put(self, kind: str, record: dict) -> None:
        """Insert or replace one record."""

    @abc.abstractmethod
    def delete(self, kind: str, ident: str) -> None:
        """Remove one record; no error if it is already gone."""

    @abc.abstractmethod
    def get(self, kind: str, ident: str) -> dict | None:
        """One record, or None."""

    @abc.abstractmethod
    def list(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list[dict]:
        """Records of a kind, optionally filtered by backend or volume_id, oldest first."""

    @abc.abstractmethod
    def replace_all(self, records: dict[str, Iterable[dict]]) -> None:
        """Atomically replace every record with the given ones."""

    def update(self, kind: str, record: dict) -> bool:
        """Replace an existing record; False (and nothing written) when it does not exist.

        The runtime uses it for resources it knows were stored, so a resource another
        process deleted is not brought back by a stale object in this one.
        """
        if self.get(kind, record['id']) is None:
            return False
        self.put(kind, record)
        return True

    def put_many(self, items: Iterable[tuple[str, dict]]) -> None:
        """Insert or replace several (kind, record) pairs, all or none."""
        for kind, record in items:
            self.put(kind, record)

    def close(self) -> None:
        """Release connections and files."""

    def describe(self) -> str:
        return self.name


def matches(record: dict, backend: str | None, volume_id: str | None) -> bool:
    return ((backend is None or record.get('backend') == backend) and
            (volume_id is None or record.get('volume_id') == volume_id))


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f'unknown record kind {kind!r}; expected one of {KINDS}')


def check_record(record: dict) -> None:
    """Every stored record is a dict with a string 'id'."""
    if not isinstance(record, dict) or not isinstance(record.get('id'), str) or not record['id']:
        raise ValueError(f'a record must be a dict with a non-empty string id, got {record!r:.80}')
