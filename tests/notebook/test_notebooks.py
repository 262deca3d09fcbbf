"""Every notebook in notebooks/ runs headless, as root (loop devices) and without root (file attach)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
RUNNER = Path(__file__).with_name('run_notebook.py')
CEPH_SCRIPT = ROOT / 'tests' / 'ceph' / 'micro-ceph.sh'
SECRET_LIKE = re.compile(r'(password|passwd|secret|token|keyring)\s*[=:]\s*["\'][^"\'*]+["\']', re.IGNORECASE)


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
    """Each notebook runs, as root (loop devices) and as a real unprivileged user (file attach), and
    leaves nothing behind: no temp dir of its own, nothing written into its working directory."""
    if user == 'nonroot':
        tmp_path = request.getfixturevalue('open_tmp_path')
    workdir = tmp_path / 'work'
    workdir.mkdir()
    out = tmp_path / path.name
    tmp = tmp_path / 'tmp'          # the kernel's TMPDIR: what is left there afterwards is litter
    tmp.mkdir()
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'),
               TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE='1')
    env.pop('CINDER_NB_ATTACH_MODE', None)
    if path.stem == 'lvm-iscsi-lab':
        pytest.skip('needs device-mapper, LIO and open-iscsi in the kernel: executed inside the guest kernel '
                    'by tests/kernel/guest/guest_notebook.py')
    ceph_dir = None
    if path.stem == 'ceph-lab':
        if user != 'root':
            pytest.skip('the Ceph lab runs as root only here: rbd-fuse mounts and the test cluster\'s '
                        'keyring (0600, root) need root')
        request.getfixturevalue('ceph_cluster')   # skips with the reason if Ceph cannot start here
        # no cluster given: the lab starts its own (own dir, free ports) and its clean-up stops it
        env = {k: v for k, v in env.items() if not k.startswith('CINDER_NB_CEPH_')}
        ceph_dir = tempfile.mkdtemp(prefix='cnb-lab-ceph-')   # short: Ceph's socket paths
        os.rmdir(ceph_dir)
        env.update(CEPH_DIR=ceph_dir, CEPH_MON_PORT=str(free_port()), CEPH_MON_V2_PORT=str(free_port()))
    if user == 'root':
        if os.geteuid() != 0:
            pytest.skip('not running as root: the loop-device run needs root')
        argv = [sys.executable, str(RUNNER), str(path), str(out), str(workdir)]
    else:
        runner = request.getfixturevalue('unprivileged')   # fails (not skips) when it cannot be arranged
        runner.own(tmp_path, workdir, tmp)
        argv = runner.argv(str(RUNNER), str(path), str(out), str(workdir))
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, cwd=str(workdir))
        assert result.returncode == 0, f'{path.name} failed ({user}):\n{result.stderr[-4000:]}'
        if ceph_dir is not None:
            assert not os.path.exists(ceph_dir), 'the lab left the Ceph cluster it started running'
    finally:
        if ceph_dir is not None and os.path.exists(ceph_dir):
            subprocess.run(['bash', str(CEPH_SCRIPT), 'stop'], env=dict(os.environ, CEPH_DIR=ceph_dir),
                           capture_output=True, timeout=120)
    assert sorted(os.listdir(workdir)) == [], 'the notebook wrote into its working directory'
    caches = ('cinder_nb-rbd-fuse', 'cinder_nb-ceph-bindings-')    # cinder_nb's own, reused by every run
    litter = [n for n in os.listdir(tmp) if n.startswith(('cinder-nb-', 'cinder_nb-')) and not n.startswith(caches)]
    assert litter == [], f'temp dirs left behind: {litter}'
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
