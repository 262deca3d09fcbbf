"""bin/lab opens JupyterLab on the quick start; binder/ installs what the notebooks need."""
from __future__ import annotations

import os
import re
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_bin_lab_serves_the_quickstart(tmp_path):
    if not (ROOT / '.venv' / 'bin' / 'jupyter').exists():
        pytest.skip('no .venv with jupyter: bin/lab would install it first (too slow for the suite)')
    port, token = free_port(), 'bin-lab-test-token'
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


def test_binder_apt_packages_are_ci_packages_too():
    """binder/apt.txt (repo2docker's Debian packages) lists fio for the performance lab; CI installs the same."""
    def names(path: Path) -> set[str]:
        return {line.split('#')[0].strip() for line in path.read_text().splitlines()} - {''}
    binder = names(ROOT / 'binder' / 'apt.txt')
    assert 'fio' in binder
    assert binder <= names(ROOT / '.ci' / 'apt-packages')


_NETWORK_ERRORS = re.compile(r'NewConnectionError|Network is unreachable|Temporary failure in name resolution|'
                             r'No matching distribution found|ConnectTimeout|ProxyError')


def test_binder_build_runs_the_quickstart_without_root():
    """What repo2docker does, without root: a fresh venv, binder/requirements.txt, then binder/postBuild
    in a copy of the repository; the quick start then runs headless in that environment."""
    import shutil
    import tempfile
    system = shutil.which('python3', path='/usr/bin:/bin')
    if not system:
        pytest.skip('no system python3 to build a Binder-like environment with')
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which('runuser')
        if not runuser:
            pytest.skip('running as root without runuser: cannot build as an unprivileged user')
        prefix = [runuser, '-u', 'nobody', '--']
    top = Path(tempfile.mkdtemp(prefix='cinder_nb-binder-'))
    try:
        os.chmod(top, 0o755)
        repo, home = top / 'repo', top / 'home'
        shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
            '.git', '.venv*', '.cinder_nb', 'test-artifacts', '__pycache__', '*.egg-info', 'results'))
        home.mkdir()
        if prefix:
            for path in [top, *top.rglob('*')]:
                shutil.chown(path, 'nobody', 'nogroup')
        env = {k: v for k, v in os.environ.items() if k.startswith(('PIP_', 'LANG', 'LC_'))}
        env.update(HOME=str(home), PATH=f'{top}/env/bin:/usr/bin:/bin', TMPDIR=str(top),
                   JUPYTER_RUNTIME_DIR=str(home / 'runtime'))

        def run(*cmd: str, cwd: Path = repo, timeout: int = 900) -> subprocess.CompletedProcess:
            return subprocess.run(prefix + list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=timeout)

        steps = [(system, '-m', 'venv', str(top / 'env')),
                 (str(top / 'env' / 'bin' / 'pip'), 'install', '-q', '-r', 'binder/requirements.txt'),
                 ('binder/postBuild',)]
        for step in steps:
            done = run(*step)
            if done.returncode != 0 and _NETWORK_ERRORS.search(done.stdout + done.stderr):
                pytest.skip(f'the package registry is unreachable: {step[-1]} could not download')
            assert done.returncode == 0, f'{" ".join(step)} failed:\n{(done.stdout + done.stderr)[-3000:]}'
        assert 'ready for Binder' in done.stdout
        out = top / 'quickstart.out.ipynb'
        work = top / 'work'
        run('mkdir', str(work)).check_returncode()
        done = run(str(top / 'env' / 'bin' / 'python'), str(repo / 'tests' / 'notebook' / 'run_notebook.py'),
                   str(repo / 'notebooks' / 'quickstart.ipynb'), str(out), str(work), cwd=work)
        assert done.returncode == 0, f'the quick start failed in the Binder environment:\n{done.stderr[-4000:]}'
        text = out.read_text()
        assert '"output_type": "error"' not in text
        assert 'attached at' in text and 'attached at /dev/loop' not in text   # no root: file attach
    finally:
        shutil.rmtree(top, ignore_errors=True)
