"""A Ceph cluster on the HOST that the guest kernel reaches (for guest/guest_rbd.py).

Its own micro-ceph cluster (tests/ceph/micro-ceph.sh: own CEPH_DIR, free ports; not the host
tests' cluster), its daemons at native speed. Ceph advertises 127.0.0.1 addresses, which in
the guest are the guest's own loopback, so the ports are chosen before boot: mon v1 and v2,
and a range the OSD and mgr bind (``ms bind port min/max``). For each port qemu gets a
``guestfwd`` from 10.0.2.100:<port> to a ``socat`` it starts per connection towards
127.0.0.1:<port> on the host; in the guest, guest_rbd.py listens on 127.0.0.1:<port> and
forwards to 10.0.2.100:<port>, so the kernel client (and librados) reach the host's daemons
at the addresses the maps advertise. The guest gets a ceph.conf and the client.cinder keyring
(no admin key) in the transfer directory (``/xfer/ceph``). ``stop()`` ends the daemons and
removes the cluster's directory.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), 'ceph', 'micro-ceph.sh')
GUEST_HOST_ADDR = '10.0.2.100'   # the address in the guest's slirp network that leads to the host
OSD_MGR_PORTS = 12               # an OSD binds 4 messengers x (v2, v1), the mgr one x 2


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """count consecutive free ports on 127.0.0.1 (checked now; the daemons bind them soon)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        if all(_free(p) for p in range(base, base + count)):
            return list(range(base, base + count))
    raise OSError(f'no {count} consecutive free ports on 127.0.0.1')


def unavailable() -> str | None:
    """Why the cluster cannot start on this host, or None."""
    if os.geteuid() != 0:
        return 'starting Ceph daemons needs root'
    missing = [b for b in ('ceph-mon', 'ceph-osd', 'ceph-mgr', 'ceph', 'rbd', 'socat') if shutil.which(b) is None]
    if missing:
        return (f'missing on the host: {", ".join(missing)} (Debian packages ceph-mon ceph-osd ceph-mgr '
                'ceph-common socat, see .ci/apt-packages)')
    return None


class GuestCeph:
    """Ports chosen at once (for qemu's argv); ``start_async()`` runs the cluster alongside the boot."""

    def __init__(self) -> None:
        ports = _free_ports(2 + OSD_MGR_PORTS)
        self.mon_v1, self.mon_v2 = ports[0], ports[1]
        self.ms_ports = ports[2:]
        self.dir = tempfile.mkdtemp(prefix='cnb-guest-ceph-')
        self.env: dict[str, str] = {}
        self.error: str | None = unavailable()
        self.seconds = 0.0
        self._thread: threading.Thread | None = None

    @property
    def ports(self) -> list[int]:
        return [self.mon_v1, self.mon_v2, *self.ms_ports]

    def guestfwd(self) -> str:
        """The netdev options that forward each port from the guest to the host's 127.0.0.1."""
        return ''.join(f',guestfwd=tcp:{GUEST_HOST_ADDR}:{p}-cmd:socat - TCP:127.0.0.1:{p}' for p in self.ports)

    def start_async(self) -> None:
        if self.error is None:
            self._thread = threading.Thread(target=self._start, name='cinder_nb-guest-ceph', daemon=True)
            self._thread.start()

    def _start(self) -> None:
        t0 = time.monotonic()
        env = dict(os.environ, CEPH_DIR=self.dir, CEPH_MON_PORT=str(self.mon_v1), CEPH_MON_V2_PORT=str(self.mon_v2),
                   CEPH_MS_BIND_PORT_MIN=str(self.ms_ports[0]), CEPH_MS_BIND_PORT_MAX=str(self.ms_ports[-1]))
        try:
            proc = subprocess.run(['bash', SCRIPT, 'start'], capture_output=True, text=True, env=env, timeout=600)
        except subprocess.TimeoutExpired:
            self.error = 'micro-ceph.sh start took over 600 s'
            return
        if proc.returncode != 0:
            self.error = f'the Ceph cluster did not start: {(proc.stderr or proc.stdout).strip()[-800:]}'
            return
        for line in proc.stdout.splitlines():
            if line.startswith('export '):
                key, _, value = line[len('export '):].partition('=')
                self.env[key] = value
        self.seconds = time.monotonic() - t0

    def hand_over(self, xfer: str) -> dict:
        """Wait for the cluster; write /xfer/ceph (conf, client keyring, ports.json, or the
        reason it is missing) for the guest. Returns the timings."""
        if self._thread is not None:
            self._thread.join(660)
        out = os.path.join(xfer, 'ceph')
        os.makedirs(out, mode=0o700, exist_ok=True)
        info = {'host_addr': GUEST_HOST_ADDR, 'ports': self.ports, 'unavailable': self.error}
        if self.error is None:
            fsid = ''
            with open(self.env['CINDER_NB_CEPH_CONF']) as fh:
                for line in fh:
                    if line.strip().startswith('fsid'):
                        fsid = line.split('=', 1)[1].strip()
            user = self.env['CINDER_NB_CEPH_USER']
            keyring = os.path.join(out, f'keyring.client.{user}')
            shutil.copyfile(self.env['CINDER_NB_CEPH_KEYRING'], keyring)
            os.chmod(keyring, 0o600)
            with open(os.path.join(out, 'ceph.conf'), 'w') as fh:
                fh.write(f'[global]\nfsid = {fsid}\n'
                         f'mon host = [v2:127.0.0.1:{self.mon_v2},v1:127.0.0.1:{self.mon_v1}]\n'
                         'auth cluster required = cephx\nauth service required = cephx\n'
                         'auth client required = cephx\n'
                         f'keyring = /xfer/ceph/keyring.$name\nlog to file = false\nadmin socket =\n'
                         'ms bind ipv4 = true\nms bind ipv6 = false\n')
            info.update(conf='/xfer/ceph/ceph.conf', keyring=f'/xfer/ceph/keyring.client.{user}', user=user,
                        pool=self.env['CINDER_NB_CEPH_POOL'])
        with open(os.path.join(out, 'ports.json'), 'w') as fh:
            json.dump(info, fh)
        return {'ceph cluster start (host, alongside the boot)': self.seconds}

    def stop(self) -> None:
        """Stop the daemons and remove the cluster's directory (also when the start failed)."""
        if self._thread is not None:
            self._thread.join(660)
        subprocess.run(['bash', SCRIPT, 'stop'], env=dict(os.environ, CEPH_DIR=self.dir),
                       capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)
