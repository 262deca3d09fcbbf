"""The replacement of Cinder's database API: answers from cinder_nb's state, through a StateProvider.

Cinder modules call cinder.db.api.<function> at call time; the functions drivers need are
answered from cinder_nb's records (asked through the ``StateProvider`` the core registers
with ``set_provider``), every other one raises UnsupportedDBCall instead of touching SQL.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from cinder_nb._cinder.base import CinderException, cinder_exception, cinder_objects, db_api
from cinder_nb._cinder.ovo import volume_type_dict


class StateProvider(Protocol):
    """What the DB replacement asks the core for (implemented by cinder_nb._runtime)."""

    def volume_ovo(self, volume_id: str) -> Any: ...
    def snapshot_ovo(self, snapshot_id: str) -> Any: ...
    def volume_ovos_on_backend(self, backend: str) -> list: ...
    def snapshot_ovos_of_volume(self, volume_id: str) -> list: ...
    def update_volume(self, volume_id: str, values: dict) -> None: ...
    def update_snapshot(self, snapshot_id: str, values: dict) -> None: ...
    def volume_record(self, volume_id: str) -> dict: ...
    def kv_get(self, key: str) -> Any: ...
    def kv_set(self, key: str, value: Any) -> None: ...


_provider: StateProvider | None = None


def set_provider(provider: StateProvider) -> None:
    """Answer Cinder's database calls from ``provider`` from now on."""
    global _provider
    _provider = provider


class UnsupportedDBCall(CinderException):
    message = ("cinder_nb has no database: the driver called cinder.db.%(name)s, which "
               "cinder_nb does not provide. Please report the driver and operation.")


def _p() -> StateProvider:
    if _provider is None:
        raise RuntimeError('cinder_nb.setup() has not run')
    return _provider


def _volume_get(ctxt, volume_id, *a, **kw):
    return _p().volume_ovo(volume_id)


def _volume_update(ctxt, volume_id, values, *a, **kw):
    _p().update_volume(volume_id, dict(values))
    return _p().volume_ovo(volume_id)


def _volume_get_all_by_host(ctxt, host, filters=None):
    backend = host.split('#')[0].split('@')[-1]
    return _p().volume_ovos_on_backend(backend)


def _snapshot_get(ctxt, snapshot_id, *a, **kw):
    return _p().snapshot_ovo(snapshot_id)


def _snapshot_update(ctxt, snapshot_id, values, *a, **kw):
    _p().update_snapshot(snapshot_id, dict(values))
    return _p().snapshot_ovo(snapshot_id)


def _snapshot_get_all_for_volume(ctxt, volume_id, *a, **kw):
    return _p().snapshot_ovos_of_volume(volume_id)


def _snapshot_get_latest_for_volume(ctxt, volume_id, *a, **kw):
    snaps = _p().snapshot_ovos_of_volume(volume_id)
    if not snaps:
        raise cinder_exception.VolumeSnapshotNotFound(volume_id=volume_id)
    return max(snaps, key=lambda s: s.created_at)


def _metadata_get(field):
    def get(ctxt, volume_id, *a, **kw):
        return dict(_p().volume_record(volume_id).get(field) or {})
    return get


def _metadata_update(field):
    def update(ctxt, volume_id, metadata, delete, *a, **kw):
        current = {} if delete else dict(_p().volume_record(volume_id).get(field) or {})
        current.update(metadata)
        _p().update_volume(volume_id, {field: current})
        return current
    return update


def _metadata_delete(field):
    def delete(ctxt, volume_id, key, *a, **kw):
        current = dict(_p().volume_record(volume_id).get(field) or {})
        current.pop(key, None)
        _p().update_volume(volume_id, {field: current})
    return delete


def _volume_type_get(ctxt, type_id, *a, **kw):
    rec = _p().volume_record(type_id)   # a volume's private type has the volume's id
    return volume_type_dict(rec)


def _volume_type_extra_specs_get(ctxt, type_id, *a, **kw):
    return dict(_p().volume_record(type_id).get('extra_specs') or {})


def _qos_specs_get(ctxt, qos_id, *a, **kw):
    rec = _p().volume_record(qos_id)
    return {'id': qos_id, 'name': qos_id, 'consumer': 'back-end',
            'specs': dict(rec.get('qos_specs') or {})}


def _glance_metadata_get(ctxt, volume_id, *a, **kw):
    raise cinder_exception.GlanceMetadataNotFound(id=volume_id)


def _initiator_data_get(ctxt, initiator, namespace):
    return [{'key': k, 'value': v} for k, v in
            (_p().kv_get(f'initiator:{namespace}:{initiator}') or {}).items()]


def _initiator_data_insert(ctxt, initiator, namespace, key, value):
    data = _p().kv_get(f'initiator:{namespace}:{initiator}') or {}
    if key in data:
        return False
    data[key] = value
    _p().kv_set(f'initiator:{namespace}:{initiator}', data)
    return True


_DB_FUNCTIONS: dict[str, Callable] = {
    'volume_get': _volume_get,
    'volume_update': _volume_update,
    'volume_get_all_by_host': _volume_get_all_by_host,
    'snapshot_get': _snapshot_get,
    'snapshot_update': _snapshot_update,
    'snapshot_get_all_for_volume': _snapshot_get_all_for_volume,
    'snapshot_get_latest_for_volume': _snapshot_get_latest_for_volume,
    'volume_metadata_get': _metadata_get('metadata'),
    'volume_metadata_update': _metadata_update('metadata'),
    'volume_metadata_delete': _metadata_delete('metadata'),
    'volume_admin_metadata_get': _metadata_get('admin_metadata'),
    'volume_admin_metadata_update': _metadata_update('admin_metadata'),
    'volume_admin_metadata_delete': _metadata_delete('admin_metadata'),
    'volume_type_get': _volume_type_get,
    'volume_type_extra_specs_get': _volume_type_extra_specs_get,
    'qos_specs_get': _qos_specs_get,
    'volume_glance_metadata_get': _glance_metadata_get,
    'image_volume_cache_get_by_volume_id': lambda ctxt, volume_id: None,
    'driver_initiator_data_get': _initiator_data_get,
    'driver_initiator_data_insert_by_key': _initiator_data_insert,
    'volume_attachment_get_all_by_volume_id': lambda ctxt, volume_id, *a, **kw:
        list(_p().volume_ovo(volume_id).volume_attachment),
}


def _unsupported(name: str) -> Callable:
    def call(*args, **kwargs):
        raise UnsupportedDBCall(name=name)
    call.__name__ = name
    return call


def replace_db_api() -> None:
    # Cinder modules call cinder.db.api.<function> at call time; there is no database
    # here, so every public function is replaced: ours answer from cinder_nb's state,
    # every other one raises a clear UnsupportedDBCall instead of touching SQL.
    for name in dir(db_api):
        obj = getattr(db_api, name)
        if name.startswith('_') or not callable(obj) or isinstance(obj, type):
            continue
        if getattr(obj, '__module__', None) != db_api.__name__:
            continue
        setattr(db_api, name, _DB_FUNCTIONS.get(name) or _unsupported(name))


def patch_object_lookups() -> None:
    # Volume/Snapshot.get_by_id go through a SQLAlchemy model lookup; answer from our state.
    cinder_objects.Volume.get_by_id = classmethod(lambda cls, ctxt, id, *a, **kw: _p().volume_ovo(id))
    cinder_objects.Snapshot.get_by_id = classmethod(lambda cls, ctxt, id, *a, **kw: _p().snapshot_ovo(id))
    # SnapshotList.get_all_for_volume makes each item with Snapshot._from_db_object, which reads
    # a SQLAlchemy row (its snapshot_metadata list) and raised MetadataAbsent on ours; a driver
    # calls it (hitachi's hbsd_rest), and so does Volume.obj_load_attr('snapshots')
    cinder_objects.SnapshotList.get_all_for_volume = classmethod(
        lambda cls, ctxt, volume_id, *a, **kw: cls(context=ctxt, objects=_p().snapshot_ovos_of_volume(volume_id)))

