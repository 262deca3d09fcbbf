"""The embedded driver's start-up probe must not trip over another process starting the same
backend at the same moment (CI failure of stop 17: two workers reopening one backend, one got
'vols is not writable: No such file ... .write-test' because both probes used one file name)."""
from __future__ import annotations

import os

import cinder_nb as cnb


def _probe_in_child(driver, rounds: int) -> int:
    """Fork a process that runs the start-up probe `rounds` times; returns its pid."""
    pid = os.fork()
    if pid == 0:                                  # child: no imports, no cinder start-up to wait for
        code = 0
        try:
            for _ in range(rounds):
                driver.check_for_setup_error()
        except BaseException:                     # noqa: BLE001 - any failure is the child's exit code
            code = 1
        os._exit(code)
    return pid


def test_concurrent_start_up_probes_of_one_backend_all_pass(tmp_path):
    cnb.setup('memory', state_dir=str(tmp_path / 'st'))
    driver = cnb.embedded(str(tmp_path / 'vols'), name='probe', local_file_attach_mode='file').driver
    pids = [_probe_in_child(driver, 5000) for _ in range(4)]
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    assert codes == [0] * 4                       # on the shared '.write-test' name some fail with ENOENT
    assert [n for n in os.listdir(tmp_path / 'vols') if n.startswith('.')] == []    # no probe left behind
