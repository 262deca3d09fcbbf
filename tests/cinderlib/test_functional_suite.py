"""cinderlib 5.2.0's own functional suite (test_basic.py + base_tests.py), unmodified, on cinder_nb.

The suite comes from cinderlib's sdist on the package registry (tests/cinderlib/sdist.py) and
runs in a fresh process where ``import cinderlib`` gives cinder_nb.cinderlib
(tests/cinderlib/run_suite.py). It is configured the way cinderlib's gate configured it: a
YAML file of backends in $CL_FTEST_CFG.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.helpers import LOOP_OK, NO_LOOP_REASON

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: tests in cinderlib 5.2.0's test_basic.py for one backend: 3 list_supported_drivers + 14 per backend
EXPECTED_TESTS = 17


def run_suite(source: str, tmp_path, backend: dict) -> dict:
    """Run the suite against one backend config; returns the junit counts and the output."""
    config = tmp_path / 'cinderlib-tests.yaml'
    config.write_text(yaml.safe_dump({'logs': False, 'debug': False, 'backends': [backend]}))
    junit = tmp_path / 'junit.xml'
    proc = subprocess.run([sys.executable, '-m', 'tests.cinderlib.run_suite', source, str(config), str(junit)],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, CINDER_NB_STATE_DIR=str(tmp_path / 'state')))
    out = proc.stdout + proc.stderr
    assert junit.exists(), f'the suite did not run:\n{out[-3000:]}'
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
    counts = {k: int(suite.get(k, 0)) for k in ('tests', 'failures', 'errors', 'skipped')}
    counts['passed'] = counts['tests'] - counts['failures'] - counts['errors'] - counts['skipped']
    counts['failed_names'] = [c.get('name') for c in suite.iter('testcase')
                              if c.find('failure') is not None or c.find('error') is not None]
    counts['returncode'], counts['output'] = proc.returncode, out
    print(f"\ncinderlib 5.2.0 functional suite on {backend['volume_backend_name']}: "
          f"{counts['passed']}/{counts['tests']} passed, {counts['failures']} failed, "
          f"{counts['errors']} errors, {counts['skipped']} skipped")
    return counts


def _assert_all_passed(counts: dict) -> None:
    assert counts['tests'] == EXPECTED_TESTS, counts['output'][-3000:]
    assert counts['passed'] == EXPECTED_TESTS and counts['returncode'] == 0, (
        f"failed: {counts['failed_names']}\n{counts['output'][-6000:]}")


@pytest.mark.skipif(not LOOP_OK, reason=f'the suite reads sizes with lsblk on block devices: {NO_LOOP_REASON}')
def test_cinderlib_suite_on_embedded_backend(cinderlib_source, tmp_path):
    volumes = tmp_path / 'volumes'
    counts = run_suite(cinderlib_source, tmp_path, {
        'volume_backend_name': 'embedded', 'volume_driver': 'cinder_nb.drivers.localfile.LocalFileDriver',
        'local_file_path': str(volumes), 'local_file_attach_mode': 'loop'})
    _assert_all_passed(counts)
    # the suite's own tearDownClass deleted what it made: no files, no loop devices left
    assert os.listdir(volumes / 'volumes') == [] and os.listdir(volumes / 'snapshots') == []
    loops = subprocess.run(['losetup', '-a'], capture_output=True, text=True).stdout
    assert str(volumes) not in loops


@pytest.mark.ceph
@pytest.mark.skipif(not LOOP_OK, reason=f'the suite reads sizes with lsblk on block devices: {NO_LOOP_REASON}')
def test_cinderlib_suite_on_ceph_rbd(cinderlib_source, ceph_cluster, tmp_path):
    """The same suite on Cinder's RBDDriver against the single-node cluster the tests start
    (cinderlib's gate ran it on Ceph too); the attach path is rbd-fuse + a loop device."""
    def images() -> set[str]:
        return set(subprocess.run(['rbd', '-c', ceph_cluster['CINDER_NB_CEPH_CONF'], '-n', 'client.admin', 'ls',
                                   ceph_cluster['CINDER_NB_CEPH_POOL']], check=True, capture_output=True,
                                  text=True).stdout.split())
    before = images()
    counts = run_suite(cinderlib_source, tmp_path, {
        'volume_backend_name': 'ceph', 'volume_driver': 'cinder.volume.drivers.rbd.RBDDriver',
        'rbd_pool': ceph_cluster['CINDER_NB_CEPH_POOL'], 'rbd_user': ceph_cluster['CINDER_NB_CEPH_USER'],
        'rbd_ceph_conf': ceph_cluster['CINDER_NB_CEPH_CONF'],
        'rbd_keyring_conf': ceph_cluster['CINDER_NB_CEPH_KEYRING']})
    _assert_all_passed(counts)
    assert images() == before, 'the suite left RBD images behind'
