"""The embedded driver's start-up probe must not trip over another process starting the same
backend at the same moment (CI failure of stop 17: two workers reopening one backend, one got
'vols is not writable: No such file ... .write-test' because both probes used one file name)."""
from __future__ import annotations

import os
import subprocess
import sys

import cinder_nb as cnb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = """
import sys, cinder_nb as cnb
cnb.setup('memory', state_dir=sys.argv[2])
driver = cnb.embedded(sys.argv[1], name='probe', local_file_attach_mode='file').driver
for _ in range(int(sys.argv[3])):
    driver.check_for_setup_error()
"""


def test_concurrent_start_up_probes_of_one_backend_all_pass(tmp_path):
    cnb.setup('memory', state_dir=str(tmp_path / 'st'))
    cnb.embedded(str(tmp_path / 'vols'), name='probe', local_file_attach_mode='file')
    procs = [subprocess.Popen([sys.executable, '-c', PROBE, str(tmp_path / 'vols'), str(tmp_path / f'st{n}'), '3000'],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for n in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, '\n'.join(e[-1500:] for e in errors)
    assert [n for n in os.listdir(tmp_path / 'vols') if n.startswith('.')] == []    # no probe left behind
