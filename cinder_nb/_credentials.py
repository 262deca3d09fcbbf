"""Where a backend's secret options come from when a session reopens a stored backend.

In order: the ``secrets={backend: {option: value}}`` a caller gave, the environment
variable ``CINDER_NB_SECRET_<BACKEND>_<OPTION>``, and the OS keyring through the
``keyring`` package (service ``cinder_nb``, user ``<backend>/<option>``) when that
package is installed and holds the secret. Nothing here ever writes a secret anywhere.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any

LOG = logging.getLogger('cinder_nb')

#: keyring service name; the user name is '<backend>/<option>'
KEYRING_SERVICE = 'cinder_nb'


def secret_env_name(backend: str, option: str) -> str:
    """The environment variable a backend's secret option is read from."""
    return 'CINDER_NB_SECRET_' + re.sub(r'[^A-Za-z0-9]', '_', f'{backend}_{option}').upper()


def keyring_user(backend: str, option: str) -> str:
    """The keyring user name under service KEYRING_SERVICE that holds a backend's secret option."""
    return f'{backend}/{option}'


def from_keyring(backend: str, option: str) -> str | None:
    """The secret from the OS keyring, or None (keyring missing, no backend, or no entry)."""
    try:
        import keyring
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_user(backend, option))
    except Exception as exc:   # no usable keyring backend (keyring.errors.*), locked store, ...
        LOG.debug('keyring lookup for %s/%s failed: %s', backend, option, type(exc).__name__)
        return None


def lookup(backend: str, option: str, given: Any = None) -> str | None:
    """A secret option's value from given ({backend: {option: value}}), the environment or the keyring."""
    if isinstance(given, dict) and isinstance(given.get(backend), dict) and option in given[backend]:
        return given[backend][option]
    value = os.environ.get(secret_env_name(backend, option))
    if value is not None:
        return value
    return from_keyring(backend, option)
