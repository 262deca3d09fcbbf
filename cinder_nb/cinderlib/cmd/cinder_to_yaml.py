"""Backends of a cinder.conf as cinderlib's test configuration dict (``cinder_to_yaml.convert``).

Values stay strings as written in the file; cinder_nb.Backend converts and checks them
with each driver's own oslo.config types when the backend is created.
"""
from __future__ import annotations

import configparser
import os

import yaml

from cinder_nb.errors import InvalidArgument


def convert(cinder_source: str, yaml_dest: str | None = None) -> dict:
    """{'backends': [options of each enabled backend]} from a cinder.conf; optionally written as YAML."""
    if not os.path.exists(cinder_source):
        raise InvalidArgument('cinder_source', cinder_source, 'an existing Cinder configuration file')
    parser = configparser.ConfigParser(interpolation=None, default_section='__no_defaults__')
    parser.read(cinder_source)
    enabled = parser.get('DEFAULT', 'enabled_backends', fallback='')
    backends = []
    for name in (n.strip() for n in enabled.split(',')):
        if not name:
            continue
        if not parser.has_section(name):
            raise InvalidArgument('enabled_backends', name, f'a backend with a [{name}] section')
        opts = dict(parser.items(name))
        opts.setdefault('volume_backend_name', name)
        backends.append(opts)
    result = {'backends': backends}
    if yaml_dest:
        with open(yaml_dest, 'w') as f:
            yaml.safe_dump(result, f)
    return result
