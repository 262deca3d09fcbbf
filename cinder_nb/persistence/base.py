"""The persistence interface: plain JSON-able records per kind, each with a version,
written atomically; ``commit`` writes several records as one compare-and-swap."""
from __future__ import annotations

import abc
import json
import secrets
import threading
from typing import Any, Iterable, NamedTuple, Sequence

from cinder_nb._secrets import PLAIN_SCALARS

KINDS = ('backend', 'volume', 'snapshot', 'connection', 'kv')
#: the one encoder for a record json has to convert, in every store (json.dumps with default=
#: builds a new encoder per call)
ROW_ENCODER = json.JSONEncoder(sort_keys=True, default=str)

#: Write.expected for "the record must not exist yet" (an insert)
NEW = 0
#: Write.expected for "whatever is stored, if anything" (an unconditional upsert or delete)
ANY = -1
#: key under which a record given to put()/put_many() may carry the version to store;
#: the generic commit() also keeps versions there in plugins that store records verbatim
VERSION_KEY = '_version'


def first_version() -> int:
    """The version a newly stored record starts at: random, so that a record deleted and
    stored again under the same id (or replaced by a load) never comes back at a version
    a stale copy elsewhere still holds (the ABA case of compare-and-swap)."""
    return secrets.randbits(52) + 1


def first_versions(count: int) -> list[int]:
    """count first_version()s drawn at once (one read of the system's random source)."""
    raw = secrets.token_bytes(8 * count)
    return [(int.from_bytes(raw[i:i + 8], 'little') >> 12) + 1 for i in range(0, 8 * count, 8)]


class Write(NamedTuple):
    """One record change of a commit: ``record`` None deletes ``ident``.

    ``expected`` is the version the writer read (>= 1), NEW or ANY; a stored record
    whose version differs makes the whole commit fail with StaleRecord. ``owned``: the
    record is a new copy made only of dicts with str keys, lists and JSON scalars (what
    copy_record() gives), handed over: a store may keep it without a copy of its own.
    """
    kind: str
    ident: str
    record: dict | None
    expected: int
    owned: bool = False
    #: a version bump (record None): the stored record stays as it is and only its version
    #: moves on; sent only to a store whose ``version_bumps`` is True
    bump: bool = False


class StaleRecord(Exception):
    """A commit found a record at another version than the writer read: nothing was written.

    Internal: the runtime re-reads and retries, or raises cinder_nb.errors.Conflict.
    """

    def __init__(self, kind: str, ident: str, expected: int, found: int | None) -> None:
        super().__init__(f'{kind} {ident}: expected version {expected}, found {found}')
        self.kind, self.ident, self.expected, self.found = kind, ident, expected, found


_GENERIC_COMMIT_LOCK = threading.RLock()


class Persistence(abc.ABC):
    """Stores records (dicts) of kinds in KINDS, keyed by their 'id', each with a version.

    Records arrive already redacted: secrets never reach a persistence back-end.
    Every method is atomic on its own; ``put_many`` and ``replace_all`` write
    several records in one transaction, ``commit`` several records as one
    compare-and-swap (Cinder's ``conditional_update`` idea): each record has an
    integer version, a random one (first_version()) when first stored and one more at
    every write; a commit
    names the version each record was read at and writes nothing if any differs.

    The contract for a third-party back-end (entry point group ``cinder_nb.persistence``):

    - implement the abstract methods (``put``, ``delete``, ``get``, ``list``,
      ``replace_all``); ``get``/``list`` return records without the version;
    - ``get_versioned``, ``list_versioned`` and ``commit`` have generic defaults
      that keep the version inside the stored record (key VERSION_KEY) through
      ``put_many``/``get``/``list``, and check-and-write under a lock of this
      process: atomic between threads, not between processes;
    - so a back-end that sets ``shared = True`` (other processes write the same
      records) must override those three with atomic ones (see SQLPersistence);
      ``cinder_nb.persistence.create`` refuses one that does not, with a
      PersistenceError saying so.
    """

    name = 'base'
    #: True when other processes may change the records behind this process's back
    #: (a database file or server); the runtime then re-reads records it has live.
    shared = False
    #: commit() takes Write(bump=True): a parent's version moved on in the compare-and-swap
    #: that stores its child, without rewriting its unchanged record (else the runtime writes
    #: the record again, as it is)
    version_bumps = False

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

    def scan(self, kind: str, backend: str | None = None,
             volume_id: str | None = None) -> list[tuple[dict, int]]:
        """list_versioned() for a reader that only looks: it must not change the records,
        which a store may hand out as it holds them (the memory store does: no copy)."""
        return self.list_versioned(kind, backend=backend, volume_id=volume_id)

    def adopt_many(self, items: Iterable[tuple[str, dict, int]]) -> None:
        """put_many() of (kind, record, version) the caller hands over for good: records fresh
        from JSON decoding (str keys; dict, list, str, int, float, bool, None) that it never
        touches again, each stored at the given version. A store may keep them as they are."""
        self.put_many((kind, dict(record, **{VERSION_KEY: version})) for kind, record, version in items)

    def allocated_gb(self, backend: str) -> dict[str | None, int]:
        """GiB of the volume records of a backend, per ``pool_name`` (None: no pool recorded).

        What Cinder's volume manager counts as ``allocated_capacity_gb`` from its database.
        Every create and clone asks, so the built-in stores answer without reading each
        record (the memory store keeps running totals, the SQL store sums an index); this
        generic default, for plugins, reads them all.
        """
        sizes: dict[str | None, int] = {}
        for rec in self.list('volume', backend=backend):
            pool = pool_of(rec)
            sizes[pool] = sizes.get(pool, 0) + size_of(rec)
        return sizes

    # ------------------------------------------------------------- versions (generic defaults)
    def get_versioned(self, kind: str, ident: str) -> tuple[dict, int] | None:
        """(record, version) or None."""
        rec = self.get(kind, ident)
        if rec is None:
            return None
        return rec, _pop_version(rec)

    def list_versioned(self, kind: str, backend: str | None = None,
                       volume_id: str | None = None) -> list[tuple[dict, int]]:
        """list() with each record's version."""
        return [(r, _pop_version(r)) for r in self.list(kind, backend=backend, volume_id=volume_id)]

    def commit(self, writes: Sequence[Write]) -> list[int]:
        """Apply writes all or none if every record is at the version its write expects.

        Returns each record's new version (0 for a delete); raises StaleRecord and
        writes nothing when one differs.
        """
        with _GENERIC_COMMIT_LOCK:
            versions = []
            for w in writes:
                check_kind(w.kind)
                cur = self.get_versioned(w.kind, w.ident)
                found = cur[1] if cur is not None else None
                check_expected(w, found)
                versions.append(0 if w.record is None and not w.bump else found + 1 if found else first_version())
            self._write_versioned(writes, versions)
            return versions

    def _write_versioned(self, writes: Sequence[Write], versions: list[int]) -> None:
        """Apply checked writes through put_many()/delete(), each record carrying its new
        version under VERSION_KEY (the caller holds whatever makes it atomic)."""
        puts = [(w.kind, dict(w.record if w.record is not None else self.get(w.kind, w.ident) or {},
                              **{VERSION_KEY: v}))
                for w, v in zip(writes, versions) if w.record is not None or w.bump]
        if puts:
            self.put_many(puts)
        for w in writes:
            if w.record is None and not w.bump:
                self.delete(w.kind, w.ident)

    def close(self) -> None:  # noqa: B027  (a no-op default: stores holding connections override it)
        """Release connections and files."""

    def describe(self) -> str:
        return self.name


def _pop_version(rec: dict) -> int:
    version = rec.pop(VERSION_KEY, 1)
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


def check_bump(write: Write) -> None:
    """A version bump names the version it read (it moves a stored record on, never makes one)."""
    if write.bump and write.expected < 1:
        raise ValueError(f'a version bump of {write.kind} {write.ident} needs the version it read')


def check_expected(write: Write, found: int | None) -> None:
    """Raise StaleRecord unless a record at version found (None: absent) is what write expects."""
    check_bump(write)
    if write.expected == ANY:
        return
    if write.expected == NEW:
        if found is not None:
            raise StaleRecord(write.kind, write.ident, write.expected, found)
    elif found != write.expected:
        raise StaleRecord(write.kind, write.ident, write.expected, found)


def size_of(record: dict) -> int:
    """A volume record's size in GiB for allocated_gb (0 when it has no integer size)."""
    size = record.get('size')
    return size if isinstance(size, int) and not isinstance(size, bool) else 0


def pool_of(record: dict) -> str | None:
    """A volume record's pool for allocated_gb (None when it names none)."""
    pool = record.get('pool_name')
    return pool if isinstance(pool, str) and pool else None




class NotPlainJSON(Exception):
    """copy_record() met something JSON would have to convert (a tuple key, a datetime, ...)."""


def copy_record(value: dict) -> dict:
    """A copy of a record made only of dicts with str keys, lists and JSON scalars (exactly
    those types), sharing nothing that can change with value: what json.loads(json.dumps(value))
    gives, without the text. NotPlainJSON for anything else (tuples, other types, non-str keys)."""
    return _copy(value)


def copy_record_list(value: list) -> list:
    """copy_record() for a list."""
    return _copy(value)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise NotPlainJSON(key)
            out[key] = item if type(item) in PLAIN_SCALARS else _copy(item)
        return out
    if kind is list:
        return [item if type(item) in PLAIN_SCALARS else _copy(item) for item in value]
    raise NotPlainJSON(kind)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f'unknown record kind {kind!r}; expected one of {KINDS}')


def check_record(record: dict) -> None:
    """Every stored record is a dict with a string 'id'."""
    if not isinstance(record, dict) or not isinstance(record.get('id'), str) or not record['id']:
        raise ValueError(f'a record must be a dict with a non-empty string id, got {record!r:.80}')
