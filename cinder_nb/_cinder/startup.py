"""Global start-up: oslo.config without argv or files, coordination (locks), privileged helpers.

``initialize()`` runs once per process for the patches, and again on every setup() for the
state provider, the lock service and the log levels.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings
import zlib
from typing import Any

from cinder_nb._cinder import db, file_locks, rtstool
from cinder_nb._cinder.base import CONF, HOST, coordination, cinder_utils

_setup_lock = threading.Lock()
_initialized = False


def initialize(state_dir: str, provider: db.StateProvider, debug: bool = False,
               coordination_url: str | None = None) -> None:
    """Global Cinder set-up; safe to call again (the provider and the lock service are replaced).

    ``coordination_url``: the tooz URL for the locks Cinder's drivers take
    (``cinder.coordination``) and cinder_nb's own; None means file locks in
    ``<state_dir>/locks`` (one host only).
    """
    global _initialized
    with _setup_lock:
        lock_dir = os.path.join(state_dir, 'locks')
        os.makedirs(lock_dir, exist_ok=True)
        if not _initialized:
            # Parse no command line and no config file: the caller's argv belongs to Jupyter.
            CONF(args=[], project='cinder', default_config_files=[], default_config_dirs=[])
            CONF.set_override('host', HOST)
            db.replace_db_api()
            db.patch_object_lookups()
            # Cinder builds 'sudo cinder-rootwrap /etc/cinder/rootwrap.conf'; no rootwrap is
            # installed here, and as root processutils needs no helper at all.
            cinder_utils.get_root_helper = lambda: 'sudo'
            _privileged_helpers_in_process()
            rtstool.run_in_process()
            _initialized = True
        _start_coordination(coordination_url or 'file://' + lock_dir)   # first: it may fail
        db.set_provider(provider)
        CONF.set_override('state_path', state_dir)
        CONF.set_override('lock_path', lock_dir, group='oslo_concurrency')
        # every setup() sets the log level (it stayed as the first one set it)
        logging.getLogger('cinder').setLevel(logging.DEBUG if debug else logging.WARNING)
        logging.getLogger('os_brick').setLevel(logging.DEBUG if debug else logging.ERROR)
        # Cinder's CapacityFilter logs each refusal as a warning; cinder_nb raises
        # InsufficientCapacity with the same numbers, so the warning printed the failure twice
        logging.getLogger('cinder.scheduler.filters.capacity_filter').setLevel(
            logging.DEBUG if debug else logging.ERROR)


def _start_coordination(url: str) -> None:
    """Point cinder.coordination.COORDINATOR (Cinder's tooz wrapper) at url and start it.

    Cinder's ``@coordination.synchronized`` binds that one object at import time, so it is
    reconfigured in place, never replaced. A URL that does not work leaves the previous
    lock service running and raises.
    """
    old, was_started = CONF.coordination.backend_url, coordination.COORDINATOR.started
    if was_started and old == url:
        return
    coordination.COORDINATOR.stop()
    CONF.set_override('backend_url', url, group='coordination')
    try:
        with warnings.catch_warnings():
            # tooz marks its PostgreSQL driver deprecated; the user chose it knowingly
            warnings.simplefilter('ignore', DeprecationWarning)
            coordination.COORDINATOR.start()
    except Exception:
        coordination.COORDINATOR.stop()
        CONF.set_override('backend_url', old, group='coordination')
        if was_started:
            coordination.COORDINATOR.start()
        raise


def coordination_url() -> str:
    """The tooz URL the locks currently go through (may hold a password: never print it)."""
    return CONF.coordination.backend_url


#: Cinder's decorator for a lock named from the call's arguments, held across every host
#: that shares the coordination URL (drivers use it as Cinder's own drivers do)
synchronized = coordination.synchronized


_kept: file_locks.KeptLocks | None = None


def lock(name: str) -> Any:
    """The lock named ``cinder-nb-<name>`` on the configured lock service.

    Use as ``with lock('x'):``. With a file URL it serializes the processes of one host;
    with a distributed URL, every host sharing it. With a file URL it is a lock kept open
    for the process (file_locks: the same file and the same exclusion as tooz's lock of
    that name, without tooz's object, directory check and open per acquire); otherwise
    tooz's lock.
    """
    kept, running = _kept, coordination.COORDINATOR.coordinator
    if kept is None or kept.coordinator is not running or kept.pid != os.getpid():
        kept = _new_kept_locks(running)
    if not kept.enabled:
        return coordination.COORDINATOR.get_lock('nb-' + name)   # the coordinator adds 'cinder-'
    return kept.get(coordination.COORDINATOR.prefix + 'nb-' + name)


def _new_kept_locks(running: Any) -> file_locks.KeptLocks:
    """A new table of kept locks for the running tooz driver, after a set-up or in a forked child."""
    global _kept
    _kept = file_locks.KeptLocks(running)
    return _kept


#: a striped lock name is one of this many per prefix (striped_lock_name): two unrelated ids
#: share one with chance 1/256 and then wait for each other
LOCK_STRIPES = 256


def striped_lock_name(prefix: str, ident: str) -> str:
    """``<prefix>-<n>``, n chosen by ident's crc32: one of LOCK_STRIPES names per prefix. With
    file locks a name is a file that tooz never removes, so a name per resource left a file per
    deleted resource (and a fresh file per use cost twice the acquire of an existing one)."""
    return f'{prefix}-{zlib.crc32(ident.encode()) % LOCK_STRIPES}'


def remove_resource_locks(kind: str, ident: str, driver: Any) -> None:
    """After a volume or snapshot is deleted, remove the lock files the driver named after it
    (its clean_*_file_locks hook), as Cinder's volume manager does after a delete
    (cinder.utils.clean_volume_file_locks). Without this a file stays in the locks dir per
    deleted resource (cinder_nb's own delete locks are a fixed set of names). Failures are
    logged: the resource is gone already."""
    try:
        if kind == 'volume':
            driver.clean_volume_file_locks(ident)
        else:
            driver.clean_snapshot_file_locks(ident)
    except Exception as exc:    # noqa: BLE001  (a lock file left behind is no reason to fail a delete)
        logging.getLogger(__name__).warning('Could not remove the lock files of %s %s: %s', kind, ident, exc)


def _privileged_helpers_in_process() -> None:
    if os.geteuid() != 0:
        return  # without root the privsep daemon cannot start; the embedded driver needs none
    from os_brick import privileged as brick_privileged
    from cinder import privsep as cinder_privsep
    # As root, run privileged functions in this process instead of forking a
    # privsep-helper daemon through sudo/rootwrap (which is not configured here).
    for ctx in (brick_privileged.default, getattr(brick_privileged, 'brick_privsep_hide_output', None),
                cinder_privsep.sys_admin_pctxt):
        if ctx is not None:
            ctx.set_client_mode(False)

