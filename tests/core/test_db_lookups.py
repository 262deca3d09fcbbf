"""Cinder's object lookups that drivers call answer from cinder_nb's state (_cinder/db.py).

Real parts: the embedded LocalFileDriver's backend and Cinder's own object classes."""
from __future__ import annotations

from cinder import objects

from cinder_nb import _cinder


def test_snapshot_list_of_a_volume_answers_from_the_state(filelab):
    """hitachi's hbsd_rest calls SnapshotList.get_all_for_volume; it raised MetadataAbsent
    (Snapshot._from_db_object wants a database row) before patch_object_lookups answered it."""
    vol = filelab.create_volume(1)
    first = vol.create_snapshot(name='a', metadata={'k': 'v'})
    second = vol.create_snapshot(name='b')
    ctxt = _cinder.context()
    got = objects.SnapshotList.get_all_for_volume(ctxt, vol.id)
    assert isinstance(got, objects.SnapshotList) and got._context is ctxt
    assert sorted((s.id, s.display_name, s.volume_size, s.metadata.get('k')) for s in got) == sorted(
        [(first.id, 'a', 1, 'v'), (second.id, 'b', 1, None)])
    assert all(s.volume.id == vol.id for s in got)
    first.delete()
    assert [s.id for s in objects.SnapshotList.get_all_for_volume(ctxt, vol.id)] == [second.id]


def test_a_volume_object_without_its_snapshot_list_loads_it_as_cinder_does(filelab):
    """Volume.obj_load_attr('snapshots') goes through SnapshotList.get_all_for_volume."""
    vol = filelab.create_volume(1)
    snap = vol.create_snapshot()
    ovo = _cinder.volume_ovo(vol.record)
    del ovo.__dict__['_obj_snapshots']          # as an object loaded without it would be
    assert [s.id for s in ovo.snapshots] == [snap.id]
