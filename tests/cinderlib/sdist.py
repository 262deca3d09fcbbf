"""cinderlib 5.2.0's sdist from the package registry, downloaded once and unpacked into a cache.

Its code is never copied into this repository: the tests fetch it with pip at test time.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile

VERSION = '5.2.0'
CACHE = os.environ.get('CINDER_NB_TEST_CACHE') or os.path.join(
    os.path.expanduser('~'), '.cache', 'cinder_nb-tests')


def cinderlib_sdist() -> tuple[str | None, str]:
    """(path of the unpacked cinderlib-5.2.0 tree, '') or (None, why it is unavailable)."""
    root = os.path.join(CACHE, f'cinderlib-{VERSION}')
    done = os.path.join(root, '.unpacked')
    if os.path.exists(done):
        return os.path.join(root, f'cinderlib-{VERSION}'), ''
    os.makedirs(root, exist_ok=True)
    result = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:',
                             f'cinderlib=={VERSION}', '-d', root, '-q'],
                            capture_output=True, text=True, timeout=300)
    archives = glob.glob(os.path.join(root, f'cinderlib-{VERSION}.tar.gz'))
    if result.returncode != 0 or not archives:
        return None, ('cannot download the cinderlib 5.2.0 sdist from the package registry: '
                      + (result.stderr or result.stdout).strip()[-400:])
    with tarfile.open(archives[0]) as tar:
        tar.extractall(root, filter='data')
    open(done, 'w').close()
    return os.path.join(root, f'cinderlib-{VERSION}'), ''
