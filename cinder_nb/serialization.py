"""Versioned JSON of the whole state (or part of it), secrets redacted.

Layout (schema 2)::

    {"format": "cinder_nb.state", "schema": 2, "written_at": "...", "cinder_nb_version": "...",
     "backends": [{"name", "volume_driver", "config", "secret_options"}],
     "volumes": [...], "snapshots": [...], "connections": [...]}

Schema 2 versus 1: in schema 1 a redacted value was only recognisable by being
``"***"``, so a real option or field whose value happened to be ``"***"`` was
dropped on load, and a backend's secret options sat in ``config`` as
placeholders. Schema 2 leaves secret options out of ``config`` (``secret_options``
names them) and gives each resource record that lost a secret a ``"_redacted"``
list of the dotted paths that were replaced (``"driver_data.provider_auth"``,
``"connection_info.data.auth_password"``). ``UPGRADES[1]`` converts a schema 1
document.

``load`` checks the whole document before it changes anything: a bad document
raises StateError (or MissingSecret / BackendConfigError / PersistenceError) and
leaves the in-process state as it was.
"""
from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Callable, Iterable

from cinder_nb import runtime
from cinder_nb.persistence.files import write_file
from cinder_nb.errors import BackendConfigError, CinderNBError, MissingSecret, StateError
from cinder_nb.resource import now
from cinder_nb.secrets import REDACTED, is_secret_key, redacted_paths

FORMAT = 'cinder_nb.state'
SCHEMA_VERSION = 2
REDACTED_KEY = '_redacted'
_LISTS = {'volume': 'volumes', 'snapshot': 'snapshots', 'connection': 'connections'}
_TOP_KEYS = frozenset({'format', 'schema', 'written_at', 'cinder_nb_version', 'backends', *_LISTS.values()})


# ============================================================================ upgrades
def _upgrade_1_to_2(doc: dict) -> dict:
    """Schema 1 -> 2: drop secret placeholders from backend configs; list redacted paths."""
    for b in doc.get('backends') or []:
        if isinstance(b, dict) and isinstance(b.get('config'), dict):
            secret = b.get('secret_options') if isinstance(b.get('secret_options'), list) else []
            b['config'] = {k: v for k, v in b['config'].items() if not (k in secret and v == REDACTED)}
    for key in _LISTS.values():
        for rec in doc.get(key) or []:
            if isinstance(rec, dict):
                paths = redacted_paths(rec)
                if paths:
                    rec[REDACTED_KEY] = paths
    return doc


#: schema N -> function upgrading a document of schema N to N+1
UPGRADES: dict[int, Callable[[dict], dict]] = {1: _upgrade_1_to_2}


# ============================================================================ writing
def _backend_entry(backend) -> dict:
    rec = backend.public_record()
    secret = list(rec['secret_options'])
    return {'name': backend.name, 'volume_driver': rec['volume_driver'],
            'config': {k: v for k, v in rec['config'].items() if k not in secret},
            'secret_options': secret}


def _resource_entry(obj, public: dict | None = None) -> dict:
    """obj's public record (``public``, its stored record, when given) with the redacted paths."""
    rec = obj.public_record() if public is None else public
    paths = redacted_paths(rec)
    if paths:
        rec[REDACTED_KEY] = paths
    return rec


def _order(rec: dict) -> tuple:
    return (str(rec.get('created_at') or ''), rec['id'])


def state_dict(backends: Iterable[str] | None = None, volume_ids: Iterable[str] | None = None) -> dict:
    """The (redacted) state as a JSON-able dict, optionally limited to backends or volumes."""
    from cinder_nb import __version__
    rt = runtime.get()
    names = list(backends) if backends is not None else sorted(rt.backends)
    wanted_vols = set(volume_ids) if volume_ids is not None else None
    doc: dict[str, Any] = {'format': FORMAT, 'schema': SCHEMA_VERSION, 'written_at': now(),
                           'cinder_nb_version': __version__,
                           'backends': [], 'volumes': [], 'snapshots': [], 'connections': []}
    selected = set()
    for name in names:
        backend = rt.backends.get(name)
        if backend is not None:
            doc['backends'].append(_backend_entry(backend))
            selected.add(name)
    for kind, key in _LISTS.items():
        found: list = []
        if wanted_vols is None:
            found = rt.find_with_records(kind)
        else:
            for vol_id in sorted(wanted_vols):
                if kind == 'volume':
                    found.append((_maybe_get(rt, vol_id), None))
                else:
                    found.extend(rt.find_with_records(kind, volume_id=vol_id))
        doc[key] = sorted((_resource_entry(o, public) for o, public in found
                           if o is not None and o.backend_name in selected), key=_order)
    return doc


def _maybe_get(rt, vol_id: str):
    try:
        return rt.get('volume', vol_id)
    except CinderNBError:
        return None


def dumps(backends: Iterable[str] | None = None, indent: int | None = None) -> str:
    """The whole state (or some backends) as versioned JSON; secrets are redacted."""
    return json.dumps(state_dict(backends), indent=indent, sort_keys=True)


def dumps_resource(obj, indent: int | None = None) -> str:
    """One resource as a loadable document: its backend, its volume, and for a volume
    its snapshots and connections (a snapshot or connection document holds only itself
    besides its volume)."""
    vol_id = obj.id if obj.KIND == 'volume' else obj.record['volume_id']
    doc = state_dict([obj.backend_name], volume_ids=[vol_id])
    if obj.KIND != 'volume':
        for kind, key in _LISTS.items():
            if kind not in ('volume', obj.KIND):
                doc[key] = []
        doc[_LISTS[obj.KIND]] = [r for r in doc[_LISTS[obj.KIND]] if r['id'] == obj.id]
    return json.dumps(doc, sort_keys=True, indent=indent)


def dump(path: str, indent: int | None = 1) -> None:
    """Write the whole state to a JSON file atomically (see write_file)."""
    write_file(path, dumps(indent=indent))


# ============================================================================ parsing / checking
def parse(text: str | bytes | dict) -> dict:
    """Parse and check a state document; upgrade older schemas. Raises StateError."""
    if isinstance(text, dict):
        try:
            doc = json.loads(json.dumps(text))
        except (TypeError, ValueError) as exc:
            raise StateError(f'State is not JSON-able: {exc}') from None
    elif isinstance(text, (str, bytes, bytearray)):
        try:
            doc = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StateError(f'State is not valid JSON: {exc}') from None
    else:
        raise StateError(f'State must be JSON text or a dict, got {type(text).__name__}.')
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise StateError(f'Not a cinder_nb state: expected an object with "format": "{FORMAT}".')
    schema = doc.get('schema')
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise StateError(f'State has an invalid schema version {schema!r}: expected an integer '
                         f'from 1 to {SCHEMA_VERSION}.')
    if schema > SCHEMA_VERSION:
        raise StateError(f'State schema {schema} is newer than this cinder_nb understands '
                         f'(schema {SCHEMA_VERSION}); upgrade cinder_nb to load it.')
    while schema < SCHEMA_VERSION:
        doc = UPGRADES[schema](doc)
        schema = doc['schema'] = schema + 1
    check(doc)
    return doc


def _statuses() -> dict[str, frozenset]:
    from cinder_nb.connection import CONNECTION_STATUSES
    from cinder_nb.snapshot import SNAPSHOT_STATUSES
    from cinder_nb.volume import VOLUME_STATUSES
    # transient statuses the code sets without listing them; 'deleted' is never stored
    return {'volume': frozenset(VOLUME_STATUSES) | {'reverting'} - {'deleted'},
            'snapshot': frozenset(SNAPSHOT_STATUSES) - {'deleted'},
            'connection': frozenset(CONNECTION_STATUSES) | {'detaching'}}


_STR, _OPT_STR, _INT, _BOOL, _DICT, _OPT_DICT, _STR_DICT = (
    'string', 'string or null', 'integer >= 1', 'true or false', 'object', 'object or null',
    'object of strings')
_REQUIRED = {
    'volume': {'id': _STR, 'backend': _STR, 'size': _INT, 'status': _STR, 'name': _STR},
    'snapshot': {'id': _STR, 'backend': _STR, 'volume_id': _STR, 'volume_size': _INT, 'status': _STR},
    'connection': {'id': _STR, 'backend': _STR, 'volume_id': _STR, 'status': _STR, 'connector': _DICT},
}
_COMMON_OPTIONAL = {'error': _OPT_STR, 'created_at': _OPT_STR, 'updated_at': _OPT_STR}
_OPTIONAL = {
    'volume': {'description': _STR, 'pool_name': _OPT_STR, 'source_volid': _OPT_STR,
               'snapshot_id': _OPT_STR, 'extra_specs': _STR_DICT, 'qos_specs': _STR_DICT,
               'metadata': _DICT, 'admin_metadata': _DICT, 'multiattach': _BOOL, 'bootable': _BOOL,
               'driver_data': _DICT},
    'snapshot': {'name': _STR, 'description': _STR, 'metadata': _DICT, 'driver_data': _DICT},
    'connection': {'attach_mode': _STR, 'connection_info': _DICT, 'device': _OPT_DICT},
}


def _type_ok(value: Any, typ: str) -> bool:
    if typ == _STR:
        return isinstance(value, str)
    if typ == _OPT_STR:
        return value is None or isinstance(value, str)
    if typ == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if typ == _BOOL:
        return isinstance(value, bool)
    if typ == _DICT:
        return isinstance(value, dict)
    if typ == _OPT_DICT:
        return value is None or isinstance(value, dict)
    if typ == _STR_DICT:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise AssertionError(typ)


def _check_record(kind: str, rec: Any, where: str, statuses: frozenset) -> None:
    if not isinstance(rec, dict):
        raise StateError(f'{where} must be an object, got {type(rec).__name__}.')
    for field, typ in _REQUIRED[kind].items():
        if field not in rec:
            raise StateError(f'{where} is missing the required field {field!r}.')
        if not _type_ok(rec[field], typ):
            raise StateError(f'{where}.{field} must be a {typ}, got {rec[field]!r:.80}.')
    for field, typ in {**_OPTIONAL[kind], **_COMMON_OPTIONAL}.items():
        if field in rec and not _type_ok(rec[field], typ):
            raise StateError(f'{where}.{field} must be a {typ}, got {rec[field]!r:.80}.')
    if not rec['id'] or len(rec['id']) > 255:
        raise StateError(f'{where}.id must be a non-empty string of at most 255 characters.')
    if rec['status'] not in statuses:
        raise StateError(f'{where}.status {rec["status"]!r} is not a {kind} status '
                         f'({", ".join(sorted(statuses))}).')
    if kind == 'connection':
        if rec.get('attach_mode', 'rw') not in ('rw', 'ro'):
            raise StateError(f"{where}.attach_mode must be 'rw' or 'ro', got {rec['attach_mode']!r:.40}.")
        info = rec.get('connection_info') or {}
        if info and (not isinstance(info.get('driver_volume_type'), str) or
                     not isinstance(info.get('data', {}), dict)):
            raise StateError(f'{where}.connection_info must hold a string driver_volume_type and '
                             'an object data.')
    paths = rec.get(REDACTED_KEY, [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise StateError(f'{where}.{REDACTED_KEY} must be a list of dotted field paths.')
    for path in paths:
        parent, leaf = _locate(rec, path)
        if parent is None or not is_secret_key(leaf):
            raise StateError(f'{where}.{REDACTED_KEY} names {path!r}, which is not a secret field '
                             'of the record.')


def _locate(rec: dict, path: str) -> tuple[dict | None, str]:
    """The dict holding a dotted path's last key (None if the path does not exist)."""
    *parents, leaf = path.split('.')
    node: Any = rec
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) and leaf in node else None), leaf


def check(doc: dict) -> None:
    """Check a (current schema) document's structure and internal references; StateError if bad."""
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise StateError(f'State has unknown top-level fields {unknown}.')
    for key in ('backends', *_LISTS.values()):
        if not isinstance(doc.setdefault(key, []), list):
            raise StateError(f'State field {key!r} must be a list, got {type(doc[key]).__name__}.')
    names: set[str] = set()
    for i, b in enumerate(doc['backends']):
        where = f'backends[{i}]'
        if not isinstance(b, dict):
            raise StateError(f'{where} must be an object.')
        for field in ('name', 'volume_driver'):
            if not isinstance(b.get(field), str) or not b[field]:
                raise StateError(f'{where}.{field} must be a non-empty string, got {b.get(field)!r:.80}.')
        if not isinstance(b.setdefault('config', {}), dict):
            raise StateError(f'{where}.config must be an object.')
        secret = b.setdefault('secret_options', [])
        if not isinstance(secret, list) or not all(isinstance(s, str) for s in secret):
            raise StateError(f'{where}.secret_options must be a list of option names.')
        leaked = sorted(set(secret) & set(b['config']))
        if leaked:
            raise StateError(f'{where} lists {leaked} as secret options but also gives them in config.')
        if b['name'] in names:
            raise StateError(f'Backend {b["name"]!r} appears twice in the state.')
        names.add(b['name'])
    statuses = _statuses()
    ids: dict[str, dict[str, dict]] = {}
    for kind, key in _LISTS.items():
        seen = ids.setdefault(kind, {})
        for i, rec in enumerate(doc[key]):
            where = f'{key}[{i}]'
            _check_record(kind, rec, where, statuses[kind])
            if rec['id'] in seen:
                raise StateError(f'Duplicate {kind} id {rec["id"]!r} in the state ({where}).')
            seen[rec['id']] = rec
            if rec['backend'] not in names and rec['backend'] not in runtime.get().backends:
                raise StateError(f'{where} ({kind} {rec["id"]}) refers to unknown backend '
                                 f'{rec["backend"]!r}: the state has no such backend and none is loaded.')
    for kind in ('snapshot', 'connection'):
        for rec in doc[_LISTS[kind]]:
            vol = ids['volume'].get(rec['volume_id'])
            if vol is None:
                vol = _stored_volume(rec['volume_id'])
            if vol is None:
                raise StateError(f'{kind} {rec["id"]} refers to volume {rec["volume_id"]!r}, '
                                 'which is neither in the state nor loaded.')
            if vol['backend'] != rec['backend']:
                raise StateError(f'{kind} {rec["id"]} is on backend {rec["backend"]!r} but its volume '
                                 f'{rec["volume_id"]} is on {vol["backend"]!r}.')


def _stored_volume(vol_id: str) -> dict | None:
    try:
        return runtime.get().get('volume', vol_id).record
    except CinderNBError:
        return None


# ============================================================================ loading
def secret_env_name(backend: str, option: str) -> str:
    """The environment variable load() reads a backend's secret option from."""
    return 'CINDER_NB_SECRET_' + re.sub(r'[^A-Za-z0-9]', '_', f'{backend}_{option}').upper()


def _backend_plans(doc: dict, secrets: dict) -> list[tuple[str, str, dict, bool]]:
    rt = runtime.get()
    if not isinstance(secrets, dict) or not all(isinstance(v, dict) for v in secrets.values()):
        raise StateError('secrets must be {backend_name: {option: value}}.')
    plans = []
    for b in doc['backends']:
        existing = rt.backends.get(b['name'])
        cfg = dict(b['config'])
        for option in b['secret_options']:
            env = secret_env_name(b['name'], option)
            value = secrets.get(b['name'], {}).get(option, os.environ.get(env))
            if value is None and existing is not None and option in existing._raw_cfg:
                value = existing._raw_cfg[option]
            if value is None:
                raise MissingSecret(b['name'], option, env)
            cfg[option] = value
        if existing is not None and existing._full_config() != dict(cfg, volume_driver=b['volume_driver']):
            mine = existing._full_config()
            wanted = dict(cfg, volume_driver=b['volume_driver'])
            diff = sorted(k for k in set(mine) | set(wanted) if mine.get(k) != wanted.get(k))
            raise BackendConfigError(
                f'The state\'s backend {b["name"]!r} has a different configuration from the loaded '
                f'one (differs in: {", ".join(diff)}); call .shutdown() on the loaded backend or '
                'set up a fresh session first.', option=diff[0] if diff else None, backend=b['name'])
        plans.append((b['name'], b['volume_driver'], cfg, existing is None))
    return plans


def _restore(rec: dict, live_rec: dict | None) -> dict:
    """The record to hold in process: redacted paths filled from the live object when it has them."""
    paths = rec.get(REDACTED_KEY, [])
    if live_rec is None or not paths:   # nothing filled in below: sharing nested values is safe
        return {k: v for k, v in rec.items() if k != REDACTED_KEY}
    rec = copy.deepcopy(rec)
    del rec[REDACTED_KEY]
    for path in paths:
        parent, leaf = _locate(rec, path)
        src, _ = _locate(live_rec, path)
        if parent is not None and src is not None:
            parent[leaf] = copy.deepcopy(src[leaf])
    return rec


def _check_conflicts(doc: dict) -> None:
    """A resource id the process already holds must be the same resource (kind, backend, volume)."""
    rt = runtime.get()
    for kind, key in _LISTS.items():
        for rec in doc[key]:
            live = rt.live[kind].get(rec['id'])
            if live is None:
                continue
            for field in ('backend', 'volume_id'):
                if live.record.get(field) != rec.get(field):
                    raise StateError(f'{kind} {rec["id"]} in the state has {field}={rec.get(field)!r} but '
                                     f'the loaded one has {live.record.get(field)!r}.')


def load(text: str | bytes | dict, save: bool = False, secrets: dict | None = None) -> dict:
    """Load a state: start its backends, make its resources live; returns what was loaded.

    The result is ``{'backends': [...], 'volumes': [...], 'snapshots': [...],
    'connections': [...]}``. ``save=True`` also writes the resources to the
    persistence back-end (in one transaction); ``save=False`` keeps them in this
    process only (they still show in ``backend.volumes`` etc.). Secret options come
    from ``secrets={backend: {option: value}}``, the environment variable
    ``CINDER_NB_SECRET_<BACKEND>_<OPTION>`` or an identical backend already loaded.
    Nothing changes in this process or the store if anything fails.
    """
    from cinder_nb.backend import Backend

    doc = parse(text)
    rt = runtime.get()
    plans = _backend_plans(doc, secrets or {})
    _check_conflicts(doc)
    classes = rt._classes()
    created: list = []

    def rollback() -> None:
        for backend in created:
            backend.shutdown()
            try:
                rt.persistence.delete('backend', backend.name)
            except CinderNBError:
                pass

    with rt.lock:
        try:
            for name, driver, cfg, new in plans:
                backend = Backend(name, volume_driver=driver, **cfg)
                if new:
                    created.append(backend)
            records = {key: [(rec, _restore(rec, getattr(rt.live[kind].get(rec['id']), 'record', None)))
                             for rec in doc[key]] for kind, key in _LISTS.items()}
            if save:
                rt.persistence.put_many(
                    (kind, {k: v for k, v in pub.items() if k != REDACTED_KEY})
                    for kind, key in _LISTS.items() for pub, _ in records[key])
        except BaseException:
            rollback()
            raise
        loaded: dict[str, list] = {}
        for kind, key in _LISTS.items():
            objs = []
            for _, full in records[key]:
                obj = rt.live[kind].get(full['id'])
                if obj is not None:
                    obj.record.clear()
                    obj.record.update(full)
                else:
                    obj = classes[kind](full)
                rt.register(obj, saved=save)
                objs.append(obj)
            loaded[key] = objs
    return {'backends': [rt.backends[p[0]] for p in plans], **loaded}


def load_one(kind: str, text: str | bytes | dict, save: bool = False, secrets: dict | None = None):
    """Load a document written by X.dumps() and return its one object of kind X."""
    doc = parse(text)
    key = 'backends' if kind == 'backend' else _LISTS[kind]
    if len(doc[key]) != 1:
        raise StateError(f'The document holds {len(doc[key])} {key}, not one; use cinder_nb.load() '
                         'for a whole state.')
    return load(doc, save=save, secrets=secrets)[key][0]
