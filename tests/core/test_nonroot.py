"""Without root (Binder, a lab account) the embedded backend must work end to end."""
from __future__ import annotations

import os
import subprocess
import sys


from cinder_nb import connection


def test_tour_runs_as_unprivileged_user(open_tmp_path, unprivileged):
    workdir = open_tmp_path / 'tour'
    workdir.mkdir()
    unprivileged.own(workdir)
    result = subprocess.run(unprivileged.argv('-m', 'cinder_nb', '--dir', str(workdir / 'state')),
                            capture_output=True, text=True,
                            env={'HOME': str(workdir), 'PATH': os.environ['PATH']}, timeout=300, cwd='/')
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
