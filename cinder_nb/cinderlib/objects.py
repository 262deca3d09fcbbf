"""cinderlib's Volume, Snapshot, Connection and KeyValue as views of cinder_nb's objects."""
from __future__ import annotations

import json as json_lib
from typing import Any

from cinder_nb import _loop, _runtime, _validation
from cinder_nb.cinderlib import _views
from cinder_nb.cinderlib.exception import NotLocal
from cinder_nb._statuses import CONNECTION_STATUSES, SNAPSHOT_STATUSES, VOLUME_STATUSES
from cinder_nb.connection import Connection as _Connection
from cinder_nb.errors import InvalidArgument, InvalidState, NotFound
from cinder_nb.snapshot import Snapshot as _Snapshot
from cinder_nb.volume import Volume as _Volume

GB = 1024 ** 3
DEFAULT_PROJECT_ID = 'cinderlib'
DEFAULT_USER_ID = 'cinderlib'

#: keyword arguments cinder_nb's create calls take (cinderlib took any OVO field)
_CREATE_ARGS = frozenset({'id', 'name', 'description', 'pool_name', 'extra_specs', 'qos_specs',
                          'metadata', 'multiattach', 'bootable', 'size'})


def create_args(kwargs: dict) -> dict:
    """Keep the arguments cinder_nb understands; reject other OVO fields by name."""
    unknown = sorted(set(kwargs) - _CREATE_ARGS)
    if unknown:
        raise InvalidArgument(unknown[0], kwargs[unknown[0]],
                              f'one of the supported fields {sorted(_CREATE_ARGS)}; cinder_nb '
                              'does not take arbitrary Cinder OVO fields')
    return kwargs


#: connection ids this process attached with attach(): their device is ours to detach
_attached_here: set[str] = set()


class _Resource(_views.View):
    """What the three resource views share."""

    STATUSES: tuple[str, ...] = ()
    _KIND: str | None = None

    @property
    def backend(self):
        return _views.wrap(self._core.backend)

    @property
    def deleted(self) -> bool:
        """True once the resource is deleted (cinderlib's OVO field)."""
        return self._core.status == 'deleted'

    @property
    def _ovo(self) -> _views.OvoView:
        return _views.OvoView(self, self.STATUSES)

    def refresh(self) -> None:
        """Read the resource again from the state store (another process may have changed it)."""
        self._core.refresh()

    def save(self) -> None:
        """Nothing to do: cinder_nb writes every change when it happens."""

    # cinderlib's serialization names; the format is cinder_nb's versioned JSON
    @property
    def json(self) -> dict:
        return json_lib.loads(self._core.dumps())

    dump = json

    def to_json(self, simplified: bool = True) -> dict:
        return self.json

    @property
    def jsons(self) -> str:
        return self._core.dumps()

    dumps = jsons

    def to_jsons(self, simplified: bool = True) -> str:
        return self.jsons

    def to_dict(self) -> dict:
        return self._core.to_dict()

    #: set by cinder_nb.cinderlib.serialization (which imports this module)
    _loader: Any = None

    @classmethod
    def load(cls, json_src: Any, save: bool = False):
        """Load a document written by dumps (cinder_nb's or cinderlib 5.2's format)."""
        return _Resource._loader(json_src, save=save, kind=cls._KIND)


@_views.register(_Volume)
class Volume(_Resource):
    """cinderlib's Volume on a cinder_nb volume."""

    STATUSES = VOLUME_STATUSES
    _KIND = 'volume'

    def _ovo_object(self) -> Any:
        return self._core.ovo()

    @property
    def snapshots(self) -> list:
        return _views.wrap_all(self._core.snapshots)

    @property
    def connections(self) -> list:
        return _views.wrap_all(self._core.connections)

    @property
    def local_attach(self):
        return _views.wrap(self._core.local_attach)

    @classmethod
    def get_by_id(cls, volume_id: str) -> 'Volume':
        """The volume with this id (NotFound if there is none)."""
        return _views.wrap(_Volume.get_by_id(volume_id))

    @classmethod
    def get_by_name(cls, volume_name: str) -> list:
        """Every volume with this name (a list, as in cinderlib)."""
        return _views.wrap_all(_Volume.get_by_name(volume_name))

    def create(self) -> None:
        raise InvalidState('volume', self._core.id, self._core.status, 'create',
                           'It exists already; create volumes with Backend.create_volume().')

    def delete(self) -> None:
        self._core.delete()

    def extend(self, size: int) -> int:
        """Grow to size GiB; returns the new size in bytes (as an attached device sees it)."""
        self._core.extend(size)
        local = self._core.local_attach
        if local is not None and local.path:
            return _loop.device_bytes(local.path)
        return size * GB

    def clone(self, **new_vol_attrs: Any) -> 'Volume':
        return _views.wrap(self._core.clone(**create_args(new_vol_attrs)))

    def create_snapshot(self, name: str = '', description: str = '', **kwargs: Any) -> 'Snapshot':
        if kwargs:
            key = sorted(kwargs)[0]
            raise InvalidArgument(key, kwargs[key], 'name, description or metadata')
        return _views.wrap(self._core.create_snapshot(name=name, description=description))

    def attach(self) -> 'Connection':
        conn = self._core.attach()
        _attached_here.add(conn.id)
        return _views.wrap(conn)

    def detach(self, force: bool = False, ignore_errors: bool = False) -> None:
        """Detach the local attach and disconnect it."""
        if self._core.local_attach is None:
            raise NotLocal(self._core.id)
        self._core.detach(force=force or ignore_errors)

    def connect(self, connector_dict: dict, **ovo_fields: Any) -> 'Connection':
        mode = ovo_fields.pop('attach_mode', 'rw')
        if ovo_fields:
            key = sorted(ovo_fields)[0]
            raise InvalidArgument(key, ovo_fields[key], 'attach_mode (the only connection field '
                                  'cinder_nb takes)')
        return _views.wrap(self._core.connect(connector_dict, attach_mode=mode))

    def disconnect(self, connection: 'Connection', force: bool = False) -> None:
        conn = _views.unwrap(connection)
        if not isinstance(conn, _Connection) or conn.volume_id != self._core.id:
            raise InvalidArgument('connection', connection, f'a connection of volume {self._core.id}')
        _views.wrap(conn).disconnect(force=force)

    def cleanup(self) -> None:
        """Detach the local attach and disconnect every connection of the volume."""
        for conn in self.connections:
            if conn.attached:
                conn.detach()
            conn.disconnect()


@_views.register(_Snapshot)
class Snapshot(_Resource):
    """cinderlib's Snapshot on a cinder_nb snapshot."""

    STATUSES = SNAPSHOT_STATUSES
    _KIND = 'snapshot'

    def _ovo_object(self) -> Any:
        return self._core.ovo()

    @property
    def volume(self) -> Volume:
        return _views.wrap(self._core.volume)

    @classmethod
    def get_by_id(cls, snapshot_id: str) -> 'Snapshot':
        return _views.wrap(_Snapshot.get_by_id(snapshot_id))

    @classmethod
    def get_by_name(cls, snapshot_name: str) -> list:
        return _views.wrap_all(_Snapshot.get_by_name(snapshot_name))

    def delete(self) -> None:
        self._core.delete()

    def create_volume(self, **new_vol_params: Any) -> Volume:
        return _views.wrap(self._core.create_volume(**create_args(new_vol_params)))


@_views.register(_Connection)
class Connection(_Resource):
    """cinderlib's Connection on a cinder_nb connection.

    ``connection_info`` has cinderlib's shape ``{'conn': ..., 'connector': ...,
    'device': ...}``; ``conn_info`` is the driver's connection info and
    ``connector_info`` the connector dict; ``connector`` is the os-brick connector.
    """

    STATUSES = CONNECTION_STATUSES
    _KIND = 'connection'

    def _ovo_object(self) -> Any:
        for ovo in self._core.volume.ovo().volume_attachment:
            if ovo.id == self._core.id:
                return ovo
        raise AttributeError('the connection is no longer recorded')

    @property
    def volume(self) -> Volume:
        return _views.wrap(self._core.volume)

    @property
    def conn_info(self) -> dict:
        return self._core.connection_info or {}

    @property
    def connector_info(self) -> dict:
        return self._core.connector

    @property
    def connection_info(self) -> dict:
        return {'conn': self.conn_info, 'connector': self._core.connector, 'device': self._core.device}

    @property
    def connector(self) -> Any:
        """The os-brick connector for this connection's protocol."""
        return self._core._brick() if self._core.connection_info else None

    @property
    def attached(self) -> bool:
        return self._core.attached

    @property
    def connected(self) -> bool:
        return bool(self._core.connection_info) and self._core.status != 'deleted'

    @classmethod
    def connect(cls, volume: Volume, connector: dict, **kwargs: Any) -> 'Connection':
        return volume.connect(connector, **kwargs)

    @classmethod
    def get_by_id(cls, connection_id: str) -> 'Connection':
        return _views.wrap(_Connection.get_by_id(connection_id))

    def attach(self) -> None:
        """Attach this (not attached) connection here through os-brick."""
        if self._core.attached:
            raise InvalidState('connection', self._core.id, self._core.status, 'attach',
                               'It is attached already.')
        self._core._attach_local()
        _attached_here.add(self._core.id)

    def device_attached(self, device: dict) -> None:
        """Record the device a caller attached itself (os-brick's connect_volume() result)."""
        if not isinstance(device, dict) or not isinstance(device.get('path'), str) or not device['path']:
            raise InvalidArgument('device', device, "os-brick's device dict with a non-empty 'path'")
        if self._core.status != 'attached':
            raise InvalidState('connection', self._core.id, self._core.status, 'record a device for')
        self._core._set(device=dict(device))

    def detach(self, force: bool = False, ignore_errors: bool = False, exc: Any = None) -> None:
        """Detach the local device; the connection stays until disconnect() (as in cinderlib)."""
        if not self._core.attached:
            raise NotLocal(self._core.volume_id)
        self._core.detach(force=force or ignore_errors, disconnect=False)
        _attached_here.discard(self._core.id)

    def disconnect(self, force: bool = False) -> None:
        """Terminate the export. A device recorded with device_attached() is the caller's
        (cinderlib never checked it): it is forgotten. A device this process attached must be
        detached first (cinderlib left it dangling)."""
        core = self._core
        if core.attached and (core.id not in _attached_here or force):
            if core.id in _attached_here:
                core.detach(force=True, disconnect=False)
                _attached_here.discard(core.id)
            else:
                core._set(device=None)
        core.disconnect(force=force)

    def extend(self) -> int:
        """Make the attached device see the volume's size; returns it in bytes."""
        return self._core.extend()


class KeyValue:
    """A key and a JSON-able value, stored with the state (cinderlib's KeyValue)."""

    def __init__(self, key: str | None = None, value: Any = None) -> None:
        self.key = key
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyValue) and (self.key, self.value) == (other.key, other.value)

    def __repr__(self) -> str:
        return f'KeyValue({self.key!r}, {self.value!r})'


class Persistence:
    """cinderlib's ``Backend.persistence`` lookups over cinder_nb's state store."""

    @staticmethod
    def _one_or_all(kind: str, ident: str | None, **filters: Any) -> list:
        rt = _runtime.get()
        if ident is not None:
            _validation.text(f'{kind}_id', ident, allow_none=False, max_len=255)
            try:
                objs = [rt.get(kind, ident)]
            except NotFound:
                return []
            objs = [o for o in objs if all(v is None or getattr(o, k, None) == v
                                           for k, v in filters.items())]
        else:
            objs = rt.find(kind, backend=filters.pop('backend_name', None),
                           volume_id=filters.pop('volume_id', None))
        return _views.wrap_all(objs)

    def get_volumes(self, volume_id: str | None = None, volume_name: str | None = None,
                    backend_name: str | None = None) -> list:
        vols = self._one_or_all('volume', volume_id, backend_name=backend_name)
        if volume_id is not None and backend_name is not None:
            vols = [v for v in vols if v._core.backend_name == backend_name]
        return [v for v in vols if volume_name is None or v._core.name == volume_name]

    def get_snapshots(self, snapshot_id: str | None = None, snapshot_name: str | None = None,
                      volume_id: str | None = None) -> list:
        snaps = self._one_or_all('snapshot', snapshot_id, volume_id=volume_id)
        return [s for s in snaps if snapshot_name is None or s._core.name == snapshot_name]

    def get_connections(self, connection_id: str | None = None, volume_id: str | None = None) -> list:
        return self._one_or_all('connection', connection_id, volume_id=volume_id)

    def get_key_values(self, key: str | None = None) -> list[KeyValue]:
        store = _runtime.get().persistence
        if key is not None:
            _validation.text('key', key, allow_none=False, max_len=255)
            rec = store.get('kv', key)
            return [KeyValue(rec['id'], rec['value'])] if rec else []
        return [KeyValue(r['id'], r['value']) for r in store.list('kv')]

    def set_key_value(self, key_value: KeyValue) -> None:
        if not isinstance(key_value, KeyValue):
            raise InvalidArgument('key_value', key_value, 'a cinderlib.KeyValue')
        _validation.text('key', key_value.key, allow_none=False, max_len=255)
        try:
            json_lib.dumps(key_value.value)
        except (TypeError, ValueError):
            raise InvalidArgument('value', key_value.value, 'a JSON-able value') from None
        _runtime.get().persistence.put('kv', {'id': key_value.key, 'value': key_value.value})

    def delete_key_value(self, key_value: KeyValue) -> None:
        key = key_value.key if isinstance(key_value, KeyValue) else key_value
        _validation.text('key', key, allow_none=False, max_len=255)
        _runtime.get().persistence.delete('kv', key)

    # cinderlib's plugins stored each change when told to; cinder_nb already did
    def set_volume(self, volume: Any) -> None:
        """Nothing to do: cinder_nb writes every change when it happens."""

    set_snapshot = set_connection = set_volume

    def __repr__(self) -> str:
        return f'<cinderlib persistence on {_runtime.get().persistence!r}>'


persistence = Persistence()
for _cls in (Volume, Snapshot, Connection):
    _cls.persistence = persistence  # type: ignore[attr-defined,union-attr]
