"""cinder_nb: drive real OpenStack Cinder volume drivers from Python and Jupyter.

    import cinder_nb as cnb
    cnb.setup(persistence_config='memory')
    lab = cnb.embedded()                       # the file-backed embedded driver
    vol = lab.create_volume(size=1, name='data')
"""
from __future__ import annotations

from typing import Any

from cinder_nb import errors, serialization
from cinder_nb.backend import Backend, backends, embedded
from cinder_nb.connection import Connection
from cinder_nb.errors import (AttachUnavailable, BackendConfigError, CinderNBError, Conflict, DriverError, InsufficientCapacity,
                              InvalidArgument, InvalidState, MissingSecret, NotFound, PersistenceError,
                              StateError)
from cinder_nb._runtime import setup as _setup
from cinder_nb.serialization import SCHEMA_VERSION
from cinder_nb.snapshot import Snapshot
from cinder_nb.volume import Volume
from cinder_nb._version import __version__


__all__ = ['setup', 'backends', 'Backend', 'Volume', 'Snapshot', 'Connection', 'embedded', 'dumps', 'load',
           'list_supported_drivers', 'errors', 'CinderNBError', 'InvalidArgument', 'NotFound',
           'InvalidState', 'Conflict', 'BackendConfigError', 'MissingSecret', 'DriverError', 'StateError',
           'PersistenceError', 'InsufficientCapacity', 'AttachUnavailable', 'SCHEMA_VERSION', '__version__']


def setup(persistence_config: Any = None, state_dir: str | None = None, debug: bool = False,
          secrets: dict | None = None, coordination_url: str | None = None) -> None:
    """Global set-up (optional: the first Backend runs it with defaults).

    persistence_config: None (SQLite file in state_dir), 'memory', a URL such as
    'sqlite:///state.db' or 'postgresql://user@host/db', or a dict with 'storage'.
    state_dir: locks and the default SQLite file; default ./.cinder_nb ($CINDER_NB_STATE_DIR),
    with 'memory' a private temp dir removed at exit (nothing is written to the cwd).
    coordination_url: where the locks of Cinder's drivers and of cinder_nb live, as a
    tooz URL; several hosts on one state need a shared one, e.g. the PostgreSQL server
    'postgresql://user@host:5432/db' (pip install cinder_nb[postgresql]). Default: file
    locks in state_dir (one host).
    Calling setup() again starts a fresh session (loaded backends are dropped).
    On an existing state, backends() and the lookups (Volume.get_by_id, ...) reopen
    the stored backends; ``secrets={backend: {option: value}}`` gives their secret
    options (else $CINDER_NB_SECRET_<BACKEND>_<OPTION> or the OS keyring).
    """
    _setup(persistence_config, state_dir=state_dir, debug=debug, secrets=secrets,
           coordination_url=coordination_url)


def dumps(indent: int | None = None) -> str:
    """The whole state as versioned JSON (secrets redacted)."""
    return serialization.dumps(indent=indent)


def load(text: str | bytes | dict, save: bool = False, secrets: dict | None = None) -> dict:
    """Load a state written by dumps(); see cinder_nb.serialization.load."""
    return serialization.load(text, save=save, secrets=secrets)


def list_supported_drivers() -> dict[str, dict]:
    """Every Cinder volume driver plus ours, with typed option metadata."""
    return Backend.list_supported_drivers()
