"""A real single-node Ceph cluster for the session (tests/ceph/micro-ceph.sh), started on first use.

Loaded through tests/fixtures/services.py so any test (the RBD tests, the Ceph lab notebook) can ask for it.
"""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.helpers import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, 'micro-ceph.sh')


def _start() -> tuple[dict | None, str]:
    if os.geteuid() != 0:
        return None, 'starting Ceph daemons and installing its packages needs root'
    t0 = time.monotonic()
    # free ports, so a lab cluster already on Ceph's default ports does not stop the tests
    env = dict(os.environ, CEPH_DIR=os.environ.get('CEPH_DIR', '/tmp/cinder_nb-ceph-tests'),
               CEPH_MON_PORT=str(free_port()), CEPH_MON_V2_PORT=str(free_port()))
    result = subprocess.run(['bash', SCRIPT, 'start'], capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        return None, f'the Ceph cluster did not start: {(result.stderr or result.stdout).strip()[-800:]}'
    values = {}
    for line in result.stdout.splitlines():
        if line.startswith('export '):
            key, _, value = line[len('export '):].partition('=')
            values[key] = value
    from cinder_nb import ceph
    if not ceph.ensure_bindings():
        return None, 'the rados/rbd Python bindings (python3-rados, python3-rbd) are not importable'
    values['start_seconds'] = round(time.monotonic() - t0, 1)
    values['CEPH_DIR'] = env['CEPH_DIR']
    return values, ''


@pytest.fixture(scope='session')
def ceph_cluster():
    """Connection facts of the running cluster; skips the test with the reason if it cannot start."""
    values, why = _start()
    if values is None:
        pytest.skip(why)
    print(f"\n[ceph] cluster up in {values['start_seconds']} s at {values['CINDER_NB_CEPH_CONF']}")
    yield values
    from cinder_nb import ceph
    ceph.unmount_all()
    subprocess.run(['bash', SCRIPT, 'stop'], env=dict(os.environ, CEPH_DIR=values['CEPH_DIR']),
                   capture_output=True, timeout=120)


@pytest.fixture
def rbd_backend(session, ceph_cluster):
    """Cinder's own RBDDriver on the test cluster, in a fresh cinder_nb session."""
    import cinder_nb as cnb
    return cnb.Backend('ceph', volume_driver='cinder.volume.drivers.rbd.RBDDriver',
                       rbd_pool=ceph_cluster['CINDER_NB_CEPH_POOL'], rbd_user=ceph_cluster['CINDER_NB_CEPH_USER'],
                       rbd_ceph_conf=ceph_cluster['CINDER_NB_CEPH_CONF'],
                       rbd_keyring_conf=ceph_cluster['CINDER_NB_CEPH_KEYRING'])
