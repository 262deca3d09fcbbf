"""The LVM/iSCSI lab notebook (notebooks/lvm-iscsi-lab.ipynb) executed headless in the guest,
as a learner would run it on a Linux machine: nbclient starts a python3 kernel, the notebook
makes its own throw-away volume group on a loop device and removes it at the end. Runs inside
the test guest (see tests/kernel/conftest.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat

from tests.kernel.guest.conftest import REPO, iscsi_sessions, sh

NOTEBOOK = os.path.join(REPO, 'notebooks', 'lvm-iscsi-lab.ipynb')
RUNNER = os.path.join(REPO, 'tests', 'notebook', 'run_notebook.py')


def test_lvm_iscsi_lab_notebook_runs(tmp_path):
    loops_before = sh('losetup', '-a')
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'), TMPDIR=str(tmp_path))
    env.pop('CINDER_NB_LVM_VG', None)
    out = tmp_path / 'out.ipynb'
    proc = subprocess.run([sys.executable, RUNNER, NOTEBOOK, str(out), str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=900, cwd=str(tmp_path))
    assert proc.returncode == 0, f'the notebook failed:\n{proc.stderr[-4000:]}'
    executed = nbformat.read(out, as_version=4)
    text = json.dumps([c.get('outputs', []) for c in executed.cells])
    assert 'Traceback' not in text and '"output_type": "error"' not in text
    checks = sum(c.source.count('check(') for c in executed.cells if c.cell_type == 'code') - 1   # minus the def
    assert text.count('PASS  ') == checks and 'FAIL  ' not in text, text[-3000:]
    assert 'made the throw-away volume group cinder-lab' in text and 'removed the throw-away volume group' in text
    # nothing left: no volume group, loop device or iSCSI session of the lab
    assert subprocess.run(['vgs', 'cinder-lab'], capture_output=True).returncode != 0
    assert sh('losetup', '-a') == loops_before
    assert iscsi_sessions() == []
