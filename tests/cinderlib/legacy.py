"""A venv with the REAL cinderlib 5.2.0 (the recipe of bench/run.sh), built once into the test cache.

Cinder 23.5 (2023.2) needs that release's SQLAlchemy 1.4 / oslo.db / alembic for its
database and oslo.versionedobjects 3.2.0 for cinderlib's serialization; psycopg2 lets its
``db`` persistence use PostgreSQL. The embedded driver comes from this checkout (PYTHONPATH).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.cinderlib.sdist import CACHE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(CACHE, 'venv-cinderlib-5.2.0')
REQUIREMENTS = ['cinderlib==5.2.0', 'cinder==23.5.0', 'oslo.versionedobjects==3.2.0', 'SQLAlchemy==1.4.49',
                'oslo.db==14.1.0', 'alembic==1.12.0', 'psycopg2-binary']
WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'legacy_writer.py')


def _python() -> str:
    return os.path.join(VENV, 'bin', 'python')


def _works() -> bool:
    return os.path.exists(_python()) and subprocess.run(
        [_python(), '-c', 'import cinderlib, psycopg2, cinder_nb.drivers.localfile'],
        env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, timeout=300).returncode == 0


def cinderlib_python() -> tuple[str | None, str]:
    """(python of the cinderlib 5.2.0 venv, '') or (None, why it could not be built)."""
    stamp = os.path.join(VENV, '.requirements')
    if os.path.exists(stamp) and open(stamp).read() == json.dumps(REQUIREMENTS) and _works():
        return _python(), ''
    shutil.rmtree(VENV, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    steps = [[sys.executable, '-m', 'venv', VENV], [_python(), '-m', 'pip', 'install', '-q', *REQUIREMENTS]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=1200)
        if result.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            return None, ('cannot build the cinderlib 5.2.0 venv from the package registry: '
                          + (result.stderr or result.stdout).strip()[-600:])
    if not _works():
        return None, 'the cinderlib 5.2.0 venv was built but cinderlib does not import'
    with open(stamp, 'w') as f:
        f.write(json.dumps(REQUIREMENTS))
    return _python(), ''


def write_legacy_state(python: str, persistence: dict, volumes: str, locks: str) -> dict:
    """Run legacy_writer.py under real cinderlib; returns its ids and cinderlib.dumps()."""
    proc = subprocess.run([python, WRITER, json.dumps(persistence), volumes, locks],
                          env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=600, cwd=locks if os.path.isdir(locks) else None)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
