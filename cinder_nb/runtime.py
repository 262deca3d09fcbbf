"""Global set-up and the in-process registry of backends and resources.

The registry holds the live objects with their full records (secrets included):
it is the private store. Persistence only ever receives redacted copies.
"""
from __future__ import annotations

import os
import threading
from typing import Any

from cinder_nb import _cinder, persistence as persistence_mod
from cinder_nb.errors import NotFound
from cinder_nb.persistence.base import Persistence
from cinder_nb.secrets import SCRUBBER

_lock = threading.RLock()
_runtime: 'Runtime | None' = None


class Runtime:
    """One process's cinder_nb state: persistence, backends and the live objects."""

    def __init__(self, store: Persistence, state_dir: str) -> None:
        self.persistence = store
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self.backends: dict[str, Any] = {}
        self.live: dict[str, dict[str, Any]] = {'volume': {}, 'snapshot': {}, 'connection': {}}

    # ----------------------------------------------------------- records <-> objects
    def _classes(self):
        from cinder_nb.connection import Connection
        from cinder_nb.snapshot import Snapshot
        from cinder_nb.volume import Volume
        return {'volume': Volume, 'snapshot': Snapshot, 'connection': Connection}

    def register(self, obj: Any) -> None:
        with self.lock:
            self.live[obj.KIND][obj.id] = obj

    def save(self, obj: Any) -> None:
        """Write the object's redacted record; keep the full one in the live registry."""
        with self.lock:
            self.live[obj.KIND][obj.id] = obj
            self.persistence.put(obj.KIND, obj.public_record())
            SCRUBBER.add(obj.secret_values())

    def forget(self, obj: Any) -> None:
        with self.lock:
            self.live[obj.KIND].pop(obj.id, None)
            self.persistence.delete(obj.KIND, obj.id)

    def _wrap(self, kind: str, record: dict) -> Any:
        live = self.live[kind].get(record['id'])
        if live is not None:
            return live
        obj = self._classes()[kind](record)
        self.live[kind][obj.id] = obj
        return obj

    def get(self, kind: str, ident: str) -> Any:
        with self.lock:
            obj = self.live[kind].get(ident)
            if obj is not None:
                return obj
            record = self.persistence.get(kind, ident)
            if record is None:
                raise NotFound(kind, ident)
            return self._wrap(kind, record)

    def find(self, kind: str, backend: str | None = None, volume_id: str | None = None) -> list:
        """Objects of a kind from persistence, as the live objects where this process has them."""
        with self.lock:
            records = self.persistence.list(kind, backend=backend, volume_id=volume_id)
            return [self._wrap(kind, r) for r in records]

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


def setup(persistence_config: Any = None, state_dir: str | None = None, debug: bool = False) -> Runtime:
    """Global set-up: persistence, Cinder configuration, locks. Calling it again starts afresh.

    ``persistence_config``: None (SQLite file in the state dir), 'memory', a URL
    (sqlite:///..., postgresql://...) or a dict (see cinder_nb.persistence.create).
    ``state_dir``: where locks and the default database live (default ./.cinder_nb or
    $CINDER_NB_STATE_DIR). Backends created before are dropped from this process.
    """
    global _runtime
    state_dir = os.path.abspath(state_dir or default_state_dir())
    os.makedirs(state_dir, exist_ok=True)
    store = persistence_mod.create(persistence_config, state_dir)
    with _lock:
        old = _runtime
        _runtime = Runtime(store, state_dir)
        _cinder.initialize(state_dir, _runtime, debug=debug)
        SCRUBBER.install()
        if old is not None:
            old.persistence.close()
    return _runtime


def get() -> Runtime:
    """The current runtime; runs setup() with defaults on first use."""
    with _lock:
        if _runtime is None:
            setup()
        return _runtime  # type: ignore[return-value]


def is_setup() -> bool:
    return _runtime is not None
