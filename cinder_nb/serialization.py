"""Versioned JSON of the whole state (or part of it), secrets redacted.

Layout (schema 1)::

    {"format": "cinder_nb.state", "schema": 1, "written_at": "...",
     "backends": [{"name", "volume_driver", "config", "secret_options"}],
     "volumes": [...], "snapshots": [...], "connections": [...]}

``load`` checks the whole document before it changes anything: a bad document
raises StateError (or MissingSecret / BackendConfigError) and leaves the
in-process state as it was.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Iterable

from cinder_nb import runtime
from cinder_nb.errors import BackendConfigError, MissingSecret, StateError
from cinder_nb.resource import now
from cinder_nb.secrets import REDACTED

FORMAT = 'cinder_nb.state'
SCHEMA_VERSION = 1
#: schema N -> function upgrading a document of schema N to N+1
UPGRADES: dict[int, Callable[[dict], dict]] = {}

_FIELDS = {
    'volume': {'id': str, 'backend': str, 'size': int, 'status': str, 'name': str},
    'snapshot': {'id': str, 'backend': str, 'volume_id': str, 'volume_size': int, 'status': str},
    'connection': {'id': str, 'backend': str, 'volume_id': str, 'status': str, 'connector': dict},
}
_LISTS = {'volume': 'volumes', 'snapshot': 'snapshots', 'connection': 'connections'}


def state_dict(backends: Iterable[str] | None = None, volume_ids: Iterable[str] | None = None) -> dict:
    """The (redacted) state as a JSON-able dict, optionally limited to backends or volumes."""
    rt = runtime.get()
    names = list(backends) if backends is not None else sorted(rt.backends)
    wanted_vols = set(volume_ids) if volume_ids is not None else None
    doc: dict[str, Any] = {'format': FORMAT, 'schema': SCHEMA_VERSION, 'written_at': now(),
                           'backends': [], 'volumes': [], 'snapshots': [], 'connections': []}
    for name in names:
        backend = rt.backends.get(name)
        if backend is not None:
            rec = backend.public_record()
            doc['backends'].append({'name': name, 'volume_driver': rec['volume_driver'],
                                    'config': rec['config'], 'secret_options': rec['secret_options']})
    selected = set(names)
    for kind, key in _LISTS.items():
        for obj in rt.find(kind):
            if obj.backend_name not in selected:
                continue
            vol_id = obj.id if kind == 'volume' else obj.record.get('volume_id')
            if wanted_vols is not None and vol_id not in wanted_vols:
                continue
            doc[key].append(obj.public_record())
    return doc


def dumps(backends: Iterable[str] | None = None, indent: int | None = None) -> str:
    """The whole state (or some backends) as versioned JSON; secrets are redacted."""
    return json.dumps(state_dict(backends), indent=indent, sort_keys=True)


def dumps_resource(obj) -> str:
    """One resource with what depends on it (a volume's snapshots and connections)."""
    if obj.KIND == 'volume':
        vol_id = obj.id
    else:
        vol_id = obj.record['volume_id']
    doc = state_dict([obj.backend_name], volume_ids=[vol_id])
    if obj.KIND != 'volume':
        doc['volumes'] = []
        for kind, key in _LISTS.items():
            if kind != obj.KIND:
                doc[key] = []
        doc[_LISTS[obj.KIND]] = [r for r in doc[_LISTS[obj.KIND]] if r['id'] == obj.id]
    return json.dumps(doc, sort_keys=True)


def parse(text: str | bytes | dict) -> dict:
    """Parse and check a state document; upgrade older schemas. Raises StateError."""
    if isinstance(text, dict):
        doc = json.loads(json.dumps(text))
    else:
        try:
            doc = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StateError(f'State is not valid JSON: {exc}') from None
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise StateError(f"Not a cinder_nb state: expected an object with \"format\": \"{FORMAT}\".")
    schema = doc.get('schema')
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise StateError(f'State has an invalid schema version {schema!r}.')
    if schema > SCHEMA_VERSION:
        raise StateError(f'State schema {schema} is newer than this cinder_nb understands '
                         f'({SCHEMA_VERSION}); upgrade cinder_nb to load it.')
    while schema < SCHEMA_VERSION:
        doc = UPGRADES[schema](doc)
        schema = doc['schema'] = schema + 1
    _check(doc)
    return doc


def _check(doc: dict) -> None:
    for key in ('backends', 'volumes', 'snapshots', 'connections'):
        if not isinstance(doc.get(key, []), list):
            raise StateError(f'State field {key!r} must be a list.')
    names = set()
    for i, b in enumerate(doc.get('backends', [])):
        if not isinstance(b, dict) or not isinstance(b.get('name'), str) or not isinstance(
                b.get('volume_driver'), str) or not isinstance(b.get('config', {}), dict):
            raise StateError(f'backends[{i}] must have a string name, a string volume_driver and a dict config.')
        if not isinstance(b.get('secret_options', []), list):
            raise StateError(f'backends[{i}].secret_options must be a list.')
        if b['name'] in names:
            raise StateError(f'Backend {b["name"]!r} appears twice in the state.')
        names.add(b['name'])
    ids: dict[str, set] = {}
    for kind, key in _LISTS.items():
        seen = ids.setdefault(kind, set())
        for i, rec in enumerate(doc.get(key, [])):
            where = f'{key}[{i}]'
            if not isinstance(rec, dict):
                raise StateError(f'{where} must be an object.')
            for field, typ in _FIELDS[kind].items():
                value = rec.get(field)
                if field not in rec:
                    raise StateError(f'{where} is missing field {field!r}.')
                if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
                    raise StateError(f'{where}.{field} must be {typ.__name__}, got {value!r}.')
            if kind in ('volume', 'snapshot') and rec.get('volume_size', rec.get('size', 1)) < 1:
                raise StateError(f'{where} has a size below 1 GiB.')
            if rec['id'] in seen:
                raise StateError(f'Duplicate {kind} id {rec["id"]!r} in the state.')
            seen.add(rec['id'])
            if rec['backend'] not in names and rec['backend'] not in runtime.get().backends:
                raise StateError(f'{where} refers to unknown backend {rec["backend"]!r}.')
    vol_ids = ids['volume']
    for kind in ('snapshot', 'connection'):
        for rec in doc.get(_LISTS[kind], []):
            if rec['volume_id'] not in vol_ids:
                raise StateError(f'{kind} {rec["id"]} refers to volume {rec["volume_id"]!r}, '
                                 'which is not in the state.')


def secret_env_name(backend: str, option: str) -> str:
    return 'CINDER_NB_SECRET_' + re.sub(r'[^A-Za-z0-9]', '_', f'{backend}_{option}').upper()


def load(text: str | bytes | dict, save: bool = False, secrets: dict | None = None) -> dict:
    """Load a state: start its backends, register its resources; returns {'backends', 'volumes'}.

    ``save=True`` also writes the resources to the persistence back-end. Secret
    options come from ``secrets={backend: {option: value}}`` or the environment
    variable CINDER_NB_SECRET_<BACKEND>_<OPTION>. Nothing changes if anything fails.
    """
    from cinder_nb.backend import Backend
    from cinder_nb.connection import Connection
    from cinder_nb.snapshot import Snapshot
    from cinder_nb.volume import Volume

    doc = parse(text)
    rt = runtime.get()
    secrets = secrets or {}
    plans = []
    for b in doc['backends']:
        cfg = {k: v for k, v in b['config'].items() if v != REDACTED}
        for option in b.get('secret_options', []):
            env = secret_env_name(b['name'], option)
            value = (secrets.get(b['name']) or {}).get(option, os.environ.get(env))
            if value is None:
                existing = rt.backends.get(b['name'])
                if existing is not None and option in existing._raw_cfg:
                    value = existing._raw_cfg[option]
                else:
                    raise MissingSecret(b['name'], option, env)
            cfg[option] = value
        existing = rt.backends.get(b['name'])
        if existing is not None and existing._full_config() != dict(cfg, volume_driver=b['volume_driver']):
            raise BackendConfigError(
                f'The state\'s backend {b["name"]!r} has a different configuration from the loaded one; '
                'shut the loaded one down or rename it.', backend=b['name'])
        plans.append((b['name'], b['volume_driver'], cfg, existing is None))
    created = []
    try:
        for name, driver, cfg, new in plans:
            backend = Backend(name, volume_driver=driver, **cfg)
            if new:
                created.append(backend)
    except Exception:
        for backend in created:
            backend.shutdown()
        raise
    classes = {'volume': Volume, 'snapshot': Snapshot, 'connection': Connection}
    with rt.lock:
        loaded: dict[str, list] = {}
        for kind, key in _LISTS.items():
            objs = []
            for rec in doc[key]:
                live = rt.live[kind].get(rec['id'])
                obj = live if live is not None else classes[kind](rec)
                if live is not None:
                    live._rec.update({k: v for k, v in rec.items() if v != REDACTED})
                objs.append(obj)
            loaded[key] = objs
        for key, objs in loaded.items():
            for obj in objs:
                if save:
                    rt.save(obj)
                else:
                    rt.register(obj)
    return {'backends': [rt.backends[p[0]] for p in plans], **loaded}
