"""One status vocabulary per kind (cinder_nb._statuses), read by every place that names statuses."""
from __future__ import annotations

import pytest

from cinder_nb import _statuses
from cinder_nb.connection import CONNECTION_STATUSES


def test_a_reverting_volume_shows_its_status_in_volumes_df(filelab):
    """The DataFrame's categorical status had no 'reverting': a volume mid-revert showed NaN."""
    frames = pytest.importorskip('cinder_nb.notebook.frames')
    vol = filelab.create_volume(1, name='r')
    snap = vol.create_snapshot()
    seen = {}
    driver = filelab.driver
    original = driver.revert_to_snapshot

    def revert(ctxt, volume, snapshot, *args, **kwargs):
        df = frames.volumes_df()                     # what a notebook shows while the revert runs
        seen['status'] = df.loc[df['id'] == vol.id, 'status'].iloc[0]
        return original(ctxt, volume, snapshot, *args, **kwargs)

    driver.revert_to_snapshot = revert       # the real driver's revert, observed mid-operation
    try:
        vol.revert_to_snapshot(snap)
    finally:
        del driver.revert_to_snapshot
    assert seen['status'] == 'reverting'
    assert vol.status == 'available'


def test_a_disconnected_connection_has_a_status_of_the_vocabulary(filelab):
    """disconnect() leaves the Connection 'deleted', which CONNECTION_STATUSES did not list."""
    vol = filelab.create_volume(1)
    conn = vol.connect({'host': 'compute-1', 'initiator': 'iqn.2026-11.test:compute-1'})
    assert conn.status in CONNECTION_STATUSES
    conn.disconnect()
    assert conn.status == 'deleted'
    assert conn.status in CONNECTION_STATUSES


def test_the_frames_dtypes_are_the_vocabulary():
    frames = pytest.importorskip('cinder_nb.notebook.frames')
    for kind, columns in (('volume', frames.VOLUME_COLUMNS), ('snapshot', frames.SNAPSHOT_COLUMNS),
                          ('connection', frames.CONNECTION_COLUMNS)):
        assert set(columns['status'].categories) == set(_statuses.BY_KIND[kind]), kind


def test_transitional_statuses_belong_to_a_kind_and_stored_ones_exclude_deleted():
    everything = set().union(*_statuses.BY_KIND.values())
    assert _statuses.TRANSITIONAL <= everything
    assert _statuses.USABLE <= set(_statuses.VOLUME_STATUSES)
    for kind, statuses in _statuses.BY_KIND.items():
        assert len(set(statuses)) == len(statuses), kind
        assert _statuses.stored(kind) == tuple(s for s in statuses if s != 'deleted')


def test_record_timestamps_are_iso_utc_microseconds_and_follow_the_clock():
    """_runtime.now() keeps the format of datetime.now(utc).isoformat(timespec='microseconds')
    while it formats each second once: the text parses back to the clock's time, and a new
    second (a cached prefix left behind) still gives the right date and time."""
    import re
    import time
    from datetime import datetime, timedelta, timezone

    from cinder_nb import _runtime
    pattern = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$')
    for _ in range(3):
        before = datetime.now(timezone.utc)
        text = _runtime.now()
        after = datetime.now(timezone.utc)
        assert pattern.match(text), text
        assert before - timedelta(microseconds=1) <= datetime.fromisoformat(text) <= after
        _runtime._second = (int(time.time()) - 3600, '1999-01-01T00:00:00')   # a stale second
        assert datetime.fromisoformat(_runtime.now()) >= before
