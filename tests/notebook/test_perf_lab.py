"""The performance lab's check cells are real: a learner who skips a step sees FAIL and the run stops there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name('run_notebook.py')


@pytest.mark.skipif(shutil.which('fio') is None, reason='fio is not installed (apt-get install fio)')
def test_perf_lab_checks_catch_a_skipped_step(tmp_path):
    notebook = nbformat.read(ROOT / 'notebooks' / 'explore-performance.ipynb', as_version=4)
    step = next(c for c in notebook.cells if "bench.create_snapshot(name=f'snap-{i}')" in c.source)
    step.source = step.source.replace("bench.create_snapshot(name=f'snap-{i}')", 'pass  # forgot the snapshot')
    wrong = tmp_path / 'wrong.ipynb'
    nbformat.write(notebook, wrong)
    out = tmp_path / 'out.ipynb'
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'),
               CINDER_NB_ATTACH_MODE='file', CINDER_NB_FIO_RUNTIME='1')
    result = subprocess.run([sys.executable, str(RUNNER), str(wrong), str(out), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 1, result.stderr[-3000:]
    text = json.dumps([c.get('outputs', []) for c in nbformat.read(out, as_version=4).cells])
    assert 'PASS  bench is detached after fio' in text
    assert 'FAIL  bench has three snapshots  ->  bench.create_snapshot() three times' in text
    assert 'AssertionError' in result.stderr
