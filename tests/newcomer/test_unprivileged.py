"""The unprivileged runs (notebooks, fio, the tour without root) really are another user."""
from __future__ import annotations

import os
import subprocess

import pytest


def test_unprivileged_runs_cannot_read_roots_private_files(unprivileged, tmp_path):
    if os.geteuid() != 0:
        pytest.skip('the suite is not root: its processes are unprivileged already')
    private = tmp_path / 'private'
    private.write_text('root only')
    os.chmod(private, 0o600)
    unprivileged.own(tmp_path)
    os.chown(tmp_path, 0, 0)          # root's 0755 dir: readable, not writable, for the user
    probe = f'''
import os, cinder_nb, nbclient
try:
    open({str(private)!r}).read()
    print('READ')
except PermissionError:
    print('DENIED')
try:
    open({str(tmp_path / 'new')!r}, 'w')
    print('WROTE')
except PermissionError:
    print('DENIED')
print(os.getuid(), os.geteuid())
'''
    done = subprocess.run(unprivileged.argv('-c', probe), capture_output=True, text=True, timeout=120, cwd='/')
    assert done.returncode == 0, done.stderr[-2000:]
    read, write, ids = done.stdout.split('\n')[:3]
    assert (read, write) == ('DENIED', 'DENIED')
    assert '0' not in ids.split()
