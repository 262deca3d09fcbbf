"""LVM over iSCSI inside the test guest: boot, cinder import, per-operation latency.

Boots the guest of tests/kernel (qemu TCG, see README "guest-kernel tests"), then runs
bench/guest_lvm_ops.py in it, which times each cinder_nb operation on Cinder's
LVMVolumeDriver for thin/thick x lioadm/tgtadm, and prints one table (seconds).
Run as root: .venv/bin/python bench/guest_lvm.py
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.kernel.guest_vm import Guest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    t0 = time.monotonic()
    guest = Guest(timeout=3000)
    try:
        guest.start()
        print(f'boot (qemu start -> agent answers): {guest.boot_seconds:.1f} s', flush=True)
        answer = guest.run([os.path.join(REPO, '.venv', 'bin', 'python'), '-u',
                            os.path.join(REPO, 'bench', 'guest_lvm_ops.py')], timeout=2800, cwd=REPO)
        print(answer['output'])
    finally:
        guest.close()
    print(f'total with poweroff: {time.monotonic() - t0:.1f} s; host load average {os.getloadavg()[0]:.1f} '
          f'on {os.cpu_count()} cores')


if __name__ == '__main__':
    main()
