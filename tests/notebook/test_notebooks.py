"""Every notebook in notebooks/ runs headless, as root (loop devices) and without root (file attach)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
RUNNER = Path(__file__).with_name('run_notebook.py')
SECRET_LIKE = re.compile(r'(password|passwd|secret|token|keyring)\s*[=:]\s*["\'][^"\'*]+["\']', re.IGNORECASE)


def _works(prefix: list[str]) -> bool:
    try:
        return subprocess.run(prefix + [sys.executable, '-c', 'import cinder_nb, nbclient, ipykernel'],
                              capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def nonroot_prefix() -> tuple[list[str] | None, str]:
    """How to run a process without root: as nobody, else in a user namespace (euid 65534, no host caps)."""
    if os.geteuid() != 0:
        return [], 'already not root'
    if shutil.which('runuser') and _works(['runuser', '-u', 'nobody', '--']):
        return ['runuser', '-u', 'nobody', '--'], 'nobody'
    if shutil.which('unshare') and _works(['unshare', '--user']):
        return ['unshare', '--user'], 'user namespace'
    return None, 'neither runuser nor unshare --user can run this interpreter without root'


def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert {'quickstart.ipynb', 'multi-backend.ipynb', 'lab-snapshots-and-clones.ipynb', 'ceph-lab.ipynb',
            'explore-performance.ipynb'} <= names


@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_clean(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == 'code':
            assert cell.outputs == [] and cell.execution_count is None, f'{path.name}: outputs not cleared'
        assert not SECRET_LIKE.search(cell.source), f'{path.name}: a password-like literal in a cell'
    assert notebook.metadata.kernelspec.name == 'python3'


@pytest.mark.parametrize('user', ['root', 'nonroot'])
@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless(path, user, tmp_path, request):
    workdir = tmp_path / 'work'
    workdir.mkdir()
    out = tmp_path / path.name
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'),
               TMPDIR=str(tmp_path), PYTHONDONTWRITEBYTECODE='1')
    env.pop('CINDER_NB_ATTACH_MODE', None)
    if path.stem == 'lvm-iscsi-lab':
        pytest.skip('needs device-mapper, LIO and open-iscsi in the kernel: executed inside the guest kernel '
                    'by tests/kernel/guest/guest_notebook.py')
    if path.stem == 'ceph-lab':
        if user != 'root':
            pytest.skip('the Ceph lab runs as root only here: rbd-fuse mounts and the test cluster\'s '
                        'keyring (0600, root) need root')
        cluster = request.getfixturevalue('ceph_cluster')   # skips with the reason if Ceph cannot start
        env.update({k: v for k, v in cluster.items() if k.startswith('CINDER_NB_CEPH_')})
    if user == 'root':
        prefix: list[str] | None = []
        if os.geteuid() != 0:
            pytest.skip('not running as root: the loop-device run needs root')
    else:
        prefix, how = nonroot_prefix()
        if prefix is None:
            pytest.skip(how)
        if prefix[:1] == ['runuser']:
            shutil.chown(tmp_path, 'nobody')
            shutil.chown(workdir, 'nobody')
    result = subprocess.run(prefix + [sys.executable, str(RUNNER), str(path), str(out), str(workdir)],
                            capture_output=True, text=True, env=env, timeout=600, cwd=str(workdir))
    assert result.returncode == 0, f'{path.name} failed ({user}):\n{result.stderr[-4000:]}'
    executed = nbformat.read(out, as_version=4)
    text = json.dumps([c.get('outputs', []) for c in executed.cells])
    assert 'Traceback' not in text and '"output_type": "error"' not in text
    # the attach paths show which mode ran: never a loop device without root; as root with loop
    # devices the 'auto' mode gives at least one /dev/loopN
    paths = re.findall(r'attached at (\S+?)(?:\\n|")', text)
    if paths and user == 'nonroot':
        assert not any(p.startswith('/dev/loop') for p in paths), paths
    if paths and user == 'root':
        from cinder_nb.drivers.localfile import loop_devices_available
        assert any(p.startswith('/dev/loop') for p in paths) == loop_devices_available(), paths


def test_lab_checks_catch_a_wrong_answer(tmp_path):
    """The lab's check cells are real: a learner who skips a step sees FAIL and the run stops there."""
    src = ROOT / 'notebooks' / 'lab-snapshots-and-clones.ipynb'
    notebook = nbformat.read(src, as_version=4)
    step = next(c for c in notebook.cells if "write_volume(golden, b'version 2')" in c.source)
    step.source = step.source.replace("write_volume(golden, b'version 2')", 'pass  # forgot to write')
    wrong = tmp_path / 'wrong.ipynb'
    nbformat.write(notebook, wrong)
    out = tmp_path / 'out.ipynb'
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'),
               CINDER_NB_ATTACH_MODE='file')
    result = subprocess.run([sys.executable, str(RUNNER), str(wrong), str(out), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 1
    text = json.dumps([c.get('outputs', []) for c in nbformat.read(out, as_version=4).cells])
    assert "PASS  snapshot v1 is available" in text
    assert "FAIL  golden now holds b'version 2'  ->  write the new data after taking the snapshot" in text
    assert 'AssertionError' in result.stderr
