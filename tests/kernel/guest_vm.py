"""Boot the test guest: Debian's kernel under qemu (TCG), the host's / read-only over 9p.

``Guest`` starts qemu with a wall-clock limit, waits for the command agent, runs commands
in the guest (``run``), and always ends qemu in ``close()`` (poweroff, then kill). The only
listener it creates is qemu's user-mode port forward on 127.0.0.1. See README "Guest-kernel
tests" and notes/machine-facts.md for why TCG and not /dev/kvm.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
QEMU = 'qemu-system-x86_64'
AGENT_PORT = 7000


class GuestUnavailable(Exception):
    """qemu or the kernel cannot be had here; the message says why."""


def prepare() -> dict:
    """Run prepare.sh (cached) and return its KERNEL/INITRD/MODULES/VERSION paths."""
    if shutil.which(QEMU) is None:
        raise GuestUnavailable(f'{QEMU} is not installed (apt package qemu-system-x86)')
    if os.geteuid() != 0:
        raise GuestUnavailable('the guest-kernel tests need root (the kernel cache and the 9p export of /)')
    proc = subprocess.run([os.path.join(HERE, 'prepare.sh')], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    if proc.returncode != 0:
        raise GuestUnavailable(f'prepare.sh failed ({proc.returncode}): {proc.stdout.strip()[-2000:]}')
    out = dict(line.split('=', 1) for line in proc.stdout.splitlines() if '=' in line)
    return {k: out[k] for k in ('KERNEL', 'INITRD', 'MODULES', 'VERSION')}


def precompile() -> float:
    """Compile the project's and the venv's .py files to __pycache__ on the host; returns seconds.

    The guest sees the host's files over 9p under a tmpfs overlay: every module without a
    valid .pyc would be compiled anew in each guest, under software emulation (~14x slower).
    pip compiles what it installs, but the editable cinder_nb and the tests are run on the host
    with PYTHONDONTWRITEBYTECODE, so nothing compiled them. Up-to-date files are skipped.
    """
    t0 = time.monotonic()
    python = os.path.join(REPO, '.venv', 'bin', 'python')
    if not os.path.exists(python):
        python = sys.executable
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([python, '-m', 'compileall', '-q', '-j', '0', os.path.join(REPO, 'cinder_nb'),
                    os.path.join(REPO, 'tests'), os.path.join(REPO, 'bench'), site],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Guest:
    """One running guest. Use as a context manager; ``close()`` leaves no qemu behind."""

    def __init__(self, memory_mb: int = int(os.environ.get('CINDER_NB_GUEST_MEMORY_MB', '1536')),
                 cpus: int = int(os.environ.get('CINDER_NB_GUEST_CPUS', '2')), disk_gb: int = 12, disks: int = 2,
                 timeout: float = 1500, netdev_extra: str = ''):
        """memory_mb/cpus: the guest's size (env CINDER_NB_GUEST_MEMORY_MB / CINDER_NB_GUEST_CPUS; the
        pytest process and the notebook's kernel each hold Cinder, ~300 MB); two sparse disks;
        netdev_extra: more user-netdev options (guest_ceph.py's guestfwd entries)."""
        self.paths = prepare()
        self.xfer = tempfile.mkdtemp(prefix='cnb-guest-')
        os.chmod(self.xfer, 0o700)
        self.token = secrets.token_hex(16)
        with open(os.path.join(self.xfer, 'token'), 'w', opener=lambda p, f: os.open(p, f, 0o600)) as fh:
            fh.write(self.token)
        # sparse files: the guest's disks /dev/vda and /dev/vdb (LVM physical volumes)
        self.disks = [os.path.join(self.xfer, f'disk{i}.img') for i in range(disks)]
        for disk in self.disks:
            with open(disk, 'wb') as fh:
                fh.truncate(disk_gb << 30)
        self.console = os.path.join(self.xfer, 'console.log')
        self.deadline = time.monotonic() + timeout
        self.memory_mb, self.cpus = memory_mb, cpus
        self.netdev_extra = netdev_extra
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.boot_seconds = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, ready_timeout: float = 180) -> 'Guest':
        python = os.path.join(REPO, '.venv', 'bin', 'python')
        if not os.path.exists(python):
            python = sys.executable
        append = ' '.join([
            'console=ttyS0', 'panic=-1', 'quiet', 'loglevel=4', 'rdinit=/init',
            f'cnb.init={os.path.join(HERE, "guest-init.sh")}', f'cnb.modules={self.paths["MODULES"]}',
            f'cnb.python={python}', f'cnb.agent={os.path.join(HERE, "agent.py")}', f'cnb.port={AGENT_PORT}',
        ])
        for attempt in range(3):   # a port picked free can be taken before qemu binds it
            self.port = _free_port()
            argv = [QEMU, '-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max',
                    '-m', str(self.memory_mb), '-smp', str(self.cpus), '-nodefaults', '-nographic',
                    '-no-reboot', '-kernel', self.paths['KERNEL'], '-initrd', self.paths['INITRD'],
                    '-append', append, '-serial', f'file:{self.console}',
                    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
                    '-virtfs', f'local,path={self.xfer},mount_tag=xfer,security_model=none',
                    *[arg for disk in self.disks for arg in
                      ('-drive', f'file={disk},if=virtio,format=raw,cache=unsafe,discard=unmap')],
                    '-netdev', f'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-10.0.2.15:{AGENT_PORT}{self.netdev_extra}',
                    '-device', 'virtio-net-pci,netdev=n0,romfile=']
            t0 = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=open(os.path.join(self.xfer, 'qemu.log'), 'ab'),
                                         stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self._wait_ready(min(ready_timeout, self.deadline - time.monotonic()))
                self.boot_seconds = time.monotonic() - t0
                return self
            except GuestUnavailable:
                log = self._qemu_log()
                self._kill()
                if 'Could not set up host forwarding' in log and attempt < 2:
                    continue
                raise
        raise GuestUnavailable('qemu could not bind a local port')

    def _qemu_log(self) -> str:
        try:
            with open(os.path.join(self.xfer, 'qemu.log'), errors='replace') as fh:
                return fh.read()[-3000:]
        except OSError:
            return ''

    def console_tail(self, chars: int = 4000) -> str:
        try:
            with open(self.console, errors='replace') as fh:
                return fh.read()[-chars:]
        except OSError:
            return ''

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise GuestUnavailable(f'qemu exited with {self.proc.returncode}: {self._qemu_log()}\n'
                                       f'console:\n{self.console_tail()}')
            try:
                if self.run(['true'], timeout=10, connect_timeout=1)['rc'] == 0:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise GuestUnavailable(f'the guest did not answer within {timeout:.0f} s; console:\n{self.console_tail()}')

    def run(self, argv: list[str], timeout: float = 600, env: dict | None = None, cwd: str | None = None,
            connect_timeout: float = 5) -> dict:
        """Run argv in the guest; returns {'rc', 'output'}."""
        timeout = min(timeout, max(1.0, self.deadline - time.monotonic()))
        with socket.create_connection(('127.0.0.1', self.port), timeout=connect_timeout) as sock:
            sock.settimeout(timeout + 30)
            sock.sendall(json.dumps({'token': self.token, 'argv': argv, 'timeout': timeout,
                                     'env': env or {}, 'cwd': cwd}).encode() + b'\n')
            data = b''
            while not data.endswith(b'\n'):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError('the guest agent closed the connection')
                data += chunk
        return json.loads(data)

    def cpu_seconds(self) -> float:
        """CPU time qemu has used so far (user + system, all threads): the run's cost independent
        of how many other processes share the host's cores."""
        try:
            with open(f'/proc/{self.proc.pid}/stat') as fh:
                fields = fh.read().rsplit(')', 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
        except (OSError, AttributeError, IndexError, ValueError):
            return 0.0

    def close(self) -> None:
        """Power the guest off (kill qemu if it does not end) and remove the transfer dir."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.run(['poweroff'], timeout=10, connect_timeout=2)
                    self.proc.wait(timeout=20)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
        finally:
            self._kill()
            shutil.rmtree(self.xfer, ignore_errors=True)

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def __enter__(self) -> 'Guest':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
