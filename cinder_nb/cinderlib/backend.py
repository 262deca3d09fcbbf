"""cinderlib's Backend and setup() over cinder_nb's Backend and runtime."""
from __future__ import annotations

import json as json_lib
import logging
import os
from typing import Any

from cinder_nb import _cinder, _runtime
from cinder_nb.backend import Backend as _Backend
from cinder_nb.cinderlib import _views
from cinder_nb.cinderlib.drivers import list_supported_drivers as _list_drivers
from cinder_nb.cinderlib.exception import AlreadySetup
from cinder_nb.cinderlib.objects import Volume, create_args, persistence
from cinder_nb.errors import InvalidArgument, NotFound
from cinder_nb.persistence.base import Persistence as _CorePersistence

LOG = logging.getLogger('cinder_nb.cinderlib')

#: Cinder's loggers that disable_logs=True silences (cinder_nb's own stay as they are)
_LIBRARY_LOGGERS = ('cinder', 'os_brick', 'oslo_concurrency', 'oslo_db', 'oslo_privsep', 'taskflow')


class _BackendMeta(type):
    @property
    def backends(cls) -> dict[str, 'Backend']:
        """The backends loaded in this process, by name (a fresh dict on each read)."""
        if not _runtime.is_setup():
            return {}
        return {name: _views.wrap(b) for name, b in _runtime.get().backends.items()}


@_views.register(_Backend)
class Backend(_views.View, metaclass=_BackendMeta):
    """cinderlib's Backend: ``Backend(volume_backend_name, volume_driver=..., **options)``.

    A view of a cinder_nb.Backend. Unlike cinderlib, unknown or invalid options raise
    cinder_nb.BackendConfigError instead of a logged warning.
    """

    global_initialization = False
    output_all_backend_info = False
    fail_on_missing_backend = True
    persistence = persistence

    def __new__(cls, volume_backend_name: str, **driver_cfg: Any) -> 'Backend':
        if not cls.global_initialization:
            cls.global_setup()
        return _views.wrap(_Backend(volume_backend_name, **driver_cfg))

    def __init__(self, volume_backend_name: str, **driver_cfg: Any) -> None:
        pass   # built in __new__

    def _ovo_object(self) -> Any:
        raise AttributeError('Backend has no OVO')

    def _fallback(self, name: str) -> Any:
        return getattr(self._core.driver, name)   # cinderlib reached the driver this way

    def __repr__(self) -> str:
        return f'<cinderlib.Backend {self._core.id}>'

    @property
    def id(self) -> str:
        return self._core.id

    @property
    def volumes(self) -> list:
        return _views.wrap_all(self._core.volumes)

    def volumes_filtered(self, volume_id: str | None = None, volume_name: str | None = None) -> list:
        return persistence.get_volumes(volume_id=volume_id, volume_name=volume_name,
                                       backend_name=self._core.id)

    def refresh(self) -> None:
        """Nothing to re-read: volumes, snapshots and connections are read from the store each time."""

    def stats(self, refresh: bool = False) -> dict:
        return self._core.stats(refresh=refresh)

    def create_volume(self, size: int, name: str = '', description: str = '', bootable: bool = False,
                      **kwargs: Any) -> Volume:
        kwargs = create_args(dict(kwargs, name=name, description=description, bootable=bootable))
        return _views.wrap(self._core.create_volume(size, **kwargs))

    def validate_connector(self, connector_dict: dict) -> None:
        self._core.validate_connector(connector_dict)

    @property
    def config(self) -> dict:
        """{'volume_backend_name': name}, or every option (secrets redacted) with
        setup(output_all_backend_info=True)."""
        if Backend.output_all_backend_info:
            return self._core.config
        return {'volume_backend_name': self._core.id}

    @property
    def json(self) -> dict:
        return json_lib.loads(self._core.dumps())

    dump = json

    @property
    def jsons(self) -> str:
        return self._core.dumps()

    dumps = jsons

    @classmethod
    def load(cls, json_src: Any, save: bool = False) -> 'Backend':
        return Volume._loader(json_src, save=save, kind='backend')

    @classmethod
    def load_backend(cls, backend_data: dict) -> 'Backend':
        """The loaded backend a cinderlib document names (created from it when it has options)."""
        if not isinstance(backend_data, dict) or not isinstance(backend_data.get('volume_backend_name'), str):
            raise InvalidArgument('backend_data', backend_data, "a dict with 'volume_backend_name'")
        name = backend_data['volume_backend_name']
        loaded = cls.backends.get(name)
        if loaded is not None:
            return loaded
        if len(backend_data) > 1:
            return cls(**backend_data)
        raise NotFound('backend', name, 'The document has only its name: create it with '
                       'cinderlib.Backend(...) first.')

    def shutdown(self) -> None:
        self._core.shutdown()

    list_supported_drivers = staticmethod(_list_drivers)

    @classmethod
    def global_setup(cls, file_locks_path: str | None = None, root_helper: str = 'sudo',
                     suppress_requests_ssl_warnings: bool = True, disable_logs: bool = True,
                     non_uuid_ids: bool = False, output_all_backend_info: bool = False,
                     project_id: str | None = None, user_id: str | None = None,
                     persistence_config: Any = None, fail_on_missing_backend: bool = True,
                     host: str | None = None, **cinder_config_params: Any) -> None:
        """cinderlib's setup(); see docs/cinderlib.md for what each argument does here."""
        if cls.global_initialization:
            raise AlreadySetup('cinderlib.setup() already ran in this process; set '
                               'cinderlib.Backend.global_initialization = False to run it again '
                               '(that starts a fresh cinder_nb session).')
        for flag, value in (('suppress_requests_ssl_warnings', suppress_requests_ssl_warnings),
                            ('disable_logs', disable_logs), ('non_uuid_ids', non_uuid_ids),
                            ('output_all_backend_info', output_all_backend_info),
                            ('fail_on_missing_backend', fail_on_missing_backend)):
            if not isinstance(value, bool):
                raise InvalidArgument(flag, value, 'True or False')
        if not isinstance(root_helper, str) or not root_helper:
            raise InvalidArgument('root_helper', root_helper, "a command such as 'sudo'")
        if os.geteuid() != 0 and root_helper.split()[0] != 'sudo':
            raise InvalidArgument('root_helper', root_helper,
                                  "'sudo' (cinder_nb runs privileged commands in process as root "
                                  'and through sudo otherwise; another helper is not supported)')
        for name, value in (('project_id', project_id), ('user_id', user_id), ('host', host)):  # type: ignore[assignment]
            if value is not None and not isinstance(value, str):
                raise InvalidArgument(name, value, 'a string or None')
        if file_locks_path is not None and not isinstance(file_locks_path, str):
            raise InvalidArgument('file_locks_path', file_locks_path, 'a directory path or None')
        debug = cinder_config_params.pop('debug', False)
        if not isinstance(debug, bool):
            raise InvalidArgument('debug', debug, 'True or False')
        store = persistence_config_to_cinder_nb(persistence_config)
        _cinder.check_global_options(cinder_config_params)   # nothing changes on a bad one
        _runtime.setup(store, state_dir=file_locks_path, debug=debug)
        if cinder_config_params:
            _cinder.set_global_options(cinder_config_params)
        if suppress_requests_ssl_warnings:
            import urllib3
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        if disable_logs:
            for name in _LIBRARY_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        cls.output_all_backend_info = output_all_backend_info
        cls.fail_on_missing_backend = fail_on_missing_backend
        cls.global_initialization = True


setup = Backend.global_setup


def persistence_config_to_cinder_nb(config: Any) -> Any:
    """cinderlib's persistence_config as cinder_nb's.

    ``None``, ``{'storage': 'memory'}`` and ``{'storage': 'memory_db'}`` -> memory;
    ``{'storage': 'db', 'connection': URL}`` -> the SQLite file or PostgreSQL database at
    URL (an in-memory SQLite URL -> memory); a cinder_nb Persistence instance or plugin
    name is passed on. cinderlib's own plugins (its ``cinderlib.persistence.storage``
    entry points) do not work with cinder_nb.
    """
    if config is None:
        return 'memory'
    if isinstance(config, _CorePersistence):
        return config
    if not isinstance(config, dict):
        raise InvalidArgument('persistence_config', config, "None or a dict with 'storage'")
    config = dict(config)
    storage = config.pop('storage', None) or 'memory'
    if isinstance(storage, _CorePersistence):
        return storage
    if storage in ('memory', 'memory_db'):
        return 'memory'
    if storage == 'db':
        url = config.pop('connection', None)
        # cinderlib's (oslo.db's) sqlite_synchronous: True asks for an fsync per commit (FULL);
        # False for none, which cinder_nb answers with NORMAL (still safe against kill -9)
        sync = config.pop('sqlite_synchronous', None)
        if config:
            raise InvalidArgument('persistence_config', sorted(config),
                                  "only 'connection' (and 'sqlite_synchronous') for storage 'db'")
        if not isinstance(url, str) or '://' not in url:
            raise InvalidArgument('persistence_config.connection', url,
                                  'a database URL (sqlite:///path or postgresql://...)')
        scheme, rest = url.split('://', 1)
        if scheme.startswith('sqlite') and rest in ('', '/', '/:memory:'):
            return 'memory'
        if scheme in ('postgresql+psycopg2', 'postgres'):
            url = 'postgresql://' + rest   # cinder_nb talks to PostgreSQL through psycopg 3
        elif not (scheme.startswith('sqlite') or scheme.startswith('postgresql')):
            raise InvalidArgument('persistence_config.connection', scheme + '://...',
                                  'a SQLite or PostgreSQL URL (cinder_nb supports no other database)')
        if sync is not None and scheme.startswith('sqlite'):
            if not isinstance(sync, bool):
                raise InvalidArgument('persistence_config.sqlite_synchronous', sync, 'True or False')
            return {'storage': 'sqlite', 'url': url, 'synchronous': 'FULL' if sync else 'NORMAL'}
        return url
    if isinstance(storage, str):
        return dict(config, storage=storage)   # a cinder_nb persistence plugin by name
    raise InvalidArgument('persistence_config.storage', storage,
                          "'memory', 'memory_db', 'db', a cinder_nb plugin name or Persistence")
