"""The fast OVO builders in cinder_nb._cinder give the same objects as Cinder's constructors."""
from __future__ import annotations

import datetime

import pytest
from cinder import objects
from oslo_utils import timeutils

from cinder_nb import _cinder
from cinder_nb._cinder import ovo

VOL = {'id': '6b1d3c1e-1b0e-4d0c-9a54-0d5c1f0e7a11', 'backend': 'lab', 'pool_name': 'p1', 'size': 3,
       'status': 'in-use', 'name': 'data', 'description': 'd', 'source_volid': None,
       'snapshot_id': None, 'metadata': {'k': 'v'}, 'admin_metadata': {}, 'multiattach': True,
       'created_at': '2026-11-25T13:27:44.915935+00:00', 'updated_at': '2026-11-25T14:00:00Z',
       'driver_data': {'provider_location': '/x/volume-1', 'provider_id': 7}}
SNAP = {'id': '0c5d0b9e-5bb7-4c8a-a3a4-93a0ad2dc1f4', 'volume_id': VOL['id'], 'volume_size': 3,
        'status': 'available', 'name': 's', 'description': '', 'metadata': {},
        'created_at': '2026-11-25T13:30:00', 'updated_at': None, 'driver_data': {'provider_location': 'loc'}}
CONN = {'id': 'e0b7b5a6-3d5e-4e8c-8f6a-1f2e3d4c5b6a', 'volume_id': VOL['id'], 'attach_mode': 'rw',
        'connector': {'host': 'h'}, 'connection_info': {'driver_volume_type': 'local'},
        'created_at': '2026-11-25T13:31:00+00:00'}


def _reference_volume(rec: dict, conns: list) -> objects.Volume:
    values = dict(ovo._VOLUME_DEFAULTS)
    values.update(
        id=rec['id'], size=rec['size'], status=rec['status'], host=_cinder.host_of(rec['backend'], rec['pool_name']),
        display_name=rec['name'], display_description=rec['description'], source_volid=rec['source_volid'],
        snapshot_id=rec['snapshot_id'], metadata=rec['metadata'], admin_metadata=rec['admin_metadata'],
        created_at=timeutils.parse_isotime(rec['created_at']), updated_at=timeutils.parse_isotime(rec['updated_at']),
        multiattach=rec['multiattach'], attach_status='attached' if conns else 'detached',
        volume_type_id=rec['id'] if rec.get('extra_specs') else None, **rec['driver_data'])
    return objects.Volume(context=None, **ovo._fill_defaults(objects.Volume, values))


def _fields_equal(built, ref, skip=()):
    for name in type(ref).fields:
        if name in skip:
            continue
        assert built.obj_attr_is_set(name) == ref.obj_attr_is_set(name), name
        if ref.obj_attr_is_set(name):
            a, b = getattr(built, name), getattr(ref, name)
            assert a == b and type(a) is type(b), (name, a, b)


@pytest.mark.parametrize('extra', [{}, {'metadata': {'a': 1}}, {'extra_specs': {'x': 'y'}, 'qos_specs': {'iops': '5'}}])
def test_fast_volume_ovo_matches_cinders_constructor(extra):
    rec = dict(VOL, **extra)
    built = _cinder.volume_ovo(rec, snapshots=[SNAP], connections=[CONN])
    ref = _reference_volume(rec, [CONN])
    _fields_equal(built, ref, skip=('snapshots', 'volume_attachment', 'volume_type'))
    assert built.metadata == {k: str(v) for k, v in rec['metadata'].items()}   # coerced to strings
    assert built.created_at.tzinfo is not None and built.name == f"volume-{rec['id']}"
    assert [s.id for s in built.snapshots] == [SNAP['id']] and built.snapshots[0].volume.id == rec['id']
    assert built.volume_attachment[0].attached_host == 'h'
    assert (built.volume_type is None) == (not extra.get('extra_specs'))
    if extra.get('extra_specs'):
        assert built.volume_type.extra_specs == {'x': 'y'} and built.volume_type.qos_specs.specs == {'iops': '5'}
    # child lists and objects report themselves changed, as they did with Cinder's constructors
    assert built.obj_what_changed() <= {'snapshots', 'volume_attachment', 'volume_type'}


def test_fast_snapshot_ovo_matches_cinders_constructor():
    vol = _cinder.shallow_volume_ovo(VOL)
    built = _cinder.snapshot_ovo(SNAP, vol)
    values = dict(ovo._SNAPSHOT_DEFAULTS, id=SNAP['id'], volume_id=SNAP['volume_id'], volume_size=3,
                  status='available', display_name='s', display_description='', metadata={},
                  created_at=datetime.datetime(2026, 11, 25, 13, 30, tzinfo=datetime.timezone.utc),
                  updated_at=None, volume_type_id=None, provider_location='loc')
    ref = objects.Snapshot(context=None, **ovo._fill_defaults(objects.Snapshot, values))
    _fields_equal(built, ref, skip=('volume',))
    assert built.volume is vol and built.volume_name == f"volume-{VOL['id']}"


def test_built_objects_share_no_mutable_state():
    a, b = _cinder.volume_ovo(VOL), _cinder.volume_ovo(dict(VOL, metadata={}))
    a.metadata['new'] = '1'
    a.glance_metadata['g'] = '1'
    assert b.metadata == {} and b.glance_metadata == {}
    assert _cinder.volume_ovo(dict(VOL, metadata={})).glance_metadata == {}


def test_child_lists_are_what_cinders_list_constructors_give():
    """volume_ovo sets its snapshot and attachment lists without oslo's setters (_set_list):
    each must still be the list class with the state its constructor gives, share the
    volume's context, and be a fresh list per build."""
    built = _cinder.volume_ovo(VOL, snapshots=[SNAP], connections=[CONN])
    for field, cls in (('snapshots', objects.SnapshotList), ('volume_attachment', objects.VolumeAttachmentList)):
        lst = getattr(built, field)
        ref = cls(context=built._context, objects=list(lst.objects))
        assert type(lst) is cls and vars(lst) == vars(ref), field
        assert lst._context is built._context
    again = _cinder.volume_ovo(VOL, snapshots=[SNAP], connections=[CONN])
    assert again.snapshots.objects is not built.snapshots.objects
    shallow = built.snapshots[0].volume
    assert type(shallow.snapshots) is objects.SnapshotList and len(shallow.snapshots) == 0


def test_change_tracking_is_what_obj_reset_changes_leaves():
    """The builders reset change tracking without Cinder's obj_reset_changes (_reset_changes):
    the object's state must be the one that call leaves, and a change still shows."""
    built = _cinder.volume_ovo(dict(VOL, metadata={'a': 'b'}), snapshots=[SNAP], connections=[CONN])
    objs = [built, built.snapshots[0], built.snapshots[0].volume, _cinder.shallow_volume_ovo(VOL)]
    for obj in objs:
        mine = {k: v for k, v in vars(obj).items() if k.startswith('_orig_') or k == '_changed_fields'}
        obj.obj_reset_changes()
        theirs = {k: v for k, v in vars(obj).items() if k.startswith('_orig_') or k == '_changed_fields'}
        assert mine == theirs and set(mine) > {'_changed_fields'}, type(obj).__name__
    again = _cinder.volume_ovo(dict(VOL, metadata={'a': 'b'}), snapshots=[SNAP])
    assert not again.obj_what_changed() - {'snapshots', 'volume_attachment'}
    again.metadata['a'] = 'c'
    again.snapshots[0].metadata['n'] = '1'
    assert 'metadata' in again.obj_what_changed() and 'metadata' in again.snapshots[0].obj_what_changed()
    assert again._orig_metadata == {'a': 'b'}


def test_kept_object_checks_read_what_the_getters_read():
    """The checks of a kept OVO (unchanged_since_kept, bare_volume_ovo) read its state
    directly: they must answer as the getters-based checks did, for each way it can differ."""
    def fresh():
        return _cinder.volume_ovo(dict(VOL, metadata={'a': 'b'}, admin_metadata={'x': 'y'}))
    vol = fresh()
    assert _cinder.unchanged_since_kept(vol, {'a': 'b'}) and _cinder.bare_volume_ovo(vol, {'x': 'y'})
    assert not _cinder.unchanged_since_kept(vol, {'a': 'c'}) and not _cinder.bare_volume_ovo(vol, {})
    vol.display_name = 'set by a driver'
    assert not _cinder.unchanged_since_kept(vol, {'a': 'b'})
    vol = fresh()
    vol.metadata['a'] = 'changed in place'
    assert not _cinder.unchanged_since_kept(vol, {'a': 'b'})
    vol = fresh()
    vol.volume_attachment.objects.append(_cinder.attachment_ovo(CONN, vol))
    assert not _cinder.bare_volume_ovo(vol) and len(vol.volume_attachment) == 1
    vol = fresh()
    vol.snapshots.objects.append(_cinder.snapshot_ovo(SNAP, _cinder.shallow_volume_ovo(VOL)))
    assert not _cinder.bare_volume_ovo(vol)
    assert not _cinder.bare_volume_ovo(_cinder.source_volume_ovo(VOL))     # an unset (lazy) list
    snap = _cinder.snapshot_ovo(dict(SNAP, metadata={'m': '1'}), _cinder.shallow_volume_ovo(VOL))
    assert _cinder.unchanged_since_kept(snap, {'m': '1'}) and not _cinder.unchanged_since_kept(snap, {})
