"""Ceph client support: the rados/rbd bindings in a venv, and local attach of RBD volumes.

Bindings. Ceph's Python bindings are not on PyPI; Debian ships them for its own
python3 (python3-rados, python3-rbd). ``ensure_bindings()`` makes just those two
extension modules importable from any venv of the same Python minor version
(a directory of two symlinks put on sys.path), never the whole dist-packages.

Local attach, two ways (``attach_method()`` chooses; ``volume.attach(rbd_attach=...)`` or
``$CINDER_NB_RBD_ATTACH`` asks for one: 'auto' (default), 'krbd' or 'fuse'):

- **krbd**: os-brick's own ``RBDConnector`` with ``do_local_attach`` runs ``rbd map`` on the
  kernel's rbd module: a /dev/rbdN block device; detach runs ``rbd unmap``. Needs the
  module (``/sys/bus/rbd``), root and the ``rbd`` CLI (ceph-common). 'auto' takes it then.
- **fuse**: where the kernel has no rbd module (this project's CI host), ``RBDFuseConnector``
  mounts the image with rbd-fuse, where it is a file, and, as root with loop devices, binds
  a /dev/loopN over that file so lsblk, mkfs and mount work; without root it hands out the
  file itself.

The method an attach used is stored in its device info (``rbd_attach``), so extend and
detach use the same one. A test can still put a factory for 'rbd' in
cinder_nb.connection.CONNECTOR_FACTORIES; it then wins over both.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from cinder_nb import _loop
from cinder_nb.errors import AttachUnavailable, InvalidArgument

SYSTEM_DIST_PACKAGES = '/usr/lib/python3/dist-packages'
#: the local attach methods for RBD volumes ('auto': krbd where it works, else fuse)
ATTACH_METHODS = ('auto', 'krbd', 'fuse')
#: the environment variable that sets the default method
ATTACH_ENV = 'CINDER_NB_RBD_ATTACH'
#: where the kernel's rbd module shows itself
SYS_BUS_RBD = '/sys/bus/rbd'
_lock = threading.Lock()


def ensure_bindings(search: str = SYSTEM_DIST_PACKAGES) -> bool:
    """Make ``import rados, rbd`` work; True if they import. Installs nothing."""
    with _lock:
        try:
            import rados  # noqa: F401
            import rbd  # noqa: F401
            return True
        except ImportError:
            pass
        tag = f'cpython-{sys.version_info[0]}{sys.version_info[1]}'
        found = {name: glob.glob(os.path.join(search, f'{name}.{tag}-*.so')) for name in ('rados', 'rbd')}
        if not all(found.values()):
            return False
        link_dir = os.path.join(tempfile.gettempdir(), f'cinder_nb-ceph-bindings-{tag}-{os.geteuid()}')
        os.makedirs(link_dir, exist_ok=True)
        for paths in found.values():
            target = os.path.join(link_dir, os.path.basename(paths[0]))
            if not os.path.lexists(target):
                os.symlink(paths[0], target)
        if link_dir not in sys.path:
            sys.path.append(link_dir)
        try:
            import rados  # noqa: F401,F811
            import rbd  # noqa: F401,F811
            return True
        except ImportError:
            return False


class RBDFuseConnector:
    """os-brick-style connector for 'rbd' connection info, attaching through rbd-fuse."""

    def __init__(self, connection_info: dict, mount_root: str | None = None) -> None:
        self.connection_info = connection_info
        self.mount_root = mount_root or os.path.join(tempfile.gettempdir(), 'cinder_nb-rbd-fuse')

    # -- helpers
    @staticmethod
    def _split(data: dict) -> tuple[str, str]:
        pool, _, image = data['name'].partition('/')
        return pool, image

    def _private_file(self, prefix: str, body: str) -> str:
        os.makedirs(self.mount_root, mode=0o700, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=prefix, dir=self.mount_root)   # mode 0600
        with os.fdopen(fd, 'w') as f:
            f.write(body)
        return path

    def _client_files(self, data: dict) -> tuple[str, str | None, list[str]]:
        """ceph.conf path, keyring path (if the data carries a keyring) and the files made for them.

        The files are per mount and removed once rbd-fuse has authenticated (it keeps the
        key in memory), so no copy of a Ceph key is left behind in the temp dir.
        """
        made: list[str] = []
        keyring = None
        if data.get('keyring'):
            keyring = self._private_file('keyring-', data['keyring'])
            made.append(keyring)
        conf = data.get('ceph_conf') or data.get('conf') or ''
        if not conf:
            hosts = [f'{h}:{p}' for h, p in zip(data.get('hosts') or [], data.get('ports') or [])]
            body = '[global]\n' + (f"mon host = {','.join(hosts)}\n" if hosts else '')
            conf = self._private_file('conf-', body + (f'keyring = {keyring}\n' if keyring else ''))
            made.append(conf)
        return conf, keyring, made

    def _mountpoint(self, pool: str, image: str) -> str:
        return os.path.join(self.mount_root, f'{pool}--{image}')

    def _ensure_mount(self, data: dict) -> str:
        """Mount just this image (rbd-fuse --image): a pool-wide mount would hold every
        image open, and Ceph refuses to delete an image that has a watcher."""
        pool, image = self._split(data)
        mnt = self._mountpoint(pool, image)
        if os.path.ismount(mnt):
            return mnt
        os.makedirs(mnt, exist_ok=True)
        conf, keyring, made = self._client_files(data)
        try:
            cmd = ['rbd-fuse', '-c', conf, '-p', pool, f'--image={image}',
                   '--id', data.get('auth_username') or 'admin', mnt]
            if keyring:
                cmd[1:1] = ['--keyring', keyring]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            deadline = time.monotonic() + 10
            while not os.path.ismount(mnt) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for path in made:
                os.unlink(path)
        if not os.path.ismount(mnt):
            raise RuntimeError(f'rbd-fuse could not mount {pool}/{image}: '
                               f'{result.stderr.strip()[-500:] or result.returncode}')
        return mnt

    def _unmount(self, mnt: str) -> None:
        if os.path.ismount(mnt):
            cmd = ['fusermount', '-u', mnt] if _has('fusermount') else ['umount', mnt]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0 and os.path.ismount(mnt):
                raise RuntimeError(f'cannot unmount {mnt}: {result.stderr.strip()}')
        try:
            os.rmdir(mnt)
        except OSError:
            pass

    # -- the os-brick connector interface cinder_nb uses
    def connect_volume(self, data: dict) -> dict:
        """Mount the pool with rbd-fuse; return {'path': loop device or image file}."""
        mnt = self._ensure_mount(data)
        _, image = self._split(data)
        image_file = os.path.join(mnt, image)
        deadline = time.monotonic() + 10
        while not os.path.exists(image_file) and time.monotonic() < deadline:
            time.sleep(0.1)   # rbd-fuse lists images it has seen; a new one may need a moment
        if not os.path.exists(image_file):
            raise RuntimeError(f'image {image} is not visible under the rbd-fuse mount {mnt}')
        info = {'type': 'rbd', 'image_file': image_file, 'mountpoint': mnt, 'path': image_file}
        if _loop.available():
            dev = _loop.attach(image_file, direct_io_off=True)
            info.update(path=dev, loop=dev)
        return info

    def disconnect_volume(self, data: dict, device_info: dict | None, force: bool = False,
                          ignore_errors: bool = False) -> None:
        """Detach the loop device (if any) and unmount the image's rbd-fuse mount."""
        loop = (device_info or {}).get('loop')
        try:
            if loop:
                _loop.detach(loop)
            pool, image = self._split(data)
            self._unmount(self._mountpoint(pool, image))
        except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
            if not (force or ignore_errors):
                raise RuntimeError(f'detaching {data.get("name")}: '
                                   f'{getattr(exc, "stderr", None) or exc}') from exc

    def extend_volume(self, data: dict) -> int:
        """Make the attached device see the image's new size; returns it in bytes."""
        mnt = self._ensure_mount(data)
        _, image = self._split(data)
        image_file = os.path.join(mnt, image)
        loops = _loop.loops_over(image_file)
        size = os.stat(image_file).st_size
        if loops:
            # rbd-fuse learns the new size from librbd's header watch, up to about a second
            # after the driver's resize; until then the file (and `losetup -c`) shows the old
            # size, which the loop device still has
            old, deadline = _loop.device_bytes(loops[0]), time.monotonic() + 15
            while size <= old and time.monotonic() < deadline:
                time.sleep(0.1)
                size = os.stat(image_file).st_size
        for dev in loops:
            _loop.refresh_size(dev)
        return size


def unmount_all(mount_root: str | None = None) -> None:
    """Unmount every rbd-fuse mount cinder_nb made (e.g. before stopping a cluster)."""
    root = mount_root or os.path.join(tempfile.gettempdir(), 'cinder_nb-rbd-fuse')
    for mnt in glob.glob(os.path.join(root, '*')):
        if os.path.ismount(mnt):
            for loop in _loop.loops_over(os.path.join(mnt, os.path.basename(mnt).split('--', 1)[-1])):
                _loop.detach(loop, check=False)
            subprocess.run(['fusermount', '-u', mnt] if _has('fusermount') else ['umount', '-l', mnt],
                           capture_output=True)


def _has(cmd: str) -> bool:
    from shutil import which
    return which(cmd) is not None


def krbd_unavailable(sys_bus_rbd: str = SYS_BUS_RBD) -> str | None:
    """Why a kernel map (krbd) cannot work here, or None when it can."""
    if not os.path.isdir(sys_bus_rbd):
        return f'this kernel has no rbd module ({sys_bus_rbd} is missing; `modprobe rbd` loads it where it exists)'
    if os.geteuid() != 0:
        return '`rbd map` needs root'
    if not _has('rbd'):
        return 'the rbd command (Debian package ceph-common) is not installed'
    return None


def attach_method(requested: str | None = None, sys_bus_rbd: str = SYS_BUS_RBD) -> str:
    """'krbd' or 'fuse' for an attach asking for ``requested`` (None: ``$CINDER_NB_RBD_ATTACH``,
    else 'auto'). 'auto' takes krbd where it works; 'krbd' where it cannot raises
    AttachUnavailable saying why."""
    source = 'rbd_attach'
    if requested is None:
        requested, source = os.environ.get(ATTACH_ENV) or 'auto', f'${ATTACH_ENV}'
    if requested not in ATTACH_METHODS:
        raise InvalidArgument(source, requested, ' or '.join(repr(m) for m in ATTACH_METHODS))
    if requested == 'fuse':
        return 'fuse'
    why = krbd_unavailable(sys_bus_rbd)
    if why is None:
        return 'krbd'
    if requested == 'krbd':
        raise AttachUnavailable('krbd', why + "; rbd_attach='fuse' (or 'auto') attaches through rbd-fuse")
    return 'fuse'


class KRBDConnector:
    """os-brick's RBDConnector doing a kernel map (``rbd map``), with the /dev/rbdN path.

    os-brick hands out the udev link /dev/rbd/<pool>/<image>, which exists only where
    ceph-common's udev rule runs; where the link is missing the mapped /dev/rbdN (from
    ``rbd showmapped``) is the path."""

    def __init__(self) -> None:
        from os_brick.initiator import connector as brick_connector
        root_helper = '' if os.geteuid() == 0 else 'sudo'
        self.brick = brick_connector.InitiatorConnector.factory('RBD', root_helper, use_multipath=False,
                                                                do_local_attach=True)

    def connect_volume(self, data: dict) -> dict:
        info = dict(self.brick.connect_volume(data))
        path = info.get('path')
        if not (isinstance(path, str) and os.path.exists(path)):
            device = self.brick._find_root_device(data, info.get('conf'))
            if device:
                info['path'] = device
        if isinstance(info.get('path'), str):
            info['device'] = os.path.realpath(info['path'])   # /dev/rbdN
        return info

    def disconnect_volume(self, data: dict, device_info: dict | None, force: bool = False,
                          ignore_errors: bool = False) -> None:
        self.brick.disconnect_volume(data, device_info, force=force, ignore_errors=ignore_errors)

    def extend_volume(self, data: dict) -> int:
        """The mapped device's size in bytes (krbd follows the image's resize by itself)."""
        return int(self.brick.extend_volume(data))


def connector_factory(connection_info: dict, method: str = 'fuse') -> Any:
    """The connector of an attach through ``method`` ('krbd' or 'fuse')."""
    if method == 'krbd':
        return KRBDConnector()
    return RBDFuseConnector(connection_info)
