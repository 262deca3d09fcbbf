"""bin/lab opens JupyterLab on the quick start; binder/ installs what the notebooks need."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_bin_lab_serves_the_quickstart(tmp_path):
    if not (ROOT / '.venv' / 'bin' / 'jupyter').exists():
        pytest.skip('no .venv with jupyter: bin/lab would install it first (too slow for the suite)')
    port, token = _free_port(), 'bin-lab-test-token'
    env = dict(os.environ, HOME=str(tmp_path), JUPYTER_RUNTIME_DIR=str(tmp_path / 'runtime'))
    log = tmp_path / 'lab.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen([str(ROOT / 'bin' / 'lab'), '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                                 f'--IdentityProvider.token={token}', '--ServerApp.port_retries=0'],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if f'http://127.0.0.1:{port}/lab' in log.read_text():
                break
            time.sleep(0.2)
        output = log.read_text()
        assert f'http://127.0.0.1:{port}/lab' in output, output[-3000:]
        assert 'notebooks/quickstart.ipynb' in output
        assert f'Serving notebooks from local directory: {ROOT / "notebooks"}' in output
        url = f'http://127.0.0.1:{port}/api/contents/quickstart.ipynb?content=0&token={token}'
        for _ in range(50):
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = r.read().decode()
                break
            except OSError as exc:
                error = exc
                time.sleep(0.2)
        else:
            pytest.fail(f'bin/lab printed its URL but does not answer: {error}\n{output[-2000:]}')
        assert re.search(r'"type":\s*"notebook"', body)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_binder_files_install_the_notebook_extra():
    binder = ROOT / 'binder'
    post = binder / 'postBuild'
    assert os.access(post, os.X_OK), 'binder/postBuild must be executable'
    assert re.search(r'pip install .*-e "\.\[notebook\]"', post.read_text())
    py = re.fullmatch(r'python-(\d+)\.(\d+)\s*', (binder / 'runtime.txt').read_text())
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    need = re.search(r'>=\s*(\d+)\.(\d+)', project['requires-python'])
    assert py and (int(py[1]), int(py[2])) >= (int(need[1]), int(need[2]))
    extra = ' '.join(project['optional-dependencies']['notebook'])
    for req in (binder / 'requirements.txt').read_text().splitlines():
        req = req.split('#')[0].strip()
        if req:
            assert re.match(r'[A-Za-z0-9_.-]+', req)[0] in extra, f'{req} not in the notebook extra'
