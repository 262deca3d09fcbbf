"""A newcomer's first steps, scripted: the install, the launchers, what they leave behind."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: what pip and setuptools print when something is off (deprecations, editable-install caveats)
WARNING = re.compile(r'warning|deprecat', re.IGNORECASE)
_NETWORK_ERRORS = re.compile(r'NewConnectionError|Network is unreachable|Temporary failure in name resolution|'
                             r'No matching distribution found|ConnectTimeout|ProxyError')


def test_a_script_beside_a_clone_named_cinder_nb_imports_the_install(tmp_path):
    """A clone folder named cinder_nb in the working directory is not a (namespace) package that
    shadows the installed one: the script gets the real cinder_nb, from the checkout."""
    (tmp_path / 'cinder_nb').symlink_to(ROOT, target_is_directory=True)   # the clone, next to the script
    (tmp_path / 'script.py').write_text(textwrap.dedent(f'''
        import cinder_nb
        cinder_nb.setup('memory', state_dir={str(tmp_path / 'state')!r})
        print(cinder_nb.__file__)
    '''))
    for argv in ([sys.executable, 'script.py'], [sys.executable, '-c', 'import cinder_nb; print(cinder_nb.__file__)']):
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip().splitlines()[-1] == str(ROOT / 'cinder_nb' / '__init__.py')


FAKE_PYTHON = '''#!/usr/bin/env bash
# a stand-in interpreter: records how it was called; "-m venv DIR" makes DIR/bin/{python,jupyter,ruff,mypy}
echo "$*" >> "$FAKE_LOG"
if [ "${1:-} ${2:-}" = "-m venv" ]; then
    mkdir -p "$3/bin" && for tool in python jupyter ruff mypy; do cp "$0" "$3/bin/$tool"; done
fi
[ "${1:-}" = "--version" ] && echo "Python 3.11.0"
exit 0
'''


def test_every_command_shares_one_install(tmp_path):
    """bin/demo, bin/test and bin/lab in any order: one install into .venv, not one per switch
    (scripted with a stand-in interpreter that records each pip call)."""
    proj = tmp_path / 'proj'
    shutil.copytree(ROOT / 'bin', proj / 'bin')
    shutil.copy(ROOT / 'pyproject.toml', proj)
    fake = tmp_path / 'fakebin'
    fake.mkdir()
    (fake / 'python3').write_text(FAKE_PYTHON)
    os.chmod(fake / 'python3', 0o755)
    log = tmp_path / 'calls.log'
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'CINDER_NB_EXTRAS')}
    env.update(PATH=f'{fake}:{os.environ["PATH"]}', FAKE_LOG=str(log))
    for command in ('demo', 'test', 'lab', 'demo', 'test'):
        done = subprocess.run([str(proj / 'bin' / command)], cwd=proj, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f'bin/{command}: {done.stderr[-2000:]}'
    installs = [line for line in log.read_text().splitlines() if line.startswith('-m pip install -q -e')]
    assert installs == ['-m pip install -q -e .[bench,notebook,postgresql,test]']
    # the last call of each command is the command itself
    ran = [line for line in log.read_text().splitlines() if 'pip' not in line and 'venv' not in line
           and line and not line.startswith(('-c', '--version', 'check '))]
    assert ran[0].startswith('-m cinder_nb') and ran[1].startswith('-m pytest') and ran[2].startswith('lab ')


@pytest.mark.slow
def test_the_editable_install_prints_no_warnings(tmp_path):
    """What bin/setup-venv runs (pip install -q -e .), into a throwaway venv: silent, and the
    checkout is put on sys.path by a static .pth (not an import hook a cwd folder would shadow)."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    # pip --python: this pip, that environment (an install here would replace the suite's own)
    done = subprocess.run([sys.executable, '-m', 'pip', '--python', str(venv / 'bin' / 'python'), 'install', '-q',
                           '--no-deps', '-e', str(ROOT)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))
    output = done.stdout + done.stderr
    if done.returncode != 0 and _NETWORK_ERRORS.search(output):
        pytest.skip('the package registry is unreachable: the build backend could not be fetched')
    assert done.returncode == 0, output[-3000:]
    assert not WARNING.search(output), output[-3000:]
    pth = [p.read_text().strip() for p in venv.rglob('__editable__*.pth')]
    assert pth == [str(ROOT)], pth


@pytest.mark.slow
def test_bin_demo_leaves_no_temp_dir_unless_kept(tmp_path):
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    done = subprocess.run([str(ROOT / 'bin' / 'demo')], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'Tour finished' in done.stdout
    assert '== installing' not in done.stdout, 'bin/demo reinstalled what bin/test had installed'
    assert not WARNING.search(done.stdout + done.stderr), (done.stdout + done.stderr)[-3000:]
    assert os.listdir(tmp) == []
    kept = subprocess.run([str(ROOT / 'bin' / 'demo'), '--keep'], capture_output=True, text=True, timeout=600,
                          env=env)
    assert kept.returncode == 0, kept.stderr[-3000:]
    where = re.search(r'^Kept (\S+)$', kept.stdout, re.MULTILINE)
    assert where and os.path.isdir(where[1]) and os.path.dirname(where[1]) == str(tmp)
    shutil.rmtree(where[1])


def test_the_package_ships_its_type_information():
    """py.typed (PEP 561) is in the package and in its package data, so a wheel carries it."""
    import tomllib
    assert (ROOT / 'cinder_nb' / 'py.typed').is_file()
    data = tomllib.loads((ROOT / 'pyproject.toml').read_text())['tool']['setuptools']['package-data']
    assert 'py.typed' in data['cinder_nb']
