"""Fix-ups of Cinder's RBD driver: its keyring option, clone-snapshot clean-up, pooled RADOS connections."""
from __future__ import annotations

import atexit
import importlib
import threading
import time
import warnings
import weakref
from typing import Any, Callable

from cinder_nb._cinder.base import CONF, SHARED_GROUP, cfg
from cinder_nb._cinder.options import find_option


#: Cinder 29's RBD driver still reads rbd_keyring_conf (getattr, kept for cinderlib users) but
#: no longer registers it: cinder_nb lists and registers it so a backend can name its keyring file.
RBD_KEYRING_OPT = cfg.StrOpt('rbd_keyring_conf', default='',
                             help='Path to the Ceph keyring file of rbd_user (read by the RBD driver, '
                                  'as cinderlib did; needed when ceph.conf does not name it).')
RBD_MODULE = 'cinder.volume.drivers.rbd'


def extra_driver_options(cls: type) -> list:
    """Options a driver reads that its get_driver_options() does not list."""
    return [RBD_KEYRING_OPT] if cls.__module__ == RBD_MODULE else []


def prepare_module() -> None:
    """Make the RBD driver module ready to load: bindings, keyring option, patches.

    The caller makes Ceph's Python bindings importable first (cinder_nb.ceph.ensure_bindings).
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        module = importlib.import_module(RBD_MODULE)
    if getattr(module, 'rados', None) is None:
        try:
            import rados
            import rbd
        except ImportError:
            pass
        else:
            # rbd.py binds rados/rbd once at import (None if they were missing then, e.g. when
            # the driver catalog imported it first); bindings made importable since must reach it.
            module.rados, module.rbd = rados, rbd
    if find_option(RBD_KEYRING_OPT.dest) is None:
        # make_backend_config finds a backend's options among the registered ones
        CONF.register_opt(RBD_KEYRING_OPT, group=SHARED_GROUP)
    if not getattr(module.RBDDriver._delete_volume, 'cinder_nb_patched', False):
        # Cinder 29's _delete_volume returns after the fast-path remove() of a clone without
        # removing the parent's '<clone>.clone_snap' snapshot (only its trash path does), so
        # deleting the parent later only renames it '.deleted' and the image leaks in the pool.
        module.RBDDriver._delete_volume = _rbd_delete_volume_dropping_clone_snap(module)
    if not getattr(module.RBDDriver._connect_to_rados, 'cinder_nb_patched', False):
        # The driver opens and shuts down a new RADOS connection for every call (~8 ms CPU and
        # ~20 ms on a loaded 2-core host, more than an RBD create itself); reuse idle ones.
        _pool_rados_connections(module.RBDDriver)


def _rbd_delete_volume_dropping_clone_snap(module: Any) -> Callable:
    original = module.RBDDriver._delete_volume

    def _delete_volume(self: Any, volume: Any, client: Any) -> None:
        # client= as well as ioctx=: with ioctx alone RBDVolumeProxy opens another RADOS connection
        parent = parent_snap = None
        try:
            with module.RBDVolumeProxy(self, volume.name, client=client.cluster,
                                        ioctx=client.ioctx) as image:
                if self._find_clone_snap(image) is None:   # a volume with clones is only renamed
                    _pool, parent, parent_snap = self._get_clone_info(image, volume.name)
        except self.rbd.ImageNotFound:
            pass
        original(self, volume, client)
        if parent is None:
            return
        try:
            with module.RBDVolumeProxy(self, parent, client=client.cluster,
                                        ioctx=client.ioctx) as image:
                left = parent_snap in {s['name'] for s in image.list_snaps()}
        except self.rbd.ImageNotFound:
            return
        if left:   # the fast path skipped the clean-up; Cinder's own helper does it
            self._delete_clone_parent_refs(client, parent, parent_snap)

    _delete_volume.cinder_nb_patched = True
    return _delete_volume


#: idle RADOS connections kept per driver and (pool, cluster, user, timeout); an idle one older
#: than RADOS_IDLE_S is shut down instead of reused
RADOS_MAX_IDLE = 16
RADOS_IDLE_S = 60.0


class RadosPool:
    """Connected (Rados, Ioctx) pairs of one RBD driver, lent to one borrower at a time.

    A borrower has its pair to itself until it gives it back (librados handles are
    thread-safe, but nothing here relies on it); a pair that is no longer connected or
    has been idle too long is shut down rather than reused.
    """

    _all: 'weakref.WeakSet[RadosPool]'

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[tuple[Any, Any, float]]] = {}
        self._lent: dict[int, tuple] = {}
        self._closed = False
        self.opened = 0          #: connections opened so far (for tests and benchmarks)
        RadosPool._all.add(self)

    def borrow(self, key: tuple, connect: Callable[[], tuple]) -> tuple:
        stale = []
        pair = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                client, ioctx, since = idle.pop()
                if time.monotonic() - since < RADOS_IDLE_S and getattr(client, 'state', '') == 'connected':
                    pair = client, ioctx
                    break
                stale.append((client, ioctx))
        for client, ioctx in stale:
            _shutdown_rados(client, ioctx)
        if pair is None:
            pair = connect()
            with self._lock:
                self.opened += 1
        with self._lock:
            self._lent[id(pair[1])] = key
        return pair

    def give_back(self, client: Any, ioctx: Any) -> None:
        with self._lock:
            key = self._lent.pop(id(ioctx), None)
            idle = self._idle.setdefault(key, []) if key is not None else None
            if idle is not None and not self._closed and len(idle) < RADOS_MAX_IDLE:
                idle.append((client, ioctx, time.monotonic()))
                return
        _shutdown_rados(client, ioctx)

    def close(self) -> None:
        """Shut down the idle connections; ones lent out are shut down when given back."""
        with self._lock:
            self._closed = True
            pairs = [(c, i) for idle in self._idle.values() for c, i, _ in idle]
            self._idle.clear()
        for client, ioctx in pairs:
            _shutdown_rados(client, ioctx)

    @property
    def idle(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())


RadosPool._all = weakref.WeakSet()
_pool_lock = threading.Lock()


def _shutdown_rados(client: Any, ioctx: Any) -> None:
    try:
        ioctx.close()
    finally:
        client.shutdown()


def rados_pool(driver: Any) -> RadosPool:
    """The RADOS connection pool of an RBD driver instance (made on first use)."""
    pool = driver.__dict__.get('_cinder_nb_rados_pool')
    if pool is None:
        with _pool_lock:
            pool = driver.__dict__.setdefault('_cinder_nb_rados_pool', RadosPool())
    return pool


def _pool_rados_connections(cls: Any) -> None:
    original_connect = cls._connect_to_rados
    original_disconnect = cls._disconnect_from_rados

    def _connect_to_rados(self: Any, pool: str | None = None, remote: dict | None = None,
                          timeout: int | None = None) -> tuple:
        key = (pool or self.configuration.rbd_pool, self._get_config_tuple(remote),
               self.configuration.rados_connect_timeout if timeout is None else timeout)
        return rados_pool(self).borrow(key, lambda: original_connect(self, pool, remote, timeout))

    def _disconnect_from_rados(self: Any, client: Any, ioctx: Any) -> None:
        pool = self.__dict__.get('_cinder_nb_rados_pool')
        if pool is None:
            original_disconnect(client, ioctx)
        else:
            pool.give_back(client, ioctx)

    _connect_to_rados.cinder_nb_patched = True
    cls._connect_to_rados = _connect_to_rados
    cls._disconnect_from_rados = _disconnect_from_rados   # an instance method now: it needs the pool


def release(driver: Any) -> None:
    """Free what cinder_nb keeps for a driver that is being unloaded (idle RADOS connections)."""
    pool = getattr(driver, '__dict__', {}).get('_cinder_nb_rados_pool')
    if pool is not None:
        pool.close()


@atexit.register
def _close_rados_pools() -> None:
    for pool in list(RadosPool._all):
        pool.close()
