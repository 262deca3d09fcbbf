"""Bad input gives a clear typed error and changes nothing; driver failures are recorded."""
from __future__ import annotations

import os
import shutil

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime


def _snapshot_of_state() -> str:
    return cnb.dumps()


def _files(lab) -> list:
    root = lab.driver.root
    return sorted(os.listdir(os.path.join(root, 'volumes')) + os.listdir(os.path.join(root, 'snapshots')))


@pytest.mark.parametrize('size', [0, -1, 1.5, '10', True, None, 2 ** 40])
def test_bad_sizes_change_nothing(filelab, size):
    before, files = _snapshot_of_state(), _files(filelab)
    with pytest.raises(cnb.InvalidArgument) as err:
        filelab.create_volume(size)
    assert err.value.argument == 'size' and repr(size)[:10] in str(err.value)
    assert _snapshot_of_state().split('"written_at"')[0] == before.split('"written_at"')[0]
    assert _files(filelab) == files and filelab.volumes == []


@pytest.mark.parametrize('new_size', [1, 0, -3, 1.5, '2'])
def test_extend_to_smaller_or_equal_or_bad(filelab, new_size):
    vol = filelab.create_volume(1)
    with pytest.raises(cnb.InvalidArgument, match='new_size'):
        vol.extend(new_size)
    assert vol.size == 1 and vol.status == 'available'
    assert os.path.getsize(vol.provider_location) == 1 << 30


@pytest.mark.parametrize('name', [123, 'x' * 300, 'bad\x00name'])
def test_bad_names(filelab, name):
    with pytest.raises(cnb.InvalidArgument, match='name'):
        filelab.create_volume(1, name=name)
    assert filelab.volumes == []


def test_unknown_driver_path(session):
    with pytest.raises(cnb.NotFound, match='no module named|cannot import'):
        cnb.Backend('x', volume_driver='no.such.Driver')
    with pytest.raises(cnb.NotFound, match='did you mean RBDDriver'):
        cnb.Backend('x', volume_driver='cinder.volume.drivers.rbd.RBDDrivr')
    with pytest.raises(cnb.BackendConfigError, match='class path'):
        cnb.Backend('x', volume_driver='nodots')
    with pytest.raises(cnb.BackendConfigError, match='not a Cinder volume driver'):
        cnb.Backend('x', volume_driver='cinder_nb.errors.CinderNBError')
    assert _runtime.get().backends == {}


def test_missing_required_option(session):
    with pytest.raises(cnb.BackendConfigError) as err:
        cnb.Backend('x', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver')
    assert err.value.option == 'local_file_path'
    assert _runtime.get().backends == {}


def test_unknown_and_badly_typed_options(session, tmp_path):
    with pytest.raises(cnb.BackendConfigError, match="did you mean 'local_file_path'") as err:
        cnb.Backend('x', local_file_pth=str(tmp_path))
    assert err.value.option == 'local_file_pth'
    with pytest.raises(cnb.BackendConfigError, match='Valid values') as err:
        cnb.Backend('x', local_file_path=str(tmp_path), local_file_attach_mode='weird')
    assert err.value.option == 'local_file_attach_mode'
    with pytest.raises(cnb.BackendConfigError) as err:
        cnb.Backend('x', local_file_path=str(tmp_path), reserved_percentage='lots')
    assert err.value.option == 'reserved_percentage'
    with pytest.raises(cnb.BackendConfigError):
        cnb.Backend('x', local_file_path=str(tmp_path), reserved_percentage=True)
    with pytest.raises(cnb.InvalidArgument, match='volume_backend_name'):
        cnb.Backend('bad name!', local_file_path=str(tmp_path))
    assert _runtime.get().backends == {}


def test_same_name_same_config_is_the_same_backend_different_config_is_an_error(session, tmp_path):
    a = cnb.Backend('one', local_file_path=str(tmp_path / 'a'))
    assert cnb.Backend('one', local_file_path=str(tmp_path / 'a')) is a
    with pytest.raises(cnb.BackendConfigError, match='different configuration.*local_file_path'):
        cnb.Backend('one', local_file_path=str(tmp_path / 'b'))
    assert _runtime.get().backends == {'one': a}


def test_driver_setup_failure_is_a_backend_config_error(session, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a dir')
    with pytest.raises(cnb.BackendConfigError, match='failed to start'):
        cnb.Backend('x', local_file_path=str(blocker / 'sub'))
    assert _runtime.get().backends == {}


def test_delete_attached_volume_refused(filelab):
    vol = filelab.create_volume(1)
    vol.attach()
    with pytest.raises(cnb.InvalidState, match='detach'):
        vol.delete()
    assert vol.status == 'in-use' and os.path.exists(vol.provider_location)
    vol.detach()
    vol.delete()


def test_delete_volume_with_snapshots_refused(filelab):
    vol = filelab.create_volume(1)
    snap = vol.create_snapshot()
    with pytest.raises(cnb.InvalidState, match='still has snapshots'):
        vol.delete()
    assert vol.status == 'available' and snap.status == 'available'
    assert os.path.exists(vol.provider_location)


def test_operations_on_deleted_resources(filelab):
    vol = filelab.create_volume(1)
    snap = vol.create_snapshot()
    snap.delete()
    for op in (snap.delete, snap.create_volume):
        with pytest.raises(cnb.InvalidState, match='deleted'):
            op()
    vol.delete()
    for op in (vol.delete, lambda: vol.extend(2), vol.clone, vol.create_snapshot, vol.attach,
               lambda: vol.connect({'host': 'h'})):
        with pytest.raises(cnb.InvalidState, match='deleted'):
            op()
    conn_vol = filelab.create_volume(1)
    conn = conn_vol.connect({'host': 'h'})
    conn.disconnect()
    with pytest.raises(cnb.InvalidState, match='deleted'):
        conn.disconnect()


def test_bad_connectors(filelab):
    vol = filelab.create_volume(1)
    for bad in ('host', None, {'host': 5}, {1: 'x'}, {'host': 'h', 'x': object()}):
        with pytest.raises(cnb.InvalidArgument, match='connector'):
            vol.connect(bad)
        with pytest.raises(cnb.InvalidArgument):
            filelab.validate_connector(bad)
    with pytest.raises(cnb.InvalidArgument, match='attach_mode'):
        vol.connect({'host': 'h'}, attach_mode='rx')
    assert vol.connections == [] and vol.status == 'available'


def test_clone_and_from_snapshot_size_checks(filelab):
    vol = filelab.create_volume(2)
    snap = vol.create_snapshot()
    with pytest.raises(cnb.InvalidArgument, match='source size'):
        vol.clone(size=1)
    with pytest.raises(cnb.InvalidArgument, match='snapshot size'):
        snap.create_volume(size=1)
    assert len(filelab.volumes) == 1


# ------------------------------------------------------------------ driver failures
def _break_dir(path: str) -> str:
    """Replace a directory by a regular file so the driver's file operations really fail."""
    aside = path + '.aside'
    os.rename(path, aside)
    with open(path, 'w') as f:
        f.write('in the way')
    return aside


def _mend_dir(path: str, aside: str) -> None:
    os.unlink(path)
    os.rename(aside, path)


def test_create_failure_leaves_volume_in_error(filelab):
    vols_dir = os.path.join(filelab.driver.root, 'volumes')
    aside = _break_dir(vols_dir)
    with pytest.raises(cnb.DriverError) as err:
        filelab.create_volume(1, name='doomed')
    _mend_dir(vols_dir, aside)
    assert err.value.operation == 'create' and 'NotADirectoryError' in str(err.value)
    [vol] = filelab.volumes
    assert vol.status == 'error' and vol.name == 'doomed' and 'NotADirectoryError' in vol.error
    vol.delete()
    assert filelab.volumes == []


def test_create_too_large_for_filesystem(session):
    # ext4's largest file is 16 TiB: the driver's truncate fails with EFBIG, a real failure
    # (an over-subscription ratio of 1000 lets the request past the capacity check)
    lab = cnb.embedded(str(session / 'volumes'), local_file_attach_mode='file',
                       max_over_subscription_ratio='1000')
    with pytest.raises(cnb.DriverError, match='File too large'):
        lab.create_volume(20000)
    [vol] = lab.volumes
    assert vol.status == 'error' and vol.size == 20000


def test_delete_failure_leaves_error_deleting(filelab):
    vol = filelab.create_volume(1)
    path = vol.provider_location
    os.unlink(path)
    os.makedirs(os.path.join(path, 'sub'))
    with pytest.raises(cnb.DriverError, match='delete'):
        vol.delete()
    assert vol.status == 'error_deleting' and vol.error
    assert [v.id for v in filelab.volumes] == [vol.id]
    shutil.rmtree(path)
    vol.delete()
    assert vol.status == 'deleted' and filelab.volumes == []


def test_extend_failure_leaves_error(filelab):
    vol = filelab.create_volume(1)
    path = vol.provider_location
    os.unlink(path)
    os.makedirs(path)
    with pytest.raises(cnb.DriverError, match='extend'):
        vol.extend(2)
    assert vol.status == 'error' and vol.size == 1 and 'IsADirectoryError' in vol.error


def test_snapshot_failure_recorded(filelab):
    vol = filelab.create_volume(1)
    snaps_dir = os.path.join(filelab.driver.root, 'snapshots')
    aside = _break_dir(snaps_dir)
    with pytest.raises(cnb.DriverError):
        vol.create_snapshot(name='s')
    _mend_dir(snaps_dir, aside)
    [snap] = vol.snapshots
    assert snap.status == 'error' and snap.name == 's' and snap.error
    snap.delete()
    assert vol.snapshots == []


def test_connect_failure_recorded_and_volume_unchanged(filelab):
    vol = filelab.create_volume(1)
    os.unlink(vol.provider_location)   # initialize_connection finds no file
    with pytest.raises(cnb.DriverError, match='connect'):
        vol.connect({'host': 'h'})
    [conn] = vol.connections
    assert conn.status == 'error' and 'missing' in conn.error
    assert vol.status == 'available'
    conn.disconnect()
    assert vol.connections == []


def test_unsupported_db_call_is_clear(session):
    from cinder.db import api as db_api
    from cinder_nb._cinder import UnsupportedDBCall, context
    with pytest.raises(UnsupportedDBCall, match='cinder.db.backup_get'):
        db_api.backup_get(context(), 'x')


def test_stuck_transitional_status_can_be_reset(filelab):
    """A process killed mid-create leaves 'creating' behind; reset_status recovers it."""
    vol = filelab.create_volume(1)
    snap = vol.create_snapshot()
    snap._set(status='creating')          # what a crash mid-snapshot leaves in the state
    with pytest.raises(cnb.InvalidState, match='reset_status'):
        snap.delete()
    with pytest.raises(cnb.InvalidArgument, match='status'):
        snap.reset_status('in-use')
    snap.reset_status('error')
    snap.delete()
    vol.reset_status('error')
    vol.delete()
    assert filelab.volumes == []


def test_driver_busy_answer_keeps_the_snapshot(session):
    """A driver that answers SnapshotIsBusy (as Cinder's RBD driver does when it cannot
    flatten the clones of a snapshot) leaves it 'available' and raises InvalidState 'busy'.
    The driver is a real LocalFileDriver subclass; only its delete_snapshot is made busy."""
    import tests.core.busy_driver  # noqa: F401  (the module defines BusySnapshotDriver)
    lab = cnb.Backend('busy', volume_driver='tests.core.busy_driver.BusySnapshotDriver',
                      local_file_path=str(session / 'busy'))
    vol = lab.create_volume(1)
    snap = vol.create_snapshot()
    with pytest.raises(cnb.InvalidState, match='busy') as err:
        snap.delete()
    assert err.value.status == 'busy' and snap.status == 'available' and 'dependent volumes' in snap.error
    assert [s.id for s in vol.snapshots] == [snap.id]
