"""The one package that touches Cinder internals, one module per concern.

Everything cinder_nb needs from Cinder beyond its public driver interface lives here;
every patch of a Cinder internal carries a one-line comment saying why.

- ``base``: the Cinder imports (eventlet's warnings silenced), CONF, cinder_nb's identity, context()
- ``startup``: initialize(): oslo.config without argv, coordination (locks), privileged helpers
- ``file_locks``: cinder_nb's own locks kept open per process when the lock service is file://
- ``db``: the replacement of cinder.db.api, answering through a ``StateProvider``
- ``ovo``: Cinder versioned objects built from cinder_nb's records
- ``options``: a backend's oslo.config group, Cinder's option lists, [DEFAULT] overrides
- ``drivers``: driver discovery, instantiation, start-up and release
- ``rbd_fixes``: fix-ups of Cinder's RBD driver (keyring option, clone snapshots, RADOS pool)
- ``rtstool``: Cinder's LIO target helper running cinder-rtstool in-process
- ``capacity``: Cinder's scheduler CapacityFilter on one pool

The names below are what the rest of cinder_nb uses (``_cinder.volume_ovo(...)``).
"""
from __future__ import annotations

from cinder_nb._cinder.base import (CONF, HOST, PROJECT_ID, SHARED_GROUP, USER_ID, BaseVolumeDriver,
                                    CinderException, InvalidConnectorException,
                                    VolumeBackendAPIException, cinder_exception, context)
from cinder_nb._cinder.capacity import capacity_check
from cinder_nb._cinder.db import StateProvider, UnsupportedDBCall
from cinder_nb._cinder.drivers import (complies_with_interface, instantiate_driver, is_volume_driver_class,
                                       prepare_driver_module, registered_volume_drivers, release_driver,
                                       start_driver, volumedriver)
from cinder_nb._cinder.options import (check_global_options, clear_backend_config, common_driver_options,
                                       find_option, make_backend_config, needs_manager_options,
                                       set_global_options, volume_manager)
from cinder_nb._cinder.ovo import (SNAPSHOT_DRIVER_FIELDS, VOLUME_DRIVER_FIELDS, attachment_ovo,
                                   bare_volume_ovo, changed_fields, host_of, refresh_in_place,
                                   shallow_volume_ovo, snapshot_ovo, source_volume_ovo,
                                   unchanged_since_kept, volume_ovo, volume_type_dict)
from cinder_nb._cinder.rbd_fixes import RBD_KEYRING_OPT, RBD_MODULE, RadosPool, extra_driver_options, rados_pool
from cinder_nb._cinder.startup import (coordination_url, initialize, lock, remove_resource_locks,
                                      striped_lock_name, synchronized)

__all__ = ['CONF', 'HOST', 'PROJECT_ID', 'SHARED_GROUP', 'USER_ID', 'BaseVolumeDriver', 'CinderException',
           'InvalidConnectorException', 'VolumeBackendAPIException', 'cinder_exception', 'context',
           'capacity_check', 'StateProvider', 'UnsupportedDBCall', 'complies_with_interface',
           'instantiate_driver', 'is_volume_driver_class', 'prepare_driver_module',
           'registered_volume_drivers', 'release_driver', 'start_driver', 'volumedriver',
           'check_global_options', 'clear_backend_config', 'common_driver_options', 'find_option',
           'make_backend_config', 'needs_manager_options', 'set_global_options', 'volume_manager',
           'SNAPSHOT_DRIVER_FIELDS', 'VOLUME_DRIVER_FIELDS', 'attachment_ovo', 'bare_volume_ovo',
           'changed_fields', 'host_of', 'refresh_in_place', 'shallow_volume_ovo', 'snapshot_ovo',
           'source_volume_ovo', 'unchanged_since_kept', 'volume_ovo', 'volume_type_dict', 'RBD_KEYRING_OPT',
           'RBD_MODULE', 'RadosPool', 'extra_driver_options', 'rados_pool', 'coordination_url', 'initialize', 'lock',
           'remove_resource_locks', 'striped_lock_name', 'synchronized']
