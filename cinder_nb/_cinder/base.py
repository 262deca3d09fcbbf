"""The Cinder imports every other module of this package shares, and the constants of cinder_nb's identity.

Importing this module imports Cinder (and eventlet, which it needs) once, registers
Cinder's versioned objects, and silences eventlet's warnings for a notebook user.
"""
from __future__ import annotations

import warnings
from typing import Any

# Cinder imports eventlet, which warns that it is deprecated on import. The warning is
# noise for a notebook user (we never monkey-patch), so it is filtered for that import.
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import eventlet  # noqa: F401
    from cinder import objects as cinder_objects

    cinder_objects.register_all()
    from cinder import context as cinder_context
    from cinder import coordination  # noqa: F401  (for the sibling modules)
    from cinder import exception as cinder_exception
    from cinder import interface as cinder_interface  # noqa: F401  (for the sibling modules)
    from cinder import utils as cinder_utils  # noqa: F401  (for the sibling modules)
    from cinder.db import api as db_api  # noqa: F401  (for the sibling modules)
    from cinder.volume import configuration as cinder_configuration
    from cinder.volume import driver as cinder_driver
    from oslo_config import cfg
    from oslo_versionedobjects import base as ovo_base  # noqa: F401  (for the sibling modules)

# eventlet (imported by Cinder, never monkey-patched here) warns on every fork(); each
# losetup/mkfs subprocess would print it into the user's notebook.
warnings.filterwarnings('ignore', message=r'Using fork\(\) is a bad idea', category=DeprecationWarning)

CONF = cfg.CONF
SHARED_GROUP = cinder_configuration.SHARED_CONF_GROUP
CinderException = cinder_exception.CinderException
PROJECT_ID = 'cinder_nb'
USER_ID = 'cinder_nb'
HOST = 'cinder_nb'

BaseVolumeDriver = cinder_driver.VolumeDriver
VolumeBackendAPIException = cinder_exception.VolumeBackendAPIException
InvalidConnectorException = cinder_exception.InvalidConnectorException


def context() -> Any:
    """An admin request context for driver calls."""
    return cinder_context.RequestContext(user_id=USER_ID, project_id=PROJECT_ID,
                                         is_admin=True, overwrite=False)
