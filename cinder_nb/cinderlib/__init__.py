"""cinderlib 5.2's public API on cinder_nb: ``import cinder_nb.cinderlib as cinderlib``.

A thin layer: every object is a view of a cinder_nb object and every operation is
cinder_nb's, so arguments are validated and errors typed (cinder_nb.errors) where
cinderlib passed garbage to the driver. What each name does here, and where it
differs from cinderlib, is in docs/cinderlib.md.
"""
from __future__ import annotations

from os_brick.initiator import connector as _brick_connector

from cinder_nb.cinderlib import exception
from cinder_nb.cinderlib.backend import Backend, setup
from cinder_nb.cinderlib.drivers import list_supported_drivers
from cinder_nb.cinderlib.migration import migrate
from cinder_nb.cinderlib.objects import (DEFAULT_PROJECT_ID, DEFAULT_USER_ID, Connection, KeyValue,
                                         Snapshot, Volume)
from cinder_nb.cinderlib.serialization import dump, dumps, json, jsons, load

#: the cinderlib release whose API this layer follows
__version__ = '5.2.0'

get_connector_properties = _brick_connector.get_connector_properties

__all__ = ['setup', 'Backend', 'Volume', 'Snapshot', 'Connection', 'KeyValue', 'load', 'json',
           'jsons', 'dump', 'dumps', 'list_supported_drivers', 'get_connector_properties', 'migrate',
           'exception', 'DEFAULT_PROJECT_ID', 'DEFAULT_USER_ID', '__version__']
