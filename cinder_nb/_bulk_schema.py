"""A fast accept path for the state schema's record lists, checked column by column.

The published JSON Schema (cinder_nb/schema/state-v2.json) checked record by record costs
tens of microseconds a record even compiled (fastjsonschema): seconds for 100k volumes.
The records of one kind share their keys, so each schema rule is checked here once per
column with C-level helpers (``set(map(type, col))``, ``max(map(len, col))``, one regular
expression over all ids joined by newlines).

This only ever *accepts*: ``records_valid`` returns True when every record surely obeys
the schema, and False when it cannot tell quickly (an unusual type, a float size, an id
with a newline, ...); the caller then asks the full validators, which decide and word the
error. tests/state/test_inputs.py checks on hostile documents that nothing accepted here
is refused by jsonschema.
"""
from __future__ import annotations

import operator
import re
from typing import Any, Iterable

_STR = {str}
_OPT_STR = {str, type(None)}
#: each line one id (the schema's id pattern; ids cannot hold a newline, so lines are exact)
_ID_LINES = re.compile(r'(?:[A-Za-z0-9][A-Za-z0-9_-]{0,35}\n)*')
_BACKEND_LINES = re.compile(r'(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\n)*')
MAX_ITEMS = 100000
MAX_SIZE = 1048576



def _column(recs: list, key: str) -> list:
    """The values of key in the records that have it."""
    try:
        return list(map(operator.itemgetter(key), recs))     # most keys: in every record
    except KeyError:
        return [r[key] for r in recs if key in r]


#: the keys each kind's checks below read that cinder_nb writes in every record ('_redacted'
#: is left out: most records have none)
_ALWAYS = {'volume': ('id', 'backend', 'error', 'created_at', 'updated_at', 'driver_data', 'status', 'size',
                      'name', 'description', 'pool_name', 'source_volid', 'snapshot_id', 'extra_specs',
                      'qos_specs', 'metadata', 'admin_metadata', 'multiattach', 'bootable'),
           'snapshot': ('id', 'backend', 'error', 'created_at', 'updated_at', 'driver_data', 'status',
                        'volume_id', 'volume_size', 'name', 'description', 'metadata'),
           'connection': ('id', 'backend', 'error', 'created_at', 'updated_at', 'status',
                          'volume_id', 'connector', 'attach_mode', 'connection_info', 'device')}


def _columns(recs: list, kind: str) -> dict[str, Any] | None:
    """The columns of _ALWAYS[kind] in one pass over the records (each record read once,
    instead of once per column: a state's records are scattered in memory), or None when a
    record lacks one of those keys (then _column reads each column as it can)."""
    keys = _ALWAYS[kind]
    try:
        return dict(zip(keys, zip(*map(operator.itemgetter(*keys), recs)))) if recs else dict.fromkeys(keys, ())
    except KeyError:
        return None


def _types(col: list, allowed: set) -> bool:
    return set(map(type, col)) <= allowed


def _strings(col: list, max_len: int, nullable: bool = False) -> bool:
    if not _types(col, _OPT_STR if nullable else _STR):
        return False
    if nullable:
        col = [v for v in col if v is not None]
    return max(map(len, col), default=0) <= max_len


def _lines(col: list, pattern: re.Pattern) -> bool:
    """Every value a string matching pattern's one line (and none holding a newline itself)."""
    if not _types(col, _STR):
        return False
    text = '\n'.join(col) + '\n' if col else ''
    return text.count('\n') == len(col) and pattern.fullmatch(text) is not None


def _ids(col: list, nullable: bool = False) -> bool:
    if nullable:
        if not _types(col, _OPT_STR):
            return False
        col = [v for v in col if v is not None]
    return _lines(col, _ID_LINES)


def _sizes(col: list) -> bool:
    return _types(col, {int}) and (not col or (min(col) >= 1 and max(col) <= MAX_SIZE))


def _enum(col: list, allowed: frozenset) -> bool:
    try:
        return set(col) <= allowed
    except TypeError:           # an unhashable value: not in the enum
        return False


def _string_dicts(col: list) -> bool:
    """The schema's "strings": a dict of at most 1000 strings (<= 65535 long) under keys <= 255 long."""
    if not _types(col, {dict}):
        return False
    for d in col:
        if d and (len(d) > 1000 or max(map(len, d)) > 255 or not _strings(list(d.values()), 65535)):
            return False
    return True


def _dicts(col: list, max_props: int | None = None, nullable: bool = False) -> bool:
    if not _types(col, {dict, type(None)} if nullable else {dict}):
        return False
    return max_props is None or max((len(d) for d in col if d is not None), default=0) <= max_props


def _redacted(col: list) -> bool:
    if not _types(col, {list}):
        return False
    for paths in col:
        if paths and (len(paths) > 100 or not _strings(paths, 1024) or min(map(len, paths)) < 1):
            return False
    return True


def _connection_infos(col: list) -> bool:
    if not _dicts(col):
        return False
    for info in col:
        if not info:
            continue
        if 'driver_volume_type' not in info:      # "if minProperties 1 then required"
            return False
        if not _strings([info['driver_volume_type']], 64):
            return False
        if 'data' in info and type(info['data']) is not dict:
            return False
    return True


def records_valid(kind: str, recs: Any, statuses: frozenset) -> bool:
    """True when every record of the list surely obeys the schema's definition of kind
    (statuses: the schema's status enum for kind)."""
    if type(recs) is not list or len(recs) > MAX_ITEMS or not _types(recs, {dict}):
        return False
    required = {'volume': ('id', 'backend', 'size', 'status', 'name'),
                'snapshot': ('id', 'backend', 'volume_id', 'volume_size', 'status'),
                'connection': ('id', 'backend', 'volume_id', 'status', 'connector')}[kind]
    columns = _columns(recs, kind)
    if columns is None:
        for key in required:
            if any(key not in r for r in recs):
                return False
        col = _column
    else:       # every record holds each required key (_ALWAYS[kind] includes them)
        def col(recs: list, key: str) -> Any:
            found = columns.get(key)
            return found if found is not None else _column(recs, key)
    backends = col(recs, 'backend')
    ok = (_ids(col(recs, 'id'))
          and _lines(backends, _BACKEND_LINES) and not ({'DEFAULT', 'default'} & set(backends))
          and _strings(col(recs, 'error'), 65536, nullable=True)
          and _strings(col(recs, 'created_at'), 64, nullable=True)
          and _strings(col(recs, 'updated_at'), 64, nullable=True)
          and _dicts(col(recs, 'driver_data'), 100)
          and _redacted(col(recs, '_redacted'))
          and _enum(col(recs, 'status'), statuses))
    if not ok:
        return False
    if kind == 'volume':
        return (_sizes(col(recs, 'size'))
                and _strings(col(recs, 'name'), 255)
                and _strings(col(recs, 'description'), 4096)
                and _strings(col(recs, 'pool_name'), 255, nullable=True)
                and _ids(col(recs, 'source_volid'), nullable=True)
                and _ids(col(recs, 'snapshot_id'), nullable=True)
                and all(_string_dicts(col(recs, k)) for k in ('extra_specs', 'qos_specs', 'metadata',
                                                               'admin_metadata'))
                and _types(col(recs, 'multiattach'), {bool})
                and _types(col(recs, 'bootable'), {bool}))
    if kind == 'snapshot':
        return (_ids(col(recs, 'volume_id'))
                and _sizes(col(recs, 'volume_size'))
                and _strings(col(recs, 'name'), 255)
                and _strings(col(recs, 'description'), 4096)
                and _string_dicts(col(recs, 'metadata')))
    return (_ids(col(recs, 'volume_id'))
            and _dicts(col(recs, 'connector'), 200)
            and _enum(col(recs, 'attach_mode'), frozenset({'rw', 'ro'}))
            and _connection_infos(col(recs, 'connection_info'))
            and _dicts(col(recs, 'device'), nullable=True))


def lists_valid(doc: dict, keys: Iterable[tuple[str, str]], statuses: dict[str, frozenset]) -> bool:
    """records_valid for each (kind, key) list present in doc."""
    return all(key not in doc or records_valid(kind, doc[key], statuses[kind]) for kind, key in keys)
