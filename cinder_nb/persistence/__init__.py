"""Persistence back-ends: memory, sqlite, postgresql, and plugins by entry point."""
from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any

from cinder_nb.errors import InvalidArgument, PersistenceError
from cinder_nb.persistence.base import ANY, KINDS, NEW, Persistence, StaleRecord, Write
from cinder_nb.persistence.memory import MemoryPersistence

ENTRY_POINT_GROUP = 'cinder_nb.persistence'

__all__ = ['KINDS', 'Persistence', 'Write', 'StaleRecord', 'NEW', 'ANY', 'create', 'ENTRY_POINT_GROUP']


def create(config: Any, state_dir: str) -> Persistence:
    """Build the persistence back-end a ``setup(persistence_config=...)`` value names.

    Accepted: None (SQLite file ``cinder_nb.db`` in the state dir), ``'memory'``, a URL
    (``sqlite:///path``, ``postgresql://...``), a dict with ``storage`` set to
    ``memory``/``sqlite`` (``path``, optional ``synchronous``: 'NORMAL' or 'FULL')/``postgresql``
    (``url``) or an entry-point plugin
    name (other keys are passed to it), or a ready Persistence instance.
    """
    if isinstance(config, Persistence):
        return config
    if config is None:
        config = {'storage': 'sqlite', 'path': os.path.join(state_dir, 'cinder_nb.db')}
    if isinstance(config, str):
        if config == 'memory':
            config = {'storage': 'memory'}
        elif '://' in config:
            config = {'storage': config.split(':', 1)[0].split('+', 1)[0], 'url': config}
        else:
            config = {'storage': config}
    if not isinstance(config, dict):
        raise InvalidArgument('persistence_config', config, "None, 'memory', a URL or a dict with 'storage'")
    config = dict(config)
    storage = config.pop('storage', 'sqlite' if 'path' in config else None)
    if storage == 'memory':
        return MemoryPersistence()
    if storage == 'sqlite':
        # imported here, not above: SQLAlchemy is loaded only by those who choose a SQL store
        from cinder_nb.persistence.sql import SQLPersistence
        url = config.get('url') or 'sqlite:///' + os.path.abspath(config.get('path') or
                                                                  os.path.join(state_dir, 'cinder_nb.db'))
        unknown = sorted(set(config) - {'url', 'path', 'synchronous'})
        if unknown:
            raise InvalidArgument('persistence_config', unknown, "only 'path' (or 'url') and 'synchronous' for sqlite")
        return SQLPersistence(url, synchronous=config.get('synchronous', 'NORMAL'))
    if storage in ('postgresql', 'postgres'):  # postgresql+psycopg:// too
        from cinder_nb.persistence.sql import SQLPersistence
        if not config.get('url'):
            raise InvalidArgument('persistence_config', {'storage': storage}, "a 'url' for postgresql")
        return SQLPersistence(config['url'])
    plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if storage in plugins:
        try:
            plugin = plugins[storage].load()
            backend = plugin(**config)
        except Exception as exc:
            raise PersistenceError(f'Persistence plugin {storage!r} failed to start: {exc}') from exc
        if not isinstance(backend, Persistence):
            raise PersistenceError(f'Persistence plugin {storage!r} did not return a Persistence instance')
        if backend.shared and type(backend).commit is Persistence.commit:
            raise PersistenceError(
                f'Persistence plugin {storage!r} says other processes share its records (shared=True) '
                'but does not implement commit(), get_versioned() and list_versioned(): the generic '
                'ones are only atomic inside one process, so concurrent writers could overwrite each '
                'other. Implement them (see cinder_nb.persistence.base.Persistence) or set shared=False.')
        return backend
    known = ['memory', 'sqlite', 'postgresql'] + sorted(plugins)
    raise InvalidArgument('persistence_config.storage', storage, 'one of ' + ', '.join(known))
