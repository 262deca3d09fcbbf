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


def _python_for(user: str, tmp_path) -> tuple[str | None, str]:
    """An interpreter the unprivileged user can run with this project's packages importable.

    The project venv's interpreter may live under a 0700 /root (pyenv); then a throwaway
    venv of the system python3 (same minor version) gets a .pth file pointing at the
    project venv's site-packages, so the same package code runs.
    """
    def works(python: str) -> tuple[bool, str]:
        probe = subprocess.run(['runuser', '-u', user, '--', python, '-c', 'import cinder_nb'],
                               capture_output=True, text=True, cwd='/')
        return probe.returncode == 0, probe.stderr.strip()[-300:]
    ok, why = works(sys.executable)
    if ok:
        return sys.executable, ''
    system = shutil.which('python3', path='/usr/bin:/bin')
    if not system or subprocess.run([system, '-c', f'import sys; assert sys.version_info[:2] == {sys.version_info[:2]}'],
                                    capture_output=True).returncode != 0:
        return None, f'{sys.executable} is not usable by {user!r} ({why}) and no system python3.{sys.version_info[1]}'
    venv_dir = tmp_path / 'sysvenv'
    subprocess.run([system, '-m', 'venv', '--without-pip', str(venv_dir)], check=True)
    site = next((venv_dir / 'lib').glob('python3*/site-packages'))
    import cinder_nb
    project_site = [p for p in sys.path if p.endswith('site-packages') and os.path.isdir(p)]
    repo = os.path.dirname(os.path.dirname(cinder_nb.__file__))
    (site / 'project.pth').write_text('\n'.join(project_site + [repo]) + '\n')
    for d in [tmp_path, venv_dir]:
        os.chmod(d, 0o755)
    python = str(venv_dir / 'bin' / 'python3')
    ok, why2 = works(python)
    return (python, '') if ok else (None, f'neither {sys.executable} nor a system-python venv works for {user!r}: {why2}')


@pytest.fixture
def open_tmp():
    """A temp dir the unprivileged user can reach (pytest's own tmp_path is 0700 root)."""
    import tempfile
    from pathlib import Path
    path = tempfile.mkdtemp(prefix='cinder_nb-nonroot-')
    os.chmod(path, 0o755)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_tour_runs_as_unprivileged_user(open_tmp):
    tmp_path = open_tmp
    user = _unprivileged_user()
    if user is None:
        pytest.skip('needs root to switch to an unprivileged user (runuser)')
    python, why = _python_for(user, tmp_path)
    if python is None:
        pytest.skip(why)
    workdir = tmp_path / 'tour'
    workdir.mkdir()
    shutil.chown(workdir, user)
    result = subprocess.run(['runuser', '-u', user, '--', python, '-m', 'cinder_nb',
                             '--dir', str(workdir / 'state')], capture_output=True, text=True,
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
