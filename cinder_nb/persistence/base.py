"""The persistence interface: plain JSON-able records per kind, written atomically."""
from __future__ import annotations

import abc
from typing import Iterable

KINDS = ('backend', 'volume', 'snapshot', 'connection', 'kv')


class Persistence(abc.ABC):
    """Stores records (dicts) of kinds in KINDS, keyed by their 'id'.

    Records arrive already redacted: secrets never reach a persistence back-end.
    Every method is atomic on its own; ``replace_all`` swaps the whole state at once.
    """

    name = 'base'

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
