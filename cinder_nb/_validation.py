"""Argument checks run before any driver is touched."""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from cinder_nb.errors import InvalidArgument

MAX_NAME = 255
MAX_SIZE_GIB = 1 << 20  # 1 PiB: past this a typo is likelier than a wish
BACKEND_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
#: the one id rule (volumes, snapshots, connections; in calls and in loaded documents):
#: ids become file and device names, so only letters, digits, '-' and '_' (a UUID fits)
RESOURCE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]{0,35}$')
ID_RULE = "1-36 ASCII letters, digits, '-' or '_', starting with a letter or digit (e.g. a UUID)"
#: how deep dicts and lists given to cinder_nb may nest (connectors, metadata, documents)
MAX_DEPTH = 32


def size(name: str, value: Any, minimum: int = 1) -> int:
    """A whole number of GiB, at least minimum (bool, float and str are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, value, f'a whole number of GiB (int) >= {minimum}, e.g. {max(minimum, 1)}')
    if value < minimum:
        raise InvalidArgument(name, value, f'a whole number of GiB >= {minimum}')
    if value > MAX_SIZE_GIB:
        raise InvalidArgument(name, value, f'at most {MAX_SIZE_GIB} GiB')
    return value


def text(name: str, value: Any, allow_none: bool = True, max_len: int = MAX_NAME) -> str | None:
    """An optional printable string of sane length."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(name, value, f'a string of at most {max_len} characters')
    if len(value) > max_len:
        raise InvalidArgument(name, value[:40] + '...', f'at most {max_len} characters (got {len(value)})')
    if any(ord(c) < 32 and c not in '\t\n' for c in value):
        raise InvalidArgument(name, value, 'printable text (no control characters)')
    return value


def resource_id(name: str, value: Any) -> str:
    """An id that obeys RESOURCE_ID ('' and anything path-like are refused)."""
    if not isinstance(value, str) or not RESOURCE_ID.fullmatch(value):
        raise InvalidArgument(name, value, ID_RULE)
    return value


def depth(value: Any, limit: int = MAX_DEPTH) -> int | None:
    """How deep dicts/lists nest in value, or None when deeper than limit (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if level > limit:
            return None
        deepest = max(deepest, level)
        stack.extend((c, level + 1) for c in children)
    return deepest


def shallow(name: str, value: Any, limit: int = MAX_DEPTH) -> Any:
    """value itself when its dicts/lists nest at most limit deep; InvalidArgument otherwise."""
    if depth(value, limit) is None:
        raise InvalidArgument(name, f'<{type(value).__name__} nested deeper than {limit}>',
                              f'dicts and lists nested at most {limit} deep')
    return value


def backend_name(value: Any) -> str:
    if not isinstance(value, str) or not BACKEND_NAME.match(value) or value.upper() == 'DEFAULT':
        raise InvalidArgument('volume_backend_name', value,
                              "1-64 letters, digits, '_', '.' or '-' starting with a letter or digit "
                              "(and not 'DEFAULT')")
    return value


def mapping(name: str, value: Any, allow_none: bool = True) -> dict:
    """A JSON-able dict with string keys."""
    if value is None and allow_none:
        return {}
    shallow(name, value)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidArgument(name, value, 'a dict with string keys')
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        pass
    else:
        return dict(value)
    raise InvalidArgument(name, value, 'a dict of JSON-able values (str, int, float, bool, list, dict)')


def str_mapping(name: str, value: Any) -> dict:
    """A dict of string keys and string values (extra specs, metadata)."""
    if type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items()):
        return dict(value)      # what mapping() passes (one level deep, JSON-able): its walks skipped
    value = mapping(name, value)
    for k, v in value.items():
        if not isinstance(v, str):
            raise InvalidArgument(f'{name}[{k!r}]', v, 'a string value')
    return value


#: what a connector must carry besides ``host``, by storage protocol (lower case): the keys
#: os-brick's connector for the protocol reports and the protocol's target reads (the iSCSI
#: initiator name for the ACL, the FC port WWPNs for zoning, the NVMe-oF host NQN)
PROTOCOL_CONNECTOR_KEYS: dict[str, tuple[str, ...]] = {
    'iscsi': ('initiator',), 'iser': ('initiator',),
    'fc': ('wwpns',), 'fibre_channel': ('wwpns',),
    'nvmeof': ('nqn',), 'nvme-of': ('nqn',), 'nvme_of': ('nqn',),
}
_KEY_MEANING = {'host': 'the name of the connecting host',
                'initiator': "the host's iSCSI initiator name (iqn...)",
                'wwpns': "the host's FC port WWPNs (a list)", 'nqn': "the host's NVMe-oF host NQN"}


def connector_keys(protocol: Any) -> tuple[str, ...]:
    """The keys a connector needs for a backend of this storage protocol (``host`` always).

    A driver reporting several protocols takes a connector for any of them: only ``host``.
    """
    if isinstance(protocol, (list, tuple)):
        return ('host',) if len(protocol) != 1 else connector_keys(protocol[0])
    return ('host',) + PROTOCOL_CONNECTOR_KEYS.get(str(protocol or '').lower(), ())


def connector(value: Any, protocol: Any = None) -> dict:
    """An os-brick connector dict (what get_connector_properties returns) with the keys
    ``protocol`` needs (see connector_keys); the error names the missing key."""
    value = mapping('connector', value, allow_none=False)
    for key in ('host', 'initiator', 'ip', 'nqn'):
        if key in value and not isinstance(value[key], str):
            raise InvalidArgument(f'connector[{key!r}]', value[key], 'a string')
    for key in connector_keys(protocol):
        if value.get(key) in (None, '', [], ()):
            why = f'protocol {protocol} needs it' if key != 'host' else 'every connector names its host'
            raise InvalidArgument(f'connector[{key!r}]', value.get(key), f'{_KEY_MEANING[key]} ({why}; '
                                  "os-brick's get_connector_properties() reports it)")
    return value


def choice(name: str, value: Any, options: tuple) -> Any:
    if value not in options:
        raise InvalidArgument(name, value, 'one of ' + ', '.join(map(repr, options)))
    return value
