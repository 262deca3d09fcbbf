"""Without root (Binder, a lab account) the embedded backend must work end to end."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cinder_nb import connection


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0 or not shutil.which('runuser'):
        return None
    return 'nobody'


def test_tour_runs_as_unprivileged_user(tmp_path):
    user = _unprivileged_user()
    if user is None:
        pytest.skip('needs root to switch to an unprivileged user (runuser)')
    probe = subprocess.run(['runuser', '-u', user, '--', sys.executable, '-c', 'import cinder_nb'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f'the interpreter {sys.executable} is not usable by {user!r} '
                    f'(e.g. it lives under a 0700 /root): {probe.stderr.strip()[-200:]}')
    workdir = tmp_path / 'tour'
    workdir.mkdir()
    shutil.chown(workdir, user)
    result = subprocess.run(['runuser', '-u', user, '--', sys.executable, '-m', 'cinder_nb',
                             '--dir', str(workdir / 'state')], capture_output=True, text=True,
                            env={'HOME': str(workdir), 'PATH': os.environ['PATH']}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "restored volume reads b'first version'" in result.stdout
    assert 'attach mode file' in result.stdout


def test_local_connector_without_root_skips_privileged_probes(monkeypatch):
    # Unit test of our branch: as non-root, os-brick's per-protocol probes are not called.
    import os_brick.initiator.connector as brick_connector

    def forbidden(*a, **kw):
        raise AssertionError('os-brick probes need privsep (root)')
    monkeypatch.setattr(brick_connector, 'get_connector_properties', forbidden)
    monkeypatch.setattr(os, 'geteuid', lambda: 1000)
    props = connection.local_connector()
    assert props['host'] and props['multipath'] is False and props['os_type'] == sys.platform
