"""setup(coordination_url=...): Cinder's and cinder_nb's locks through tooz, across processes.

Against the real PostgreSQL server the tests start (tooz's PostgreSQL driver: session
advisory locks). A second process holding a lock keeps us out; kill -9 of that process
frees the lock at once, because PostgreSQL ends its session.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback

import pytest

import cinder_nb as cnb
from cinder_nb import _cinder, _runtime
from cinder_nb.errors import InvalidArgument, PersistenceError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOLDER = '''
import sys, time
import cinder_nb as cnb
from cinder_nb import _cinder
cnb.setup('memory', state_dir=sys.argv[2], coordination_url=sys.argv[1])
lock = _cinder.lock(sys.argv[3])
assert lock.acquire(blocking=False)
print('locked', flush=True)
time.sleep(120)
'''


def _holder(url: str, tmp_path, name: str) -> subprocess.Popen:
    """Another process that takes _cinder.lock(name) and keeps it until killed."""
    return subprocess.Popen([sys.executable, '-c', HOLDER, url, str(tmp_path / 'child'), name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _pg_needed():
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 not installed (tooz's PostgreSQL driver; pip install cinder_nb[postgresql])")


def _advisory_locks(url: str) -> int:
    import psycopg
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]


def test_default_is_file_locks_in_the_state_dir_and_follows_it(tmp_path):
    cnb.setup('memory', state_dir=str(tmp_path / 'a'))
    assert _cinder.coordination_url() == 'file://' + str(tmp_path / 'a' / 'locks')
    cnb.setup('memory', state_dir=str(tmp_path / 'b'))
    assert _cinder.coordination_url() == 'file://' + str(tmp_path / 'b' / 'locks')
    with _cinder.lock('probe'):
        assert any(os.scandir(tmp_path / 'b' / 'locks'))


@pytest.mark.postgresql
def test_cinder_locks_and_ours_go_through_postgresql(tmp_path, postgresql_url):
    _pg_needed()
    cnb.setup('memory', state_dir=str(tmp_path / 's'), coordination_url=postgresql_url)
    assert _cinder.coordination_url() == postgresql_url
    assert _advisory_locks(postgresql_url) == 0

    @_cinder.synchronized('cinder-nb-test-{name}')       # Cinder's own decorator
    def locked(name):
        return _advisory_locks(postgresql_url)

    assert locked('x') == 1
    with _cinder.lock('ours'):
        assert _advisory_locks(postgresql_url) == 1
    assert _advisory_locks(postgresql_url) == 0
    # back to the default
    cnb.setup('memory', state_dir=str(tmp_path / 's'))
    assert _cinder.coordination_url().startswith('file://')


@pytest.mark.postgresql
def test_lock_held_by_another_process_and_freed_by_its_kill(tmp_path, postgresql_url):
    _pg_needed()
    cnb.setup('memory', state_dir=str(tmp_path / 'me'), coordination_url=postgresql_url)
    child = _holder(postgresql_url, tmp_path, 'held-by-child')
    try:
        line = child.stdout.readline()
        assert line.strip() == 'locked', child.stderr.read()[-2000:]
        lock = _cinder.lock('held-by-child')
        assert not lock.acquire(blocking=False)          # the other process has it
        child.kill()                                      # SIGKILL: no release, no clean-up
        child.wait(10)
        t0 = time.monotonic()
        while not lock.acquire(blocking=False):
            assert time.monotonic() - t0 < 10, 'the dead process still holds the lock after 10 s'
            time.sleep(0.05)
        print(f'lock free {time.monotonic() - t0:.3f} s after kill -9 of its holder')
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_bad_coordination_urls_are_refused_and_change_nothing(tmp_path):
    cnb.setup('memory', state_dir=str(tmp_path / 'ok'))
    before_rt, before_url = _runtime.get(), _cinder.coordination_url()
    for bad in (123, 'nothing', 'nosuch://host/x'):
        with pytest.raises(InvalidArgument):
            cnb.setup('memory', state_dir=str(tmp_path / 'x'), coordination_url=bad)
    with pytest.raises(PersistenceError) as info:
        cnb.setup('memory', state_dir=str(tmp_path / 'x'),
                  coordination_url='postgresql://someone:s3cr3t-pw@127.0.0.1:1/db')
    text = ''.join(traceback.format_exception(info.value))
    assert 's3cr3t-pw' not in text and 's3cr3t-pw' not in repr(info.value.args)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert 'someone:***@127.0.0.1:1' in str(info.value)
    assert _runtime.get() is before_rt and _cinder.coordination_url() == before_url
    with _cinder.lock('still-works'):
        pass


@pytest.mark.postgresql
def test_embedded_driver_waits_for_the_volume_lock_held_by_another_host(tmp_path, postgresql_url):
    """The embedded driver locks each volume file (Cinder's coordination): an extend waits
    while another process holds the volume's lock, and goes on once that process dies."""
    _pg_needed()
    cnb.setup(postgresql_url, state_dir=str(tmp_path / 'me'), coordination_url=postgresql_url)
    lab = cnb.embedded(str(tmp_path / 'volumes'), local_file_attach_mode='file')
    vol = lab.create_volume(1)
    child = _holder(postgresql_url, tmp_path, lab.driver.file_lock_name(vol.id))
    try:
        assert child.stdout.readline().strip() == 'locked', child.stderr.read()[-2000:]
        done = threading.Event()
        worker = threading.Thread(target=lambda: (vol.extend(2), done.set()))
        worker.start()
        assert not done.wait(1.0)                          # blocked by the other process's lock
        assert os.path.getsize(vol.provider_location) == 1 << 30
        child.kill()
        child.wait(10)
        assert done.wait(20), 'extend still waits after the lock holder died'
        worker.join()
        assert os.path.getsize(vol.provider_location) == 2 << 30 and vol.size == 2
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_snapshot_copies_exactly_the_size_it_records(tmp_path):
    """An extend that lands between a snapshot's record and its copy (another host's) must
    not give a snapshot file larger than its volume_size: record and storage agree."""
    cnb.setup('memory', state_dir=str(tmp_path / 's'))
    lab = cnb.embedded(str(tmp_path / 'volumes'), local_file_attach_mode='file')
    vol = lab.create_volume(1)
    os.truncate(vol.provider_location, 2 << 30)     # the file grew after vol.size was read
    snap = vol.create_snapshot()
    assert snap.volume_size == 1
    assert os.path.getsize(snap.record['driver_data']['provider_location']) == 1 << 30
