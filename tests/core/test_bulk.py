"""Bulk create/snapshot/delete on the embedded backend: concurrency, per-item failures, cancel."""
from __future__ import annotations

import os
import threading

import pytest

import cinder_nb as cnb
from cinder_nb import _runtime
from cinder_nb._bulk import BulkResult
from cinder_nb.errors import BulkError, Cancelled, DriverError, InvalidArgument, InvalidState, NotFound
import tests.core.bulk_driver as bulk_driver


def test_create_volumes_names_and_records(filelab):
    res = filelab.create_volumes(12, 1, name='student', workers=4, metadata={'lab': '1'})
    assert isinstance(res, BulkResult) and res.ok and len(res) == 12 and res.failed == []
    assert [v.name for v in res.succeeded] == [f'student-{n:02d}' for n in range(1, 13)]
    assert [i.target for i in res.items] == [v.name for v in res.succeeded]
    assert all(v.status == 'available' and v.size == 1 and v.metadata == {'lab': '1'} for v in res.succeeded)
    assert len({v.id for v in res.succeeded}) == 12
    stored = {v.id for v in filelab.volumes}
    assert stored == {v.id for v in res.succeeded}
    files = set(os.listdir(os.path.join(filelab.driver.root, 'volumes')))
    assert files == {f'volume-{v.id}' for v in res.succeeded}
    assert res.raise_on_failure() is res


def test_driver_calls_run_concurrently(session):
    """Four creates can only pass the driver's barrier together: nothing serializes driver calls."""
    bulk_driver.BarrierDriver.BARRIER.reset()
    lab = cnb.Backend('barrier', volume_driver='tests.core.bulk_driver.BarrierDriver',
                      local_file_path=str(session / 'vols'), local_file_attach_mode='file')
    res = lab.create_volumes(4, 1, workers=4)
    assert res.ok, res.failed


def test_one_driver_failure_keeps_the_rest(session):
    bulk_driver.FailNamedDriver.FAIL_NAMES = {'vol-3'}
    lab = cnb.Backend('flaky', volume_driver='tests.core.bulk_driver.FailNamedDriver',
                      local_file_path=str(session / 'vols'), local_file_attach_mode='file')
    seen = []
    res = lab.create_volumes(5, 1, name='vol', workers=3, progress=lambda d, t, item: seen.append((d, t, item)))
    assert [d for d, _, _ in seen] == [1, 2, 3, 4, 5] and {t for _, t, _ in seen} == {5}
    assert not res.ok and [i.target for i in res.failed] == ['vol-3']
    err = res.failed[0].error
    assert isinstance(err, DriverError) and 'array refused vol-3' in str(err)
    assert bulk_driver.FailNamedDriver.SECRET not in str(err)
    assert [v.name for v in res.succeeded] == ['vol-1', 'vol-2', 'vol-4', 'vol-5']
    by_name = {v.name: v for v in lab.volumes}
    assert by_name['vol-3'].status == 'error' and bulk_driver.FailNamedDriver.SECRET not in by_name['vol-3'].error
    assert all(by_name[n].status == 'available' for n in ('vol-1', 'vol-2', 'vol-4', 'vol-5'))
    with pytest.raises(BulkError) as caught:
        res.raise_on_failure()
    assert caught.value.result is res and 'vol-3' in str(caught.value)
    assert bulk_driver.FailNamedDriver.SECRET not in str(caught.value)
    # the failed one can be deleted with the others in bulk
    gone = lab.delete_volumes(lab.volumes, workers=2)
    assert gone.ok and lab.volumes == [] and os.listdir(session / 'vols' / 'volumes') == []


def test_snapshots_and_deletes_report_real_failures(filelab):
    vols = filelab.create_volumes(6, 1, workers=3).raise_on_failure().succeeded
    broken = vols[1]
    os.unlink(os.path.join(filelab.driver.root, 'volumes', broken.name_in_storage))   # its storage is gone
    vols[4].reset_status('error')                                                    # a state that refuses a snapshot
    snaps = filelab.create_snapshots(vols, name='before', workers=3)
    assert {i.index for i in snaps.failed} == {1, 4}
    by_index = {i.index: i for i in snaps.items}
    assert isinstance(by_index[1].error, DriverError) and 'No such file' in str(by_index[1].error)
    assert isinstance(by_index[4].error, InvalidState)
    assert [s.volume_id for s in snaps.succeeded] == [vols[i].id for i in (0, 2, 3, 5)]
    assert all(s.status == 'available' and s.name == 'before' for s in snaps.succeeded)
    errored = [s for s in filelab.snapshots if s.status == 'error']     # the driver's failure is recorded
    assert [s.volume_id for s in errored] == [broken.id]
    assert {s.id for s in filelab.snapshots} == {s.id for s in snaps.succeeded} | {errored[0].id}
    # volumes with snapshots refuse deletion (InvalidState); the others go
    dels = filelab.delete_volumes([v.id for v in vols], workers=4)
    failed = {i.index: i.error for i in dels.failed}
    assert set(failed) == {0, 1, 2, 3, 5} and all(isinstance(e, InvalidState) for e in failed.values())
    assert [v.id for v in dels.succeeded] == [vols[4].id] and vols[4].status == 'deleted'
    # snapshots first, then the volumes
    assert filelab.delete_snapshots(filelab.snapshots, workers=4).ok
    assert filelab.delete_volumes(filelab.volumes, workers=4).ok
    assert filelab.volumes == [] and filelab.snapshots == []
    for sub in ('volumes', 'snapshots'):
        assert os.listdir(os.path.join(filelab.driver.root, sub)) == []


def test_stale_id_fails_alone(filelab):
    vols = filelab.create_volumes(3, 1).succeeded
    res = filelab.delete_volumes([vols[0].id, '00000000-0000-4000-8000-000000000000', vols[2]])
    assert [i.index for i in res.failed] == [1] and isinstance(res.failed[0].error, NotFound)
    assert [v.id for v in filelab.volumes] == [vols[1].id]


def test_arguments_checked_before_any_driver_call(filelab, session):
    other = cnb.embedded(str(session / 'other'), name='other', local_file_attach_mode='file')
    bad = [dict(count=0, size=1), dict(count=2, size=0), dict(count=2, size=1, workers=0),
           dict(count=2, size=1, workers=65), dict(count=True, size=1), dict(count=2, size=1, name=''),
           dict(count=2, size=1, id='x'), dict(count=2, size=1, pool_name='nope'),
           dict(count=2, size=1, progress=3), dict(count=2, size=1, bogus=1),
           dict(count=2, size=1, metadata={'k': 1})]
    for kwargs in bad:
        with pytest.raises(InvalidArgument):
            filelab.create_volumes(**kwargs)
    vol = other.create_volume(1)
    for call in (filelab.delete_volumes, filelab.create_snapshots):
        for arg in ('not-a-list', [vol], [3], [vol.id, vol.id]):
            with pytest.raises(InvalidArgument):
                call(arg)
    assert filelab.volumes == [] and os.listdir(os.path.join(filelab.driver.root, 'volumes')) == []


@pytest.fixture
def gated(session):
    bulk_driver.GateDriver.GATE = threading.Event()
    return cnb.Backend('gated', volume_driver='tests.core.bulk_driver.GateDriver',
                       local_file_path=str(session / 'gvols'), local_file_attach_mode='file')


def test_cancel_from_progress_stops_items_not_started(gated):
    gate = bulk_driver.GateDriver.GATE

    def stop_after_first(done, total, item):
        gate.set()          # from here on, a worker that starts an item finds the cancel
        raise Cancelled('enough')
    res = gated.create_volumes(6, 1, workers=1, progress=stop_after_first, cancel=gate)
    made = res.succeeded
    assert 1 <= len(made) <= 2        # the first, and the second if the worker had started it
    assert [i.index for i in res.failed] == list(range(len(made), 6))
    assert all(isinstance(i.error, Cancelled) for i in res.failed)
    assert {v.id for v in gated.volumes} == {v.id for v in made}
    assert all(v.status == 'available' for v in gated.volumes)


def test_cancel_event(filelab):
    cancel = threading.Event()
    cancel.set()
    res = filelab.create_volumes(3, 1, cancel=cancel)
    assert res.succeeded == [] and all(isinstance(i.error, Cancelled) for i in res.items)
    assert filelab.volumes == []


def test_keyboard_interrupt_waits_for_running_items_then_propagates(gated):
    gate = bulk_driver.GateDriver.GATE

    def interrupt(done, total, item):
        gate.set()
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        gated.create_volumes(6, 1, workers=2, progress=interrupt, cancel=gate)
    vols = gated.volumes
    assert 1 <= len(vols) <= 3 and all(v.status == 'available' for v in vols)   # none left 'creating'


def test_bulk_on_sqlite_survives_a_new_session(tmp_path):
    db = tmp_path / 'state.db'
    cnb.setup({'storage': 'sqlite', 'path': str(db)}, state_dir=str(tmp_path / 'st'))
    lab = cnb.embedded(str(tmp_path / 'vols'), name='lab', local_file_attach_mode='file')
    made = lab.create_volumes(10, 1, workers=4).succeeded
    snaps = lab.create_snapshots(made[:5], workers=4).succeeded
    cnb.setup({'storage': 'sqlite', 'path': str(db)}, state_dir=str(tmp_path / 'st'))
    again = cnb.Backend.open('lab')
    assert sorted(v.id for v in again.volumes) == sorted(v.id for v in made)
    assert sorted(s.id for s in again.snapshots) == sorted(s.id for s in snaps)
    assert again.delete_snapshots([s.id for s in snaps], workers=4).ok
    assert again.delete_volumes([v.id for v in made], workers=4).ok
    assert _runtime.get().persistence.list('volume') == []
