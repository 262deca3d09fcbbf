"""Runs INSIDE the test guest (started by bench/guest_lvm.py): times cinder_nb operations on
Cinder's LVMVolumeDriver, thin and thick, exported by LIO and by tgt. Prints a table (s)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.modules.setdefault('rfc3987_syntax', None)   # see tests/kernel/guest_plugin.py
t0 = time.monotonic()
import cinder_nb as cnb  # noqa: E402
import cinder.volume.drivers.lvm  # noqa: E402,F401
IMPORT = time.monotonic() - t0

OPS = ('backend', 'create', 'attach', 'write+read 4 MiB', 'detach', 'snapshot', 'from snapshot',
       'clone', 'extend', 'delete snapshot', 'delete x3')


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, capture_output=True)


def timed(results: dict, op: str, fn):
    start = time.monotonic()
    out = fn()
    results[op] = time.monotonic() - start
    return out


def run(lvm_type: str, helper: str, vg: str, port: int, state: str) -> dict:
    r: dict = {}
    extra = {'volumes_dir': os.path.join(state, 'tgt')} if helper == 'tgtadm' else {}
    lab = timed(r, 'backend', lambda: cnb.Backend(
        f'{lvm_type}-{helper}', volume_driver='cinder.volume.drivers.lvm.LVMVolumeDriver', volume_group=vg,
        lvm_type='thin' if lvm_type == 'thin' else 'default', target_helper=helper, target_protocol='iscsi',
        target_ip_address='127.0.0.1', target_port=port, use_chap_auth=True, volume_clear='none', **extra))
    vol = timed(r, 'create', lambda: lab.create_volume(1))
    conn = timed(r, 'attach', vol.attach)
    data = os.urandom(4 << 20)

    def io():
        fd = os.open(conn.path, os.O_RDWR)
        try:
            os.pwrite(fd, data, 0)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            assert os.pread(fd, len(data), 0) == data
        finally:
            os.close(fd)
    timed(r, 'write+read 4 MiB', io)
    timed(r, 'detach', vol.detach)
    snap = timed(r, 'snapshot', vol.create_snapshot)
    v2 = timed(r, 'from snapshot', snap.create_volume)
    v3 = timed(r, 'clone', vol.clone)
    timed(r, 'extend', lambda: vol.extend(2))
    timed(r, 'delete snapshot', snap.delete)
    timed(r, 'delete x3', lambda: [v.delete() for v in (v2, v3, vol)])
    return r


def main() -> None:
    state = tempfile.mkdtemp()
    cnb.setup('memory', state_dir=os.path.join(state, 'state'))
    sh('pvcreate -ff -y /dev/vda && vgcreate cnb-thick /dev/vda && pvcreate -ff -y /dev/vdb && vgcreate cnb-thin /dev/vdb')
    os.makedirs(os.path.join(state, 'tgt'))
    os.makedirs('/etc/tgt/conf.d', exist_ok=True)
    with open('/etc/tgt/conf.d/cinder_nb.conf', 'w') as fh:
        fh.write(f'include {state}/tgt/*\n')
    sh('tgtd --iscsi portal=127.0.0.1:3261 && sleep 1')
    cols = {}
    for lvm_type, vg in (('thin', 'cnb-thin'), ('thick', 'cnb-thick')):
        for helper, port in (('lioadm', 3260), ('tgtadm', 3261)):
            cols[f'{lvm_type}/{helper[:3]}'] = run(lvm_type, helper, vg, port, state)
            print(f'done {lvm_type}/{helper}', flush=True)
    print(f'cinder_nb + LVM driver import in the guest: {IMPORT:.1f} s')
    print('| operation (s) | ' + ' | '.join(cols) + ' |')
    print('|---|' + '---:|' * len(cols))
    for op in OPS:
        print(f'| {op} | ' + ' | '.join(f'{c[op]:.1f}' for c in cols.values()) + ' |')


if __name__ == '__main__':
    main()
