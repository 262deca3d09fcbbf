"""Cinder versioned objects (Volume, Snapshot, VolumeAttachment) built from cinder_nb's plain records."""
from __future__ import annotations

import datetime
import functools
from typing import Any, Iterable

from cinder_nb._cinder.base import HOST, PROJECT_ID, USER_ID, cinder_objects, context, ovo_base

_VOLUME_DEFAULTS = {
    'user_id': USER_ID, 'project_id': PROJECT_ID, 'availability_zone': 'nova',
    'attach_status': 'detached', 'deleted': False, 'bootable': False,
    'multiattach': False, 'use_quota': True, 'encryption_key_id': None,
    'consistencygroup_id': None, 'consistencygroup': None, 'group_id': None, 'group': None,
    'migration_status': None, 'replication_status': None, 'cluster_name': None,
    'glance_metadata': {}, 'volume_glance_metadata': [], 'metadata': {}, 'admin_metadata': {},
}

_SNAPSHOT_DEFAULTS = {
    'metadata': {}, 'user_id': USER_ID, 'project_id': PROJECT_ID, 'progress': '100%', 'deleted': False,
    'encryption_key_id': None, 'cgsnapshot_id': None, 'cgsnapshot': None, 'group_snapshot_id': None,
    'group_snapshot': None, 'use_quota': True,
}

#: model-update keys a driver may return that we keep verbatim with the resource
VOLUME_DRIVER_FIELDS = frozenset(
    k for k in cinder_objects.Volume.fields
    if k.startswith('provider_') or k in ('replication_driver_data', 'replication_status',
                                           'shared_targets', 'service_uuid', 'bootable'))
SNAPSHOT_DRIVER_FIELDS = frozenset(
    k for k in cinder_objects.Snapshot.fields if k.startswith('provider_') or k == 'progress')


def host_of(backend: str, pool: str | None) -> str:
    return f'{HOST}@{backend}#{pool or backend}'


def volume_type_dict(rec: dict) -> dict | None:
    if not rec.get('extra_specs') and not rec.get('qos_specs'):
        return None
    return {'id': rec['id'], 'name': f"cinder_nb-{rec['id']}", 'extra_specs': dict(rec.get('extra_specs') or {}),
            'qos_specs_id': rec['id'] if rec.get('qos_specs') else None, 'is_public': True,
            'description': None, 'deleted': False}


def _volume_type_ovo(rec: dict, ctxt) -> Any:
    qos = None
    if rec.get('qos_specs'):
        qos = cinder_objects.QualityOfServiceSpecs(context=ctxt, id=rec['id'], name=rec['id'],
                                                   consumer='back-end', specs=dict(rec['qos_specs']))
    return cinder_objects.VolumeType(context=ctxt, id=rec['id'], name=f"cinder_nb-{rec['id']}",
                                     is_public=True, extra_specs=dict(rec.get('extra_specs') or {}),
                                     qos_specs_id=rec['id'] if qos else None, qos_specs=qos,
                                     description=None, deleted=False, projects=[])


def volume_ovo(rec: dict, snapshots: Iterable[dict] = (), connections: Iterable[dict] = ()) -> Any:
    """A cinder.objects.Volume built from our volume record (no lazy DB loads).

    Its snapshots point back to a shallow copy of the volume (one without a snapshot
    list): a true cycle makes oslo.versionedobjects' change tracking recurse forever.
    """
    conns, snapshots = list(connections), list(snapshots)
    vol = _plain_volume_ovo(rec, conns)
    snap_ovos = []
    if snapshots:   # the shallow copy costs a second build: only when there are snapshots
        shallow = shallow_volume_ovo(rec, conns, ctxt=vol._context)
        snap_ovos = [snapshot_ovo(s, shallow) for s in snapshots]
    _set_list(vol, 'snapshots', cinder_objects.SnapshotList, snap_ovos)
    _reset_changes(vol)
    return vol


def source_volume_ovo(rec: dict, connections: Iterable[dict] = ()) -> Any:
    """volume_ovo() without its snapshot list, for a driver call that reads the volume as a
    source (a clone): Cinder's Volume.obj_load_attr loads the list on first access, through
    SnapshotList.get_all_for_volume (answered from the state, see db.patch_object_lookups), as
    it does for a Volume the volume manager reads from its database. Building the list costs a
    shallow volume and a snapshot object per snapshot, and a driver cloning rarely reads it."""
    vol = _plain_volume_ovo(rec, list(connections))
    vol.__dict__.pop('_obj_snapshots', None)    # unset, not the prototype's None: loaded on access
    _reset_changes(vol)
    return vol


def shallow_volume_ovo(rec: dict, connections: Iterable[dict] = (), ctxt: Any = None) -> Any:
    """A volume OVO with an empty snapshot list: what a snapshot's .volume points to."""
    vol = _plain_volume_ovo(rec, list(connections), ctxt)
    _set_list(vol, 'snapshots', cinder_objects.SnapshotList, [])
    _reset_changes(vol)
    return vol


def _plain_volume_ovo(rec: dict, conns: list, ctxt: Any = None) -> Any:
    ctxt = ctxt or context()
    values = dict(
        id=rec['id'], size=rec['size'], status=rec['status'],
        host=host_of(rec['backend'], rec.get('pool_name')),
        display_name=rec.get('name') or '', display_description=rec.get('description') or '',
        source_volid=rec.get('source_volid'), snapshot_id=rec.get('snapshot_id'),
        created_at=_timestamp(rec.get('created_at')), updated_at=_timestamp(rec.get('updated_at')),
        multiattach=bool(rec.get('multiattach')),
        attach_status='attached' if conns else 'detached',
    )
    reported = {k: v for k, v in (rec.get('driver_data') or {}).items() if k in cinder_objects.Volume.fields}
    for key in ('metadata', 'admin_metadata'):   # a driver may have replaced them: coerce
        if rec.get(key):
            reported[key] = dict(rec[key])
    if rec.get('extra_specs') or rec.get('qos_specs'):
        values['volume_type_id'] = rec['id']
        reported['volume_type'] = _volume_type_ovo(rec, ctxt)
    vol = _new_ovo(cinder_objects.Volume, ctxt, values, base=_VOLUME_DEFAULTS, coerce=reported)
    _set_list(vol, 'volume_attachment', cinder_objects.VolumeAttachmentList,
              [attachment_ovo(c, vol) for c in conns])
    return vol


#: the metadata dicts whose copy Cinder's Volume and Snapshot keep at each obj_reset_changes()
#: (_orig_<field>, what obj_what_changed compares the field with)
_TRACKED = {cinder_objects.Volume: ('metadata', 'admin_metadata', 'glance_metadata'),
            cinder_objects.Snapshot: ('metadata',)}


def _reset_changes(obj: Any) -> None:
    """``obj.obj_reset_changes()`` for a Volume or Snapshot built here, every field set.

    What Cinder's override leaves (an empty change set; _orig_<field>, a copy of each tracked
    metadata dict) set directly: its own walk asks 'is it set?' through three layers per dict
    and was a quarter of a volume build. tests/core/test_ovo.py compares the state with it.
    """
    state = obj.__dict__
    state['_changed_fields'] = set()
    for name in _TRACKED[type(obj)]:
        state['_orig_' + name] = dict(state['_obj_' + name])


def _set_list(obj: Any, field: str, cls: Any, items: list) -> None:
    """``obj.<field> = cls(context=obj._context, objects=items)`` without oslo's coercing setters.

    The list's state is what that constructor leaves ('objects' changed), and the field is
    marked changed as the setter marks it; the items are of the list's own type by
    construction here, so the setters' type checks have nothing to catch. Volume builds
    set two lists (three with snapshots), and the setters were a third of a build.
    """
    lst = cls.__new__(cls)
    lst.__dict__.update(_changed_fields={'objects'}, _context=obj._context, _obj_objects=items)
    obj.__dict__['_obj_' + field] = lst
    obj._changed_fields.add(field)


def snapshot_ovo(rec: dict, vol: Any) -> Any:
    """A cinder.objects.Snapshot for our snapshot record, linked to its volume OVO (and its context)."""
    ctxt = vol._context or context()
    values = dict(
        id=rec['id'], volume_id=rec['volume_id'], volume_size=rec['volume_size'],
        status=rec['status'], display_name=rec.get('name') or '',
        display_description=rec.get('description') or '',
        created_at=_timestamp(rec.get('created_at')), updated_at=_timestamp(rec.get('updated_at')),
        volume_type_id=vol.volume_type_id,
    )
    reported = {k: v for k, v in (rec.get('driver_data') or {}).items() if k in cinder_objects.Snapshot.fields}
    if rec.get('metadata'):
        reported['metadata'] = dict(rec['metadata'])
    snap = _new_ovo(cinder_objects.Snapshot, ctxt, values, base=_SNAPSHOT_DEFAULTS, coerce=reported)
    snap.volume = vol
    _reset_changes(snap)
    return snap


def attachment_ovo(rec: dict, vol: Any) -> Any:
    ctxt = vol._context or context()
    connector = rec.get('connector') or {}
    att = cinder_objects.VolumeAttachment(context=ctxt, **_fill_defaults(cinder_objects.VolumeAttachment, dict(
        id=rec['id'], volume_id=rec['volume_id'],
        instance_uuid=connector.get('instance_uuid'), attached_host=connector.get('host'),
        mountpoint=None, attach_time=rec.get('created_at'), detach_time=None,
        attach_status='attached', attach_mode=rec.get('attach_mode', 'rw'),
        connection_info=rec.get('connection_info') or {}, connector=connector, deleted=False)))
    att.obj_reset_changes()
    return att


_PROTOTYPES: dict[type, tuple[dict, tuple[str, ...]]] = {}
_MUTABLE = (dict, list, set)


def _new_ovo(cls: Any, ctxt: Any, values: dict, base: dict | None = None, coerce: dict | None = None) -> Any:
    """Like ``cls(context=ctxt, **base, **values, **coerce)``, other fields at their defaults, faster.

    oslo's coercing setter costs microseconds a field, and a Volume has 49 fields. The ones
    every build shares (``base`` and the defaults) are coerced once per class into a
    prototype whose attributes are copied. ``values`` come from cinder_nb's validated records
    already in the type coercion would give (str, int, aware datetime, dict of str): they
    are stored as they are. ``coerce`` (what drivers reported) goes through the setters.
    tests/core/test_ovo.py checks the result against a normally built object. The caller
    resets the change tracking (obj_reset_changes), as after a normal build.
    """
    proto = _PROTOTYPES.get(cls)
    if proto is None:
        sample = cls(context=None, **_fill_defaults(cls, dict(base or {})))
        attrs = {k: v for k, v in vars(sample).items() if k.startswith('_obj_')}
        if any(isinstance(v, ovo_base.VersionedObject) for v in attrs.values()):
            raise TypeError(f'{cls.__name__}: a prototype cannot share an object field')
        mutable = tuple(k for k, v in attrs.items() if isinstance(v, _MUTABLE))
        proto = _PROTOTYPES[cls] = (attrs, mutable)
    attrs, mutable = proto
    obj = cls.__new__(cls)
    state = obj.__dict__
    state.update(attrs)
    for key in mutable:
        state[key] = type(attrs[key])(attrs[key])
    state['_changed_fields'] = set()
    state['_context'] = ctxt
    for key, value in values.items():
        state['_obj_' + key] = value
    for key, value in (coerce or {}).items():
        setattr(obj, key, value)
    return obj


@functools.lru_cache(maxsize=4096)
def _timestamp(text: str | None) -> datetime.datetime | None:
    """A record's ISO timestamp as the aware datetime an OVO field holds (parsed once per string)."""
    if text is None:
        return None
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _fill_defaults(cls: Any, values: dict) -> dict:
    """Give every field a value so no attribute access falls through to a DB lazy-load."""
    from oslo_versionedobjects import fields as ovo_fields
    for name, field in cls.fields.items():
        if name in values:
            continue
        if field.default != ovo_fields.UnspecifiedDefault:
            values[name] = field.default
        elif field.nullable:
            values[name] = None
    return values


def refresh_in_place(ovo: Any, rec: dict) -> None:
    """Set a volume or snapshot OVO's status and updated_at from rec (which differs from the
    record it shows in those at most) and clear its change set, as a build would leave it."""
    state = ovo.__dict__
    state['_obj_status'] = rec['status']    # values from records are stored as _new_ovo stores them
    state['_obj_updated_at'] = _timestamp(rec.get('updated_at'))
    state['_changed_fields'] = set()


def unchanged_since_kept(ovo: Any, metadata: dict) -> bool:
    """A kept volume or snapshot OVO is as keeping left it: nothing in its change set and its
    metadata equal to the record's. Read from its state, not through oslo's getters (which
    ask 'is it set?' first, for a lazy load: a kept object is read a phase after it was last
    touched, when each look-up misses the CPU's caches)."""
    state = ovo.__dict__
    return not state['_changed_fields'] and state.get('_obj_metadata') == metadata


def bare_volume_ovo(ovo: Any, admin_metadata: dict | None = None) -> bool:
    """A volume OVO's snapshot and attachment lists are set and empty (and, when given, its
    admin_metadata equals admin_metadata)."""
    state = ovo.__dict__
    return ((admin_metadata is None or state.get('_obj_admin_metadata') == admin_metadata)
            and _empty_list(state, 'snapshots') and _empty_list(state, 'volume_attachment'))


def _empty_list(state: dict, field: str) -> bool:
    """The OVO list field is set and holds no item (unset: it would be lazy-loaded)."""
    value = state.get('_obj_' + field)
    return value is not None and not value.__dict__.get('_obj_objects')


def changed_fields(ovo: Any, allowed: frozenset) -> dict:
    """Fields a driver changed on an OVO (it may update in place instead of returning)."""
    # the object's own change set: obj_what_changed() would also walk every child object
    # (the volume, its snapshots, their volume...), which cost more than the driver call
    return {k: getattr(ovo, k) for k in ovo._changed_fields if k in allowed}  # noqa: SLF001

