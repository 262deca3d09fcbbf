"""The notebook's progress bars: copy_to shows bytes and can be cancelled; the text bar in a terminal."""
from __future__ import annotations

import threading

import pytest

import cinder_nb as cnb
from cinder_nb.errors import Cancelled
from cinder_nb.notebook.progress import ByteProgress, copy_to


@pytest.fixture
def two(session):
    return (cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file'),
            cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file'))


def test_copy_to_shows_a_byte_bar(two, capsys):
    a, b = two
    src = a.create_volume(1, name='src')
    copy = copy_to(src, b, chunk_mib=64)
    assert copy.status == 'available' and copy.backend_name == 'b'
    err = capsys.readouterr().err
    assert 'copy src -> b' in err and '1.00G/1.00G' in err and '100%' in err


def test_copy_to_cancel_event(two):
    a, b = two
    src = a.create_volume(1, name='src')
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match='cancelled after'):
        copy_to(src, b, cancel=cancel, progress=False, name='stopped')
    [stopped] = b.volumes
    assert stopped.status == 'error' and src.connections == [] and stopped.connections == []


def test_byte_progress_counts_deltas(capsys):
    cb = ByteProgress('x')
    cb(10, 100)
    cb(60, 100)
    assert cb.bar.n == 60 and cb.done == 60
    cb.close()
    assert '60.0/100' in capsys.readouterr().err


def test_bulk_bars_count_items_and_failures(session, capsys):
    import tests.core.bulk_driver as bulk_driver
    from cinder_nb.notebook import create_snapshots, create_volumes, delete_snapshots, delete_volumes
    bulk_driver.FailNamedDriver.FAIL_NAMES = {'lab-2'}
    lab = cnb.Backend('flaky', volume_driver='tests.core.bulk_driver.FailNamedDriver',
                      local_file_path=str(session / 'v'), local_file_attach_mode='file')
    res = create_volumes(lab, 4, 1, name='lab', workers=2)
    err = capsys.readouterr().err
    assert 'create 4 volumes on flaky' in err and '4/4' in err and 'failed=1' in err
    assert [v.name for v in res.succeeded] == ['lab-1', 'lab-3', 'lab-4']
    snaps = create_snapshots(res.succeeded)
    assert snaps.ok and 'snapshot 3 volumes' in capsys.readouterr().err
    assert delete_snapshots(snaps.succeeded).ok and delete_volumes(lab.volumes).ok and lab.volumes == []


def test_bulk_bar_cancel_event(session):
    from cinder_nb.notebook import create_volumes
    lab = cnb.embedded(str(session / 'v'), local_file_attach_mode='file')
    cancel = threading.Event()
    cancel.set()
    res = create_volumes(lab, 3, 1, cancel=cancel, progress=False)
    assert res.succeeded == [] and all(isinstance(i.error, Cancelled) for i in res.items) and lab.volumes == []


def test_operations_slower_than_a_second_get_a_running_bar(session, capsys):
    from cinder_nb.notebook.progress import show_slow_operations
    slow = cnb.Backend('slow', volume_driver='tests.notebook.lossy_driver.SlowSnapshotDriver',
                       local_file_path=str(session / 'slow'), local_file_attach_mode='file')
    watcher = show_slow_operations(after=1.0)
    try:
        vol = slow.create_volume(1, name='quick')            # milliseconds: no bar
        snap = vol.create_snapshot(name='slow')               # 1.5 s: a bar while it runs
        assert watcher.shown == [f'volume.create_snapshot {vol.id[:8]} on slow']
        snap.delete()
    finally:
        watcher.stop()
    vol.create_snapshot()                                    # stopped: no more bars
    assert len(watcher.shown) == 1
    err = capsys.readouterr().err
    assert f'volume.create_snapshot {vol.id[:8]} on slow: running 00:01' in err
