"""The other process of test_file_locks (``python -m tests.state.lock_worker MODE LOCK_DIR NAME``).

NAME is the full tooz name (``cinder-nb-...``). MODE:

- ``tooz-hold``: takes the lock through tooz's own file driver (``file://LOCK_DIR``), as an
  older cinder_nb or Cinder's code would; prints ``locked``, holds it until a line arrives
  on stdin, releases it and prints ``released``.
- ``kept-hold``: the same through cinder_nb's ``_cinder.lock`` (set up with
  ``coordination_url='file://LOCK_DIR'``).
- ``tooz-try`` / ``kept-try``: one non-blocking attempt; prints ``True`` (taken, then
  released) or ``False``.
"""
from __future__ import annotations

import os
import sys
import tempfile


def _tooz_lock(lock_dir: str, name: str):
    from tooz import coordination
    coord = coordination.get_coordinator('file://' + lock_dir, f'lock-worker-{os.getpid()}'.encode())
    coord.start()
    return coord.get_lock(name.encode())


def _kept_lock(lock_dir: str, name: str):
    import cinder_nb as cnb
    from cinder_nb import _cinder
    cnb.setup('memory', state_dir=tempfile.mkdtemp(prefix='lock-worker-'), coordination_url='file://' + lock_dir)
    assert name.startswith('cinder-nb-')
    return _cinder.lock(name[len('cinder-nb-'):])


def main(mode: str, lock_dir: str, name: str) -> None:
    how, what = mode.split('-')
    lock = (_tooz_lock if how == 'tooz' else _kept_lock)(lock_dir, name)
    if what == 'try':
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        print(got, flush=True)
        return
    assert lock.acquire()
    print('locked', flush=True)
    sys.stdin.readline()
    lock.release()
    print('released', flush=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
