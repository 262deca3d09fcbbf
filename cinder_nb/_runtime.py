"""Global set-up and the in-process registry of backends and resources.

The registry holds the live objects with their full records (secrets included):
it is the private store. Persistence only ever receives redacted copies.
"""
from __future__ import annotations

import atexit
import itertools
import os
import random
import shutil
import tempfile
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from cinder_nb import _cinder, persistence as persistence_mod
from cinder_nb.errors import CinderNBError, Conflict, InvalidArgument, NotFound, PersistenceError
from cinder_nb.persistence.base import ANY, NEW, Persistence, StaleRecord, Write, copy_record
from cinder_nb._secrets import SCRUBBER, NotPlain, redact_collect, redact_plain, unredact

#: how often a compare-and-swap is retried on fresher data before Conflict
MAX_ATTEMPTS = 50

_lock = threading.RLock()
_runtime: 'Runtime | None' = None

#: the class of each kind ('backend', 'volume', 'snapshot', 'connection'); each registers itself
#: when its module is imported (register_class), so this layer imports no public object
_CLASSES: dict[str, type] = {}


def register_class(kind: str, cls: type) -> None:
    """Make cls the class that wraps records of kind (called by the class's own module)."""
    _CLASSES[kind] = cls


def class_of(kind: str) -> Any:
    """The class registered for kind (Volume for 'volume', Backend for 'backend', ...)."""
    return _CLASSES[kind]


#: (whole second, its 'YYYY-MM-DDTHH:MM:SS' in UTC), replaced as one tuple (threads share it)
_second: tuple[int, str] = (-1, '')


def now() -> str:
    """The timestamp records carry: ISO 8601, UTC, microseconds
    (``datetime.now(timezone.utc).isoformat(timespec='microseconds')``, without a datetime
    per call: every write of every operation stamps one)."""
    global _second
    second, fraction = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, datetime.fromtimestamp(second, timezone.utc).strftime('%Y-%m-%dT%H:%M:%S'))
    return f'{cached[1]}.{fraction:06d}+00:00'


def new_id() -> str:
    return str(uuid.uuid4())


class Runtime:
    """One process's cinder_nb state: persistence, backends and the live objects."""

    def __init__(self, store: Persistence, state_dir: str, secrets: dict | None = None) -> None:
        self.persistence = store
        self.state_dir = state_dir
        #: secret options given to setup(secrets=...) for reopening stored backends
        self.secrets: dict = dict(secrets or {})
        self.lock = threading.RLock()
        self.backends: dict[str, Any] = {}
        self.live: dict[str, dict[str, Any]] = {'volume': {}, 'snapshot': {}, 'connection': {}}
        #: ids of live objects that exist only in this process (loaded with save=False)
        #: (insertion-ordered dicts used as sets)
        self.unsaved: dict[str, dict[str, None]] = {'volume': {}, 'snapshot': {}, 'connection': {}}

    # ----------------------------------------------------------- backends
    def backend(self, name: str, secrets: dict | None = None) -> Any:
        """The loaded backend of that name, else the stored one reopened from its configuration."""
        loaded = self.backends.get(name)
        if loaded is not None:
            return loaded
        if 'backend' not in _CLASSES or self.persistence.get('backend', name) is None:
            raise NotFound('backend', name,
                           'Create it with cinder_nb.Backend(...) or load a state that holds its '
                           'configuration.')
        # not under self.lock: a starting driver may call Cinder's DB API, which takes it
        return _CLASSES['backend']._reopen(name, secrets if secrets is not None else self.secrets)

    def stored_backend_names(self) -> list[str]:
        """Names of the backends whose configuration the store holds."""
        return [r['id'] for r in self.persistence.list('backend')]

    # ----------------------------------------------------------- records <-> objects
    def register(self, obj: Any, saved: bool = False, version: int = 0) -> None:
        """Make obj live in this process; saved=False marks it as held here only (load(save=False)).

        ``version``: the version its record was just stored at (0: unknown, its next write
        or read re-reads it).
        """
        with self.lock:
            self.live[obj.KIND][obj.id] = obj
            obj._version = version
            if saved:
                self.unsaved[obj.KIND].pop(obj.id, None)
            else:
                self.unsaved[obj.KIND][obj.id] = None

    def register_many(self, kind: str, objs: list, saved: bool = False, versions: Iterable[int] = ()) -> None:
        """register() of many objects of one kind under one hold of the lock; versions[i] is
        objs[i]'s (as register's version; missing ones are 0)."""
        with self.lock:
            live, unsaved = self.live[kind], self.unsaved[kind]
            for obj, version in itertools.zip_longest(objs, versions, fillvalue=0):
                live[obj.id] = obj
                obj._version = version
            if saved:
                if unsaved:
                    for obj in objs:
                        unsaved.pop(obj.id, None)
            else:
                unsaved.update(dict.fromkeys(obj.id for obj in objs))

    def transact(self, step: Callable[['Txn'], Any], subject: Any = None, operation: str = 'update') -> Any:
        """Run step(txn) and commit its writes as one compare-and-swap; returns step's result.

        step reads records through txn, may raise a typed error to refuse (the objects it
        read are refreshed all the same), and queues writes. When another writer changed
        a record in between, nothing is written and step runs again on records read from
        the store; after MAX_ATTEMPTS, Conflict names the current status.
        """
        with self.lock:
            fresh = False
            for attempt in range(MAX_ATTEMPTS):
                txn = Txn(self, fresh)
                try:
                    result = step(txn)
                except CinderNBError:
                    if txn.optimistic:      # refused on this process's copy: check the store's first
                        fresh = True
                        continue
                    txn.refresh_read()
                    raise
                except BaseException:
                    txn.refresh_read()
                    raise
                if not txn.writes:
                    txn.refresh_read()
                    return result
                try:
                    versions = self.persistence.commit(txn.commit_writes())
                except StaleRecord:
                    if not txn.optimistic:  # lost to another writer: let it finish
                        time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                    fresh = True
                    continue
                txn.applied(versions)
                return result
        kind, ident = (subject.KIND, subject.id) if subject is not None else ('record', '?')
        status = subject.status if subject is not None else 'changing'
        raise Conflict(kind, ident, status, operation,
                       f'Other writers changed it {MAX_ATTEMPTS} times while this one tried; retry.')

    def forget(self, obj: Any) -> None:
        """Delete obj's record (whatever its version: its storage is gone) and drop it here."""
        def step(txn):
            txn.delete(obj)
        self.transact(step, obj, 'delete')

    def _gone(self, kind: str, ident: str, obj: Any = None) -> None:
        """A live object whose record another process deleted: drop it, mark it deleted."""
        live = self.live[kind].pop(ident, None)
        self.unsaved[kind].pop(ident, None)
        for o in (live, obj):
            if o is not None:
                o.record['status'] = 'deleted'
                o._version = 0

    def _wrap(self, kind: str, record: dict, version: int, shared: bool = False) -> Any:
        """The live object for a stored record (refreshed if another process changed it).

        shared: record is the store's own (Persistence.scan): copied before an object keeps it.
        """
        live = self.live[kind].get(record['id'])
        if live is not None:
            if record['id'] not in self.unsaved[kind] and live._version != version:
                live._replace_record(unredact(copy_record(record) if shared else record, live.record), version)
            return live
        obj = _CLASSES[kind](copy_record(record) if shared else record, version)
        self.live[kind][obj.id] = obj
        return obj

    def get(self, kind: str, ident: str) -> Any:
        with self.lock:
            obj = self.live[kind].get(ident)
            if obj is not None and (ident in self.unsaved[kind] or not self.persistence.shared):
                return obj
            found = self.persistence.get_versioned(kind, ident)
            if found is None:
                if obj is not None:
                    self._gone(kind, ident)
                    raise NotFound(kind, ident, 'Another process sharing this state deleted it.')
                raise NotFound(kind, ident)
            return self._wrap(kind, *found)

    def refresh(self, obj: Any) -> None:
        """Re-read a live object's record from the store (secrets kept from the live record).

        An object held only in this process (load(save=False)) is left as it is; one whose
        record another process deleted is marked 'deleted' and NotFound raised.
        """
        with self.lock:
            kind, ident = obj.KIND, obj.id
            if ident in self.unsaved[kind] and self.live[kind].get(ident) is obj:
                return
            found = self.persistence.get_versioned(kind, ident)
            if found is None:
                self._gone(kind, ident, obj)
                raise NotFound(kind, ident, 'Another process sharing this state deleted it.')
            record, version = found
            if version != obj._version:
                obj._replace_record(unredact(record, obj.record), version)
            self.live[kind][ident] = obj

    def find(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list:
        """Objects of a kind: stored records (as this process's live objects where it has them)
        plus objects loaded with save=False; live objects another process deleted are dropped."""
        return [obj for obj, _ in self.find_with_records(kind, backend, volume_id)]

    def find_with_records(self, kind: str, backend: str | None = None,
                          volume_id: str | None = None) -> list[tuple[Any, dict | None]]:
        """find() with each object's stored (redacted) record, None for objects held here only.

        Every change to a live record is saved, so a stored record is the redacted form of
        its live object's record: callers that need public records can use it as it is, but
        must not change it (it may be the store's own, Persistence.scan).
        """
        with self.lock:
            records = self.persistence.scan(kind, backend=backend, volume_id=volume_id)
            shared = type(self.persistence).scan is not Persistence.scan     # else fresh copies
            live, unsaved = self.live[kind], self.unsaved[kind]
            found: list[tuple[Any, dict | None]] = []
            add = found.append
            for r, v in records:
                obj = live.get(r['id'])
                # _wrap's answer for a live object already at the stored version, without the call
                add((obj if obj is not None and (obj._version == v or r['id'] in unsaved)
                     else self._wrap(kind, r, v, shared), r))
            listed = {r['id'] for r, _ in records}
            if self.persistence.shared:
                for ident, obj in list(self.live[kind].items()):
                    rec = obj.record
                    if (ident not in listed and ident not in self.unsaved[kind] and
                            (backend is None or rec.get('backend') == backend) and
                            (volume_id is None or rec.get('volume_id') == volume_id)):
                        self._gone(kind, ident)
            for ident in list(self.unsaved[kind]):
                obj = self.live[kind].get(ident)
                if ident in listed or obj is None or obj.record.get('status') == 'deleted':
                    continue
                rec = obj.record
                if ((backend is None or rec.get('backend') == backend) and
                        (volume_id is None or rec.get('volume_id') == volume_id)):
                    found.append((obj, None))
            return found

    def public_records(self, kind: str, backend: str | None = None) -> list[dict]:
        """The public (redacted) records of kind, as find_with_records() gives them, without
        making an object per record (DataFrames of a whole state need only the records).
        Read them only: they may be the store's own (Persistence.scan)."""
        with self.lock:
            records = [r for r, _ in self.persistence.scan(kind, backend=backend)]
            listed = {r['id'] for r in records}
            for ident in list(self.unsaved[kind]):
                obj = self.live[kind].get(ident)
                if ident in listed or obj is None or obj.record.get('status') == 'deleted':
                    continue
                if backend is None or obj.record.get('backend') == backend:
                    records.append(obj.public_record())
            return records

    # ----------------------------------------------------------- _cinder.StateProvider
    def volume_ovo(self, volume_id: str) -> Any:
        return self.get('volume', volume_id).ovo()

    def snapshot_ovo(self, snapshot_id: str) -> Any:
        return self.get('snapshot', snapshot_id).ovo()

    def volume_ovos_on_backend(self, backend: str) -> list:
        return [v.ovo() for v in self.find('volume', backend=backend)]

    def snapshot_ovos_of_volume(self, volume_id: str) -> list:
        return list(self.get('volume', volume_id).ovo().snapshots)

    def update_volume(self, volume_id: str, values: dict) -> None:
        self.get('volume', volume_id).apply_driver_update(values)

    def update_snapshot(self, snapshot_id: str, values: dict) -> None:
        self.get('snapshot', snapshot_id).apply_driver_update(values)

    def volume_record(self, volume_id: str) -> dict:
        return self.get('volume', volume_id).record

    def kv_get(self, key: str) -> Any:
        rec = self.persistence.get('kv', key)
        return rec['value'] if rec else None

    def kv_set(self, key: str, value: Any) -> None:
        self.persistence.put('kv', {'id': key, 'value': value})


class Txn:
    """One compare-and-swap in the making: the records read (at their versions) and the
    writes queued against those versions (see Runtime.transact).

    A first attempt lets a live object's own record stand in for the stored one while
    its version is known (no read: the commit's version check catches a stale copy);
    when that commit loses, or the step refuses on such a copy, transact runs the step
    again on records read from the store, so nothing is allowed or refused on stale data.
    """

    def __init__(self, rt: Runtime, fresh: bool = False) -> None:
        self.rt = rt
        #: read every record from the store (else a live object's own copy stands in for it
        #: while its version is known: the commit checks that version anyway)
        self.fresh = fresh
        #: True once a live copy stood in for a stored record
        self.optimistic = False
        #: (kind, id) -> [object, full record as read, version read (ANY: held here only)]
        self.seen: dict[tuple[str, str], list] = {}
        #: (object, full record or None to delete, expected version, a version bump only,
        #: the record changes in status, updated_at or error only)
        self.writes: list[tuple[Any, dict | None, int, bool, bool]] = []

    def read(self, obj: Any) -> dict:
        """obj's record as stored now, secrets filled in from obj (do not change it in place).

        NotFound (and obj marked deleted) when its record is gone.
        """
        key = (obj.KIND, obj.id)
        if key in self.seen:
            return self.seen[key][1]
        rt = self.rt
        kind, ident = key
        live = rt.live[kind].get(ident)
        if ident in rt.unsaved[kind] and live is obj:
            rec, version = obj.record, ANY            # held only here: its first write stores it
        elif live is obj and obj._version and not self.fresh:
            rec, version = obj.record, obj._version   # verified by the commit's version check
            self.optimistic = True
        else:
            found = rt.persistence.get_versioned(kind, ident)
            if found is None:
                rt._gone(kind, ident, obj)
                raise NotFound(kind, ident, 'Another process sharing this state deleted it.')
            stored, version = found
            rec = obj.record if version == obj._version else unredact(stored, obj.record)
        self.seen[key] = [obj, rec, version]
        return rec

    def children(self, kind: str, volume_id: str) -> list[dict]:
        """Records of a volume's snapshots or connections, as stored now (and held here only).

        Stored ones are the store's redacted records: the checks read ids, statuses and hosts.
        No live object is made or refreshed (find() does that, and walks every live object of
        the kind on a shared store: a cost per operation that grew with the state).
        """
        rt = self.rt
        records = rt.persistence.list(kind, volume_id=volume_id)
        unsaved = rt.unsaved[kind]
        if unsaved:
            listed = {r['id'] for r in records}
            for ident in unsaved:
                obj = rt.live[kind].get(ident)
                if (obj is not None and ident not in listed and obj.record.get('volume_id') == volume_id
                        and obj.record.get('status') != 'deleted'):
                    records.append(obj.record)
        return records

    def exists(self, kind: str, ident: str) -> bool:
        if ident in self.rt.live[kind] and ident in self.rt.unsaved[kind]:
            return True
        return self.rt.persistence.get_versioned(kind, ident) is not None

    def put(self, obj: Any, record: dict, status_only: bool = False) -> None:
        """Write obj's record at the version read (read() it first). ``status_only``: record
        differs from the one read in status, updated_at and error at most (a Cinder object kept
        for obj stays valid; see Resource._kept_ovo)."""
        self.writes.append((obj, record, self.seen[(obj.KIND, obj.id)][2], False, status_only))

    def bump(self, obj: Any) -> None:
        """Move obj's stored version on, its record unchanged (read() it first): what makes the
        compare-and-swap that stores a child conflict with any other write of its parent (a
        delete checking the children, say). Its updated_at stays: nothing of it changed."""
        _, rec, version = self.seen[(obj.KIND, obj.id)]
        if version == ANY or not self.rt.persistence.version_bumps:
            self.put(obj, rec, status_only=True)    # held here only (its first write stores it), or a
        else:                                       # store without bumps: the record as it is
            self.writes.append((obj, None, version, True, True))

    def insert(self, obj: Any, record: dict) -> None:
        """Store a new record; the commit fails if one with its id exists."""
        self.writes.append((obj, record, NEW, False, False))

    def delete(self, obj: Any) -> None:
        """Delete obj's record whatever its version (its storage is gone)."""
        self.writes.append((obj, None, ANY, False, False))

    def commit_writes(self) -> list[Write]:
        out = []
        for obj, record, expected, bump, _ in self.writes:
            if record is None:
                out.append(Write(obj.KIND, obj.id, None, expected, bump=bump))
                continue
            try:        # the redacted copy is the store's own (no second copy) when plain
                redacted, secrets = redact_plain(record)
                owned = True
            except NotPlain:
                (redacted, secrets), owned = redact_collect(record), False
            SCRUBBER.add(secrets)
            out.append(Write(obj.KIND, obj.id, redacted, expected, owned))
        return out

    def refresh_read(self) -> None:
        """Bring the objects read up to the records read (a stale object learns the news)."""
        for obj, rec, version in self.seen.values():
            if version != ANY and rec is not obj.record:
                obj._replace_record(rec, version)

    def applied(self, versions: list[int]) -> None:
        self.refresh_read()
        rt = self.rt
        for (obj, record, _, bump, status_only), version in zip(self.writes, versions):
            kind, ident = obj.KIND, obj.id
            rt.unsaved[kind].pop(ident, None)
            if record is None and not bump:
                rt.live[kind].pop(ident, None)
                obj._version = 0
                continue
            if record is not None and record is not obj.record:
                obj.record.clear()
                obj.record.update(record)
            if not status_only:
                obj._shape += 1
            obj._version = version
            rt.live[kind][ident] = obj


def default_state_dir() -> str:
    return os.environ.get('CINDER_NB_STATE_DIR') or os.path.join(os.getcwd(), '.cinder_nb')


_private_dir: str | None = None


def _private_state_dir() -> str:
    """This process's own state dir, removed at exit: 'memory' state lives and dies with the
    process, so its locks (and embedded() volumes without a path) need no ./.cinder_nb."""
    global _private_dir
    if _private_dir is None or not os.path.isdir(_private_dir):
        _private_dir = tempfile.mkdtemp(prefix='cinder_nb-memory-')
        atexit.register(shutil.rmtree, _private_dir, True)
    return _private_dir


def _in_process_only(persistence_config: Any) -> bool:
    from cinder_nb.persistence.memory import MemoryPersistence
    return (persistence_config == 'memory' or isinstance(persistence_config, MemoryPersistence) or
            (isinstance(persistence_config, dict) and persistence_config.get('storage') == 'memory'))


def setup(persistence_config: Any = None, state_dir: str | None = None, debug: bool = False,
          secrets: dict | None = None, coordination_url: str | None = None) -> Runtime:
    """Global set-up: persistence, Cinder configuration, locks. Calling it again starts afresh.

    ``persistence_config``: None (SQLite file in the state dir), 'memory', a URL
    (sqlite:///..., postgresql://...) or a dict (see cinder_nb.persistence.create).
    ``state_dir``: where locks and the default database live (default ./.cinder_nb or
    $CINDER_NB_STATE_DIR; with 'memory' persistence a private temp dir removed at exit, as
    the state itself is). Backends created before are dropped from this process.
    ``secrets``: ``{backend: {option: value}}`` for reopening stored backends (see
    cinder_nb._credentials for the environment and keyring fallbacks).
    ``coordination_url``: a tooz URL (``postgresql://user@host:port/db``, ...) for the
    locks Cinder's drivers and cinder_nb take, shared by every host on one state; the
    default (None) is file locks in ``<state_dir>/locks``, which serve one host only.
    """
    if secrets is not None and (not isinstance(secrets, dict) or
                                not all(isinstance(v, dict) for v in secrets.values())):
        raise InvalidArgument('secrets', '...', '{backend_name: {option: value}}')
    global _runtime
    _check_coordination_url(coordination_url)
    if state_dir is None and not os.environ.get('CINDER_NB_STATE_DIR') and _in_process_only(persistence_config):
        state_dir = _private_state_dir()
    state_dir = os.path.abspath(state_dir or default_state_dir())
    os.makedirs(state_dir, exist_ok=True)
    store = persistence_mod.create(persistence_config, state_dir)
    with _lock:
        old = _runtime
        new = Runtime(store, state_dir, secrets)
        failure = None
        try:
            _cinder.initialize(state_dir, new, debug=debug, coordination_url=coordination_url)
        except Exception as exc:
            # the message of a failed connection may quote the URL's password: scrub it
            failure = SCRUBBER.scrub(f'{type(exc).__name__}: {exc}')
            password = urllib.parse.urlsplit(coordination_url or '').password
            if password:
                failure = failure.replace(password, '***')
        if failure is not None:     # raised outside the except: no __context__ holding the URL
            store.close()
            raise PersistenceError(f'The lock service at {mask_url(coordination_url or "")} cannot be '
                                   f'used: {failure[:500]}. Check the URL and that the service runs; '
                                   'the previous set-up stays in force.')
        _runtime = new
        SCRUBBER.install()
        if old is not None:
            for backend in list(old.backends.values()):   # dropped: free their idle connections
                _cinder.release_driver(backend.driver)
            old.persistence.close()
    return _runtime


def mask_url(url: str) -> str:
    """url with its password (if any) replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit('@', 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=f'{parts.username}:***@{netloc[-1]}'))


def _check_coordination_url(url: Any) -> None:
    if url is None:
        return
    if not isinstance(url, str):
        raise InvalidArgument('coordination_url', type(url).__name__,
                              "a tooz URL string such as 'postgresql://user@host:5432/db', or None")
    scheme = url.split('://', 1)[0] if '://' in url else ''
    from importlib.metadata import entry_points
    known = sorted({ep.name for ep in entry_points(group='tooz.backends')})
    if scheme not in known:
        raise InvalidArgument('coordination_url', mask_url(url)[:80],
                              f"a tooz URL; scheme one of {', '.join(known)}")


def get() -> Runtime:
    """The current runtime; runs setup() with defaults on first use."""
    with _lock:
        if _runtime is None:
            setup()
        return _runtime  # type: ignore[return-value]


def is_setup() -> bool:
    return _runtime is not None
