"""Global set-up and the in-process registry of backends and resources.

The registry holds the live objects with their full records (secrets included):
it is the private store. Persistence only ever receives redacted copies.
"""
from __future__ import annotations

import os
import threading
import urllib.parse
from typing import Any, Callable

from cinder_nb import _cinder, persistence as persistence_mod
from cinder_nb.errors import InvalidArgument, NotFound, PersistenceError
from cinder_nb.persistence.base import Persistence
from cinder_nb.secrets import SCRUBBER, redact_collect, unredact

_lock = threading.RLock()
_runtime: 'Runtime | None' = None

#: opens a stored backend by name (set by cinder_nb.backend, which this layer must not import)
BACKEND_OPENER: Callable[[str, 'dict | None'], Any] | None = None


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
        if BACKEND_OPENER is None or self.persistence.get('backend', name) is None:
            raise NotFound('backend', name,
                           'Create it with cinder_nb.Backend(...) or load a state that holds its '
                           'configuration.')
        # not under self.lock: a starting driver may call Cinder's DB API, which takes it
        return BACKEND_OPENER(name, secrets if secrets is not None else self.secrets)

    def stored_backend_names(self) -> list[str]:
        """Names of the backends whose configuration the store holds."""
        return [r['id'] for r in self.persistence.list('backend')]

    # ----------------------------------------------------------- records <-> objects
    def _classes(self):
        from cinder_nb.connection import Connection
        from cinder_nb.snapshot import Snapshot
        from cinder_nb.volume import Volume
        return {'volume': Volume, 'snapshot': Snapshot, 'connection': Connection}

    def register(self, obj: Any, saved: bool = False) -> None:
        """Make obj live in this process; saved=False marks it as held here only (load(save=False))."""
        with self.lock:
            self.live[obj.KIND][obj.id] = obj
            if saved:
                self.unsaved[obj.KIND].pop(obj.id, None)
            else:
                self.unsaved[obj.KIND][obj.id] = None

    def save(self, obj: Any) -> None:
        """Write the object's redacted record; keep the full one in the live registry.

        An object this process knows to be stored is only updated, never re-inserted:
        if another process deleted it meanwhile, it is dropped here and NotFound raised.
        """
        with self.lock:
            kind, ident = obj.KIND, obj.id
            known = ident in self.live[kind] and ident not in self.unsaved[kind]
            record, secrets = redact_collect(obj.record)
            SCRUBBER.add(secrets)
            if known:
                if not self.persistence.update(kind, record):
                    self._gone(kind, ident)
                    raise NotFound(kind, ident, 'Another process sharing this state deleted it.')
            else:
                self.persistence.put(kind, record)
            self.live[kind][ident] = obj
            self.unsaved[kind].pop(ident, None)

    def forget(self, obj: Any) -> None:
        with self.lock:
            self.live[obj.KIND].pop(obj.id, None)
            self.unsaved[obj.KIND].pop(obj.id, None)
            self.persistence.delete(obj.KIND, obj.id)

    def _gone(self, kind: str, ident: str) -> None:
        """A live object whose record another process deleted: drop it, mark it deleted."""
        obj = self.live[kind].pop(ident, None)
        if obj is not None:
            obj.record['status'] = 'deleted'

    def _wrap(self, kind: str, record: dict) -> Any:
        """The live object for a stored record (refreshed if another process changed it)."""
        live = self.live[kind].get(record['id'])
        if live is not None:
            if record['id'] not in self.unsaved[kind] and live.record.get('updated_at') != record.get('updated_at'):
                merged = unredact(record, live.record)
                live.record.clear()
                live.record.update(merged)
            return live
        obj = self._classes()[kind](record)
        self.live[kind][obj.id] = obj
        return obj

    def get(self, kind: str, ident: str) -> Any:
        with self.lock:
            obj = self.live[kind].get(ident)
            if obj is not None and (ident in self.unsaved[kind] or not self.persistence.shared):
                return obj
            record = self.persistence.get(kind, ident)
            if record is None:
                if obj is not None:
                    self._gone(kind, ident)
                    raise NotFound(kind, ident, 'Another process sharing this state deleted it.')
                raise NotFound(kind, ident)
            return self._wrap(kind, record)

    def refresh(self, obj: Any) -> None:
        """Re-read a live object's record from the store (secrets kept from the live record).

        An object held only in this process (load(save=False)) is left as it is; one whose
        record another process deleted is marked 'deleted' and NotFound raised.
        """
        with self.lock:
            kind, ident = obj.KIND, obj.id
            if ident in self.unsaved[kind] and self.live[kind].get(ident) is obj:
                return
            record = self.persistence.get(kind, ident)
            if record is None:
                self._gone(kind, ident)
                obj.record['status'] = 'deleted'
                raise NotFound(kind, ident, 'It was deleted (by this or another process sharing this state).')
            merged = unredact(record, obj.record)
            obj.record.clear()
            obj.record.update(merged)
            self.live[kind][ident] = obj

    def find(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list:
        """Objects of a kind: stored records (as this process's live objects where it has them)
        plus objects loaded with save=False; live objects another process deleted are dropped."""
        return [obj for obj, _ in self.find_with_records(kind, backend, volume_id)]

    def find_with_records(self, kind: str, backend: str | None = None,
                          volume_id: str | None = None) -> list[tuple[Any, dict | None]]:
        """find() with each object's stored (redacted) record, None for objects held here only.

        Every change to a live record is saved, so a stored record is the redacted form of
        its live object's record: callers that need public records can use it as it is.
        """
        with self.lock:
            records = self.persistence.list(kind, backend=backend, volume_id=volume_id)
            found: list[tuple[Any, dict | None]] = [(self._wrap(kind, r), r) for r in records]
            listed = {r['id'] for r in records}
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


def default_state_dir() -> str:
    return os.environ.get('CINDER_NB_STATE_DIR') or os.path.join(os.getcwd(), '.cinder_nb')


def setup(persistence_config: Any = None, state_dir: str | None = None, debug: bool = False,
          secrets: dict | None = None, coordination_url: str | None = None) -> Runtime:
    """Global set-up: persistence, Cinder configuration, locks. Calling it again starts afresh.

    ``persistence_config``: None (SQLite file in the state dir), 'memory', a URL
    (sqlite:///..., postgresql://...) or a dict (see cinder_nb.persistence.create).
    ``state_dir``: where locks and the default database live (default ./.cinder_nb or
    $CINDER_NB_STATE_DIR). Backends created before are dropped from this process.
    ``secrets``: ``{backend: {option: value}}`` for reopening stored backends (see
    cinder_nb.credentials for the environment and keyring fallbacks).
    ``coordination_url``: a tooz URL (``postgresql://user@host:port/db``, ...) for the
    locks Cinder's drivers and cinder_nb take, shared by every host on one state; the
    default (None) is file locks in ``<state_dir>/locks``, which serve one host only.
    """
    if secrets is not None and (not isinstance(secrets, dict) or
                                not all(isinstance(v, dict) for v in secrets.values())):
        raise InvalidArgument('secrets', '...', '{backend_name: {option: value}}')
    global _runtime
    _check_coordination_url(coordination_url)
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
