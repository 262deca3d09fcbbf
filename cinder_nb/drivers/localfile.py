"""LocalFileDriver: a real Cinder volume driver that keeps volumes as sparse files.

Volumes are files ``<local_file_path>/volumes/volume-<id>``; snapshots are copies
in ``snapshots/``. Snapshots and clones share extents by reflink where the
filesystem supports it and otherwise copy only allocated extents
(SEEK_DATA/SEEK_HOLE), so their cost follows the data, not the volume size.
Connections use os-brick's LOCAL protocol: as root with loop devices the
``device_path`` is a /dev/loopN bound to the file (lsblk, mkfs and mount work on
it), otherwise it is the file itself.
"""
from __future__ import annotations

import os
import tempfile

from oslo_config import cfg
from oslo_log import log as logging

from cinder_nb import _cinder, _loop
from cinder_nb.drivers.copy import sparse_copy

LOG = logging.getLogger(__name__)
GiB = 1 << 30

local_file_opts = [
    cfg.StrOpt('local_file_path',
               help='Directory that holds the volume and snapshot files (created if missing).'),
    cfg.StrOpt('local_file_attach_mode', default='auto', choices=['auto', 'loop', 'file'],
               help="How connections expose a volume: 'loop' binds a /dev/loopN (needs root), "
                    "'file' hands out the file path, 'auto' uses loop when it can."),
]
_cinder.CONF.register_opts(local_file_opts, group=_cinder.SHARED_GROUP)


@_cinder.volumedriver
class LocalFileDriver(_cinder.BaseVolumeDriver):
    """Volumes as sparse files on a local filesystem; LOCAL protocol connections."""

    VERSION = '1.0.0'
    #: options a backend must set (not oslo's required=True: oslo would then demand a
    #: value in the shared group as soon as the global configuration is parsed)
    REQUIRED_OPTIONS = ('local_file_path',)
    CI_WIKI_NAME = 'cinder_nb'
    SUPPORTED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(local_file_opts)
        self.backend_name = self.configuration.safe_get('volume_backend_name') or 'localfile'
        self.root = None
        self.use_loop = False

    @staticmethod
    def get_driver_options():
        return local_file_opts

    # ------------------------------------------------------------------ set-up
    def do_setup(self, context):
        path = self.configuration.local_file_path
        if not path:
            raise _cinder.VolumeBackendAPIException(data='local_file_path is not set')
        self.root = os.path.abspath(os.path.expanduser(path))
        for sub in ('volumes', 'snapshots'):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        mode = self.configuration.local_file_attach_mode
        can_loop = _loop.available()
        if mode == 'loop' and not can_loop:
            raise _cinder.VolumeBackendAPIException(
                data="local_file_attach_mode='loop' needs root and loop devices (losetup); use 'file' or 'auto'")
        self.use_loop = mode == 'loop' or (mode == 'auto' and can_loop)

    def check_for_setup_error(self):
        # a probe file of its own: another process starting the same backend at the same
        # moment must not unlink ours (one shared '.write-test' name raced, stop 17's CI)
        try:
            fd, probe = tempfile.mkstemp(prefix='.write-test-', dir=self.root)
            try:
                os.write(fd, b'ok')
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            raise _cinder.VolumeBackendAPIException(data=f'{self.root} is not writable: {exc}') from exc

    def _volume_path(self, volume) -> str:
        return self._inside('volumes', volume.name)

    def _snapshot_path(self, snapshot) -> str:
        return self._inside('snapshots', snapshot.name)

    def _inside(self, sub: str, name: str) -> str:
        """root/sub/name, refusing any name that would leave root/sub (defence in depth:
        cinder_nb already refuses such ids, but this driver trusts no caller)."""
        folder = os.path.join(self.root, sub)
        path = os.path.join(folder, name) if isinstance(name, str) else ''
        if (not isinstance(name, str) or not name or name in ('.', '..') or os.sep in name
                or (os.altsep and os.altsep in name) or '\0' in name
                or os.path.dirname(os.path.realpath(path)) != os.path.realpath(folder)):
            raise _cinder.VolumeBackendAPIException(
                data=f'refusing a file name that leaves {folder}: {name!r:.80}')
        return path

    # ------------------------------------------------------------------ stats
    def _update_volume_stats(self):
        st = os.statvfs(self.root)
        total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        # Cinder's meaning (see cinder.scheduler.host_manager.PoolState): both are the
        # apparent size of the volumes on the pool, the numbers its capacity filter weighs
        # against max_over_subscription_ratio. Every volume here is one cinder_nb made, so
        # allocated == provisioned. (The bytes really used show in free_capacity_gb.)
        provisioned = 0
        with os.scandir(os.path.join(self.root, 'volumes')) as entries:
            for entry in entries:
                if entry.name.startswith('volume-') and not entry.name.endswith('.revert'):
                    try:
                        provisioned += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:     # deleted meanwhile
                        pass
        allocated = provisioned
        self._stats = {
            'volume_backend_name': self.backend_name, 'vendor_name': 'cinder_nb',
            'driver_version': self.VERSION, 'storage_protocol': 'local',
            'sparse_copy_volume': True,   # a new volume is a hole: it reads as zeros
            'pools': [{
                'pool_name': self.backend_name,
                'total_capacity_gb': round(total / GiB, 2), 'free_capacity_gb': round(free / GiB, 2),
                'allocated_capacity_gb': round(allocated / GiB, 3),
                'provisioned_capacity_gb': round(provisioned / GiB, 3),
                'reserved_percentage': self.configuration.safe_get('reserved_percentage') or 0,
                'max_over_subscription_ratio': self.configuration.safe_get('max_over_subscription_ratio'),
                'thin_provisioning_support': True, 'thick_provisioning_support': False,
                'multiattach': True, 'QoS_support': False,
                'location_info': f'LocalFileDriver:{self.root}',
                'attach_mode': 'loop' if self.use_loop else 'file',
            }],
        }

    def get_volume_stats(self, refresh=False):
        if refresh or not self._stats:
            self._update_volume_stats()
        return self._stats

    # ------------------------------------------------------------------ volumes
    def create_volume(self, volume):
        path = self._volume_path(volume)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, volume.size * GiB)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return {'provider_location': path}

    # A lock per volume file, through Cinder's coordination (so tooz: every host that shares
    # the coordination URL), as Cinder's own drivers do: a snapshot or clone never copies a
    # file that an extend, revert or delete is changing. One of a fixed set of names
    # (_cinder.striped_lock_name: no file left per deleted volume); no call takes two of them.
    @staticmethod
    def file_lock_name(volume_id: str) -> str:
        """The name of the lock (see _cinder.lock) that guards volume_id's file."""
        return _cinder.striped_lock_name('localfile', volume_id)

    @classmethod
    def _file_lock(cls, volume) -> object:
        return _cinder.lock(cls.file_lock_name(volume.id))

    def delete_volume(self, volume):
        path = self._volume_path(volume)
        with self._file_lock(volume):
            self._detach_loops(path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                LOG.warning('volume file %s was already gone', path)

    def extend_volume(self, volume, new_size):
        path = self._volume_path(volume)
        with self._file_lock(volume):
            os.truncate(path, new_size * GiB)
            for dev in self._loops_of(path):
                _loop.refresh_size(dev)

    def create_cloned_volume(self, volume, src_vref):
        dst, src = self._volume_path(volume), self._volume_path(src_vref)
        with self._file_lock(src_vref):
            sparse_copy(src, dst, volume.size * GiB)
        return {'provider_location': dst}

    # ------------------------------------------------------------------ snapshots
    def create_snapshot(self, snapshot):
        src, dst = self._volume_path(snapshot.volume), self._snapshot_path(snapshot)
        with self._file_lock(snapshot.volume):
            # exactly the size the snapshot records: an extend that ran between the snapshot's
            # record and this copy must not make the copy larger than its volume_size says
            sparse_copy(src, dst, snapshot.volume_size * GiB)
        return {'provider_location': self._snapshot_path(snapshot)}

    def delete_snapshot(self, snapshot):
        try:
            os.unlink(self._snapshot_path(snapshot))
        except FileNotFoundError:
            LOG.warning('snapshot file for %s was already gone', snapshot.id)

    def create_volume_from_snapshot(self, volume, snapshot):
        dst = self._volume_path(volume)
        sparse_copy(self._snapshot_path(snapshot), dst, volume.size * GiB)
        return {'provider_location': dst}

    def revert_to_snapshot(self, context, volume, snapshot):
        path, snap = self._volume_path(volume), self._snapshot_path(snapshot)
        tmp = path + '.revert'
        with self._file_lock(volume):
            sparse_copy(snap, tmp, volume.size * GiB)
            os.replace(tmp, path)

    # ------------------------------------------------------------------ exports / connections
    def create_export(self, context, volume, connector):
        return None

    def ensure_export(self, context, volume):
        return None

    def remove_export(self, context, volume):
        return None

    def validate_connector(self, connector):
        if not isinstance(connector, dict):
            raise _cinder.InvalidConnectorException(missing='a connector dict')

    def initialize_connection(self, volume, connector, initiator_data=None):
        path = self._volume_path(volume)
        if not os.path.exists(path):
            raise _cinder.VolumeBackendAPIException(data=f'volume file {path} is missing')
        device = self._loop_for(path) if self.use_loop else path
        return {'driver_volume_type': 'local',
                'data': {'device_path': device, 'volume_id': volume.id, 'access_mode': 'rw',
                         'file_path': path}}

    def terminate_connection(self, volume, connector, **kwargs):
        if self.use_loop and len(volume.volume_attachment) <= 1:
            self._detach_loops(self._volume_path(volume))

    # ------------------------------------------------------------------ loop devices
    def _loops_of(self, path: str) -> list[str]:
        """The live loop devices over path (not those detached but still held open elsewhere)."""
        return _loop.loops_over(path, check=True) if self.use_loop else []

    def _loop_for(self, path: str) -> str:
        # another attach of the volume on this host shares its device (one page cache)
        existing = self._loops_of(path)
        return existing[0] if existing else _loop.attach(path)

    def _detach_loops(self, path: str) -> None:
        for dev in self._loops_of(path):
            _loop.detach(dev)


#: kept importable here (bench/ and older notebooks import it from the embedded driver)
loop_devices_available = _loop.available
