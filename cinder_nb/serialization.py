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

The document's structure is the published JSON Schema ``cinder_nb/schema/state-v2.json``
(:func:`json_schema`), checked with jsonschema; ``check`` adds what a schema cannot say
(timestamps that parse, driver-reported fields of the types Cinder's objects demand,
references that resolve, no duplicate). Documents nested deeper than
``_validation.MAX_DEPTH`` are refused before anything walks them.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import datetime
import functools
import gc
import itertools
import json
import operator
import os
import re
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:   # imported where a document is judged: 35 ms of every import of cinder_nb here
    import jsonschema

try:
    import orjson as _orjson
except ImportError:      # optional: the standard library's json does the same, slower
    _orjson = None

from cinder_nb import _bulk_schema, _cinder, _jsonread, _runtime, _validation
from cinder_nb.persistence.base import copy_record, copy_record_list, first_versions
from cinder_nb.persistence.files import write_file
from cinder_nb.errors import BackendConfigError, CinderNBError, MissingSecret, StateError, shown_name
from cinder_nb._runtime import now
from cinder_nb._version import __version__
from cinder_nb._secrets import REDACTED, SCRUBBER, is_secret_key, redact_collect, redacted_paths

FORMAT = 'cinder_nb.state'
SCHEMA_VERSION = 2
REDACTED_KEY = '_redacted'
_LISTS = {'volume': 'volumes', 'snapshot': 'snapshots', 'connection': 'connections'}
_LIST_KEYS = frozenset(_LISTS.values())
_TOP_KEYS = frozenset({'format', 'schema', 'written_at', 'cinder_nb_version', 'backends', *_LISTS.values()})


# ============================================================================ upgrades
def _lists(doc: dict, key: str) -> list:
    """doc[key] when it is a list (a malformed one is left for the schema check to refuse)."""
    value = doc.get(key)
    return value if isinstance(value, list) else []


def _upgrade_1_to_2(doc: dict) -> dict:
    """Schema 1 -> 2: drop secret placeholders from backend configs; list redacted paths."""
    for b in _lists(doc, 'backends'):
        if isinstance(b, dict) and isinstance(b.get('config'), dict):
            secret = b.get('secret_options') if isinstance(b.get('secret_options'), list) else []
            b['config'] = {k: v for k, v in b['config'].items() if not (k in secret and v == REDACTED)}
    for key in _LISTS.values():
        for rec in _lists(doc, key):
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


def _resource_entry(obj, public: dict | None = None, paths: bool = True) -> dict:
    """obj's public record (``public``, its stored record, when given: not changed) with the
    redacted paths (paths=False: without them, for _dumps_unredacted)."""
    rec = obj.public_record() if public is None else public
    found = secret_paths(obj.KIND, rec) if paths else None
    return dict(rec, **{REDACTED_KEY: found}) if found else rec


def _resolve(spec: dict) -> dict:
    defs = json_schema()['$defs']
    while '$ref' in spec:
        spec = defs[spec['$ref'].rsplit('/', 1)[-1]]
    return spec


@functools.lru_cache(maxsize=None)
def closed_fields(kind: str) -> frozenset:
    """Fields of a kind's records that can hold no redacted path: the schema gives them a
    scalar type (or an enum of scalars) and their names are not secret keys (is_secret_key).
    The schema checks loaded records; cinder_nb's own writes check the same fields."""
    defs = json_schema()['$defs']
    props = {**defs['common']['properties'], **defs[kind]['properties']}
    out = set()
    for name, spec in props.items():
        spec = _resolve(spec)
        types = spec.get('type')
        types = [types] if isinstance(types, str) else types
        scalar = (set(types) <= {'string', 'integer', 'number', 'boolean', 'null'} if types is not None
                  else 'enum' in spec and all(not isinstance(v, (dict, list)) for v in spec['enum']))
        if scalar and not is_secret_key(name):
            out.add(name)
    return frozenset(out)


def _holds_redacted(value: Any) -> bool:
    """Whether value is a dict holding REDACTED as a value, or a dict inside it that does
    (where redacted_paths looks)."""
    if not isinstance(value, dict):
        return False
    values = value.values()
    return REDACTED in values or any(map(_holds_redacted, filter(None, values)))


def secret_paths(kind: str, public: dict) -> list[str]:
    """redacted_paths(public) for a public record of kind, without walking a record that
    cannot hold any: only the fields outside closed_fields(kind) can (most records hold
    none: a volume of a backend without CHAP, say)."""
    rest = list(map(public.__getitem__, public.keys() - closed_fields(kind)))
    if REDACTED in rest or any(map(_holds_redacted, filter(None, rest))):
        return redacted_paths(public)
    return []


#: is_secret_key, remembered per key: loaded records repeat the same few keys
_secret_key = functools.lru_cache(maxsize=4096)(is_secret_key)


def _plain_in(items: Any, closed: frozenset = frozenset()) -> bool:
    """Whether (key, value) pairs hold, outside the closed keys, a secret-looking key with a
    value in clear, or a dict or list that does."""
    for k, v in items:
        if k in closed or v is None or v == '' or v == [] or v == {}:     # what redact() leaves alone
            continue
        if isinstance(k, str) and _secret_key(k) and v != REDACTED:
            return True
        if isinstance(v, dict) and _plain_in(v.items()):
            return True
        if isinstance(v, list) and _plain_in((None, x) for x in v):
            return True
    return False


def plain_secrets(kind: str, rec: dict) -> bool:
    """Whether a loaded record holds a secret in clear (a hand-written document may):
    only the fields outside closed_fields(kind) can (the set difference picks them in C, so
    the Python loop sees the few open fields only)."""
    open_keys = rec.keys() - closed_fields(kind)
    return _plain_in(zip(open_keys, map(rec.__getitem__, open_keys)))


_BY_ID, _BY_CREATED = operator.itemgetter('id'), operator.itemgetter('created_at')


def _order(rec: dict) -> tuple:
    return (str(rec.get('created_at') or ''), rec['id'])


def state_dict(backends: Iterable[str] | None = None, volume_ids: Iterable[str] | None = None,
               paths: bool = True) -> dict:
    """The (redacted) state as a JSON-able dict, optionally limited to backends or volumes.

    paths=False leaves out the records' ``_redacted`` lists (for _dumps_unredacted only)."""
    rt = _runtime.get()
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
        if paths:
            entries = [_resource_entry(o, public, paths) for o, public in found
                       if o is not None and o.backend_name in selected]
        else:       # _resource_entry(o, public, False) is public itself when the store gave it
            entries = [public if public is not None else _resource_entry(o, None, False) for o, public in found
                       if o is not None and o._rec.get('backend') in selected]
        stamps = set(map(type, map(dict.get, entries, itertools.repeat('created_at'))))
        # every record has a string timestamp (as all written since schema 1 do): compare in C
        if stamps <= {str}:
            # by (created_at, id) as two stable sorts on one string each: the same order, and
            # list.sort compares plain strings much faster than tuples (0.07 s against 0.15 s at 100k)
            entries.sort(key=_BY_ID)
            entries.sort(key=_BY_CREATED)
            doc[key] = entries
        else:
            doc[key] = sorted(entries, key=_order)
    return doc


def _maybe_get(rt, vol_id: str):
    try:
        return rt.get('volume', vol_id)
    except CinderNBError:
        return None


def dumps(backends: Iterable[str] | None = None, indent: int | None = None) -> str:
    """The whole state (or some backends) as versioned JSON; secrets are redacted."""
    with gc_paused():
        if indent is None and _orjson is not None:
            text = _dumps_unredacted(backends)
            if text is not None:
                return text
        return encode(state_dict(backends), indent)


#: how REDACTED reads in orjson's output: a JSON string whose whole value is REDACTED
_REDACTED_JSON = _orjson.dumps(REDACTED) if _orjson is not None else b''


def _dumps_unredacted(backends: Iterable[str] | None) -> str | None:
    """dumps() of a state none of whose records holds a redacted value, without looking
    for redacted paths record by record; None when that is not the case (or orjson refuses).

    A record's ``_redacted`` list names the paths whose value is REDACTED, so a document
    whose text holds no JSON string ``"***"`` anywhere has none: its text, encoded without
    the search, is exactly what the search would have given. Any ``"***"`` (a redacted
    secret, or a key or name that happens to read so) sends the caller to the full walk.
    This changes no secret handling: the records come from the store as they were written
    (redacted: cinder_nb's writes and load() redact them), or are redacted here (objects
    held in this process only), in both paths alike.
    """
    try:
        raw = _orjson.dumps(state_dict(backends, paths=False), option=_orjson.OPT_SORT_KEYS)
    except TypeError:       # orjson.JSONEncodeError: the full path encodes with json
        return None
    if _REDACTED_JSON in raw:
        return None
    return raw.decode()


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a whole state's containers are built.

    A state makes hundreds of thousands of dicts and lists, none of them in a reference
    cycle; each batch of allocations set off a collection that scans every live object
    again (at 100k volumes this tripled the time of json.loads alone, bench/state_scale.py).
    Reference counting still frees everything; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def encode(doc: Any, indent: int | None = None) -> str:
    """JSON text with sorted keys: orjson when installed (about 10x faster on a large state,
    bench/bench_state.py), compact and UTF-8; the standard library for an indent or for what
    orjson refuses (non-string keys, integers beyond 64 bits)."""
    if indent is None and _orjson is not None:
        try:
            return _orjson.dumps(doc, option=_orjson.OPT_SORT_KEYS).decode()
        except TypeError:       # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(doc, indent=indent, sort_keys=True)


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
    return encode(doc, indent)


def dump(path: str, indent: int | None = 1) -> None:
    """Write the whole state to a JSON file atomically (see write_file)."""
    write_file(path, dumps(indent=indent))


# ============================================================================ parsing / checking
def parse(text: str | bytes | dict) -> dict:
    """Parse and check a state document; upgrade older schemas. Raises StateError."""
    if isinstance(text, dict):
        _check_depth(text)
        try:
            doc = json.loads(json.dumps(text, allow_nan=False))
        except (TypeError, ValueError, RecursionError) as exc:
            raise StateError(f'State is not JSON-able: {str(exc):.200}') from None
    elif isinstance(text, (str, bytes, bytearray)):
        try:
            doc = _jsonread.loads(text, parse_constant=_no_constant)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StateError(f'State is not valid JSON: {str(exc):.200}') from None
        # the depth limit is checked after the schema check (check()): the schema fixes the
        # shape down to the open fields, so only those need a walk (bench/state_scale.py)
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
    if schema < SCHEMA_VERSION:
        _check_depth(doc)     # the upgrades walk records before any schema check
    while schema < SCHEMA_VERSION:
        doc = UPGRADES[schema](doc)
        schema = doc['schema'] = schema + 1
    check(doc)
    return doc


def _no_constant(name: str):
    raise ValueError(f'{name} is not JSON')


def _check_depth(doc: Any) -> None:
    if _validation.depth(doc, _validation.MAX_DEPTH) is None:
        raise StateError(f'State nests dicts or lists deeper than {_validation.MAX_DEPTH} levels: '
                         'no cinder_nb state does.')


@functools.lru_cache(maxsize=1)
def json_schema() -> dict:
    """The published JSON Schema of the current state document (cinder_nb/schema/state-v2.json)."""
    text = resources.files('cinder_nb').joinpath(f'schema/state-v{SCHEMA_VERSION}.json').read_text()
    return json.loads(text)


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema
    schema = json_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _where(path) -> str:
    out = ''
    for part in path:
        out += f'[{part}]' if isinstance(part, int) else (f'.{part}' if out else str(part))
    return out or 'the document'


@functools.lru_cache(maxsize=1)
def _fast_validator() -> Callable[[Any], Any] | None:
    """The schema compiled to Python by fastjsonschema (30-40x faster than jsonschema on a
    large state, bench/bench_state.py), or None when it is not installed. The schema is
    draft 2020-12 but uses nothing whose meaning differs in draft 7, fastjsonschema's newest
    (no $ref with siblings, no format assertions); jsonschema stays the judge of a rejection."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    schema = copy.deepcopy(json_schema())      # compile() may annotate the dict it is given
    schema['$schema'] = 'http://json-schema.org/draft-07/schema#'
    return fastjsonschema.compile(schema)


@functools.lru_cache(maxsize=1)
def _schema_statuses() -> dict[str, frozenset]:
    """Each kind's status enum in the published schema (the column-wise check uses it)."""
    defs = json_schema()['$defs']
    return {kind: frozenset(defs[kind]['properties']['status']['enum']) for kind in _LISTS}


def _schema_check(doc: dict) -> None:
    fast = _fast_validator()
    if fast is not None:
        try:
            if _bulk_schema.lists_valid(doc, _LISTS.items(), _schema_statuses()):
                # the record lists obey the schema (checked column-wise): the compiled
                # schema checks the rest, with the lists left empty
                fast({k: ([] if k in _LIST_KEYS else v) for k, v in doc.items()})
            else:
                fast(doc)
            return
        except Exception:   # invalid (or beyond fastjsonschema): jsonschema decides and words the error
            pass
    _check_depth(doc)       # jsonschema walks all of it and quotes values: refuse a deep one first
    import jsonschema
    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        # best_match picks the most relevant of the errors; its message quotes the value
        # (cut: a document can hold a long string). Secrets are masked by StateError.
        message = error.message if len(error.message) <= 300 else error.message[:297] + '...'
        raise StateError(f'State does not match the cinder_nb state schema at {_where(error.absolute_path)}: '
                         f'{message}')


def _timestamp_ok(value: Any) -> bool:
    if value is None:
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_record(kind: str, rec: dict, where: str) -> None:
    """What the schema cannot say about one (schema-valid) record."""
    for field in ('created_at', 'updated_at'):
        if not _timestamp_ok(rec.get(field)):
            raise StateError(f'{where}.{field} must be an ISO 8601 timestamp, got {rec[field]!r:.80}.')
    paths = rec.get(REDACTED_KEY, [])
    for path in paths:
        parent, leaf = _locate(rec, path)
        if parent is None or not is_secret_key(leaf):
            raise StateError(f'{where}.{REDACTED_KEY} names {path!r:.80}, which is not a secret field '
                             'of the record.')


#: record fields the schema fixes as flat (dicts of strings, a list of strings): no depth walk
_FLAT_FIELDS = frozenset({'metadata', 'admin_metadata', 'extra_specs', 'qos_specs', REDACTED_KEY})
#: how deep a value inside a record (or a backend's config) may nest: the document is level 1,
#: its list 2, the record 3, the value 4 (_validation.MAX_DEPTH for the whole document)
_VALUE_DEPTH = _validation.MAX_DEPTH - 3


#: value types that do not nest (what JSON decodes besides dicts and lists)
_FLAT_TYPES = frozenset({str, int, float, bool, type(None)})


def _values_flat(dicts: Iterable[dict]) -> bool:
    """Whether every value of every one of these dicts is of _FLAT_TYPES (nothing nests)."""
    return _FLAT_TYPES.issuperset(map(type, itertools.chain.from_iterable(map(dict.values, dicts))))


@functools.lru_cache(maxsize=None)
def _fixed_depth(kind: str) -> frozenset:
    """Fields of a schema-valid record of kind that cannot nest (scalars and flat dicts)."""
    return closed_fields(kind) | _FLAT_FIELDS


def _check_value_depth(kind: str, rec: dict, where: str) -> None:
    """The depth limit for a schema-valid record: only its open values (driver_data,
    connector, connection_info, device, unknown keys) can nest; the rest the schema fixed."""
    for key in rec.keys() - _fixed_depth(kind):
        value = rec[key]
        if value and isinstance(value, (dict, list)):
            if _FLAT_TYPES.issuperset(map(type, value.values() if isinstance(value, dict) else value)):
                continue        # nothing nested inside: one level
            if _validation.depth(value, _VALUE_DEPTH) is None:
                raise StateError(f'State nests dicts or lists deeper than {_validation.MAX_DEPTH} levels '
                                 f'(at {where}.{key:.40}): no cinder_nb state does.')


def _depth_ok_column_wise(kind: str, recs: list) -> bool:
    """True when no record's open value nests (each is a scalar or a dict of scalars), so
    _check_value_depth would find nothing in any of recs; computed a field at a time.
    False: the caller runs _check_value_depth record by record (it words the error)."""
    for key in set().union(*recs) - _fixed_depth(kind):
        values = list(map(dict.get, recs, itertools.repeat(key)))
        types = set(map(type, values))
        nesting = types - _FLAT_TYPES
        if not nesting:
            continue
        if nesting != {dict}:
            return False
        dicts = values if len(types) == 1 else [v for v in values if type(v) is dict]
        if not _values_flat(dicts):
            return False
    return True


@functools.lru_cache(maxsize=1)
def _cinder_samples() -> dict[str, Any]:
    """One object per kind made by the builders driver calls use (_cinder.volume_ovo, ...):
    what each field's coerce() runs against, as the objects' own setters do."""
    vol_rec = {'id': '00000000-0000-4000-8000-000000000001', 'backend': 'b', 'size': 1, 'status': 'available', 'name': ''}
    vol = _cinder.volume_ovo(vol_rec)
    snap = _cinder.snapshot_ovo({'id': '00000000-0000-4000-8000-000000000002', 'volume_id': vol_rec['id'], 'volume_size': 1, 'status': 'available'},
                                _cinder.shallow_volume_ovo(vol_rec))
    conn = _cinder.attachment_ovo({'id': '00000000-0000-4000-8000-000000000003', 'volume_id': vol_rec['id'], 'status': 'attached', 'connector': {}}, vol)
    return {'volume': vol, 'snapshot': snap, 'connection': conn}


def _coerced_values(kind: str, rec: dict) -> dict:
    """The values of a record that the OVO builders (_cinder.volume_ovo, snapshot_ovo,
    attachment_ovo) pass through Cinder's field setters; everything else they store is
    either constant or of a type the schema and _check_record already guarantee."""
    if kind == 'connection':
        connector = rec.get('connector') or {}
        return {'id': rec['id'], 'volume_id': rec['volume_id'],
                'instance_uuid': connector.get('instance_uuid'), 'attached_host': connector.get('host'),
                'attach_time': rec.get('created_at'), 'attach_mode': rec.get('attach_mode', 'rw'),
                'connection_info': rec.get('connection_info') or {}, 'connector': connector}
    fields = _cinder_samples()[kind].fields
    out = {k: v for k, v in (rec.get('driver_data') or {}).items() if k in fields}
    for key in ('metadata', 'admin_metadata') if kind == 'volume' else ('metadata',):
        if rec.get(key):
            out[key] = dict(rec[key])
    return out


def _check_cinder_types(kind: str, rec: dict, where: str) -> None:
    """Check a record's values with the setters of the Cinder object it becomes for driver calls.

    Cinder's object fields decide what a driver-reported value may be (provider_location
    a string, provider_id a string, metadata a dict of strings, ...): a record they refuse
    would make every later driver call fail, the delete included. This runs each such
    field's own coerce() (and its read-only rule), as building the object would, without
    building one per record; tests/state/test_inputs.py checks it agrees with building the
    objects on hostile documents.
    """
    sample = _cinder_samples()[kind]
    fields = sample.fields
    try:
        for name, value in _coerced_values(kind, rec).items():
            field = fields[name]
            value = field.coerce(sample, name, value)
            # oslo's setter: a read-only field already set may only be given its own value
            if (field.read_only and kind != 'connection' and hasattr(sample, '_obj_' + name)
                    and getattr(sample, '_obj_' + name) != value):
                raise ValueError(f'{name} is read-only')
        if kind == 'volume' and (rec.get('extra_specs') or rec.get('qos_specs')):
            _cinder.volume_ovo(rec)     # rare: a volume type too; build the object as before
    except Exception as exc:     # oslo.versionedobjects raises ValueError, TypeError, ...
        raise StateError(f'{where} ({kind} {rec["id"]}) has values Cinder\'s {kind} object refuses: '
                         f'{type(exc).__name__}: {str(exc):.200}') from None


@functools.lru_cache(maxsize=None)
def _keeps_any_str(kind: str, name: str) -> bool:
    """Whether the Cinder object's field name is a writable string field whose coerce() is
    oslo's own: Field.coerce then String.coerce, which accept any str and return it unchanged."""
    from oslo_versionedobjects import fields as ovo_fields
    field = _cinder_samples()[kind].fields[name]
    return (not field.read_only and type(field).coerce is ovo_fields.Field.coerce
            and type(field._type).coerce is ovo_fields.String.coerce)


def _volumes_needing_type_checks(recs: list) -> range | list[int]:
    """The indexes of the volume records _check_cinder_types must still run on: all of them,
    unless every record's driver_data passes column-wise (each of its keys the Cinder object
    knows is a string field of _keeps_any_str, given a str, or None where the field is nullable),
    and then only those with metadata, admin_metadata or a volume type (their own setters)."""
    fields = _cinder_samples()['volume'].fields
    data = list(filter(None, map(dict.get, recs, itertools.repeat('driver_data'))))
    if not {dict}.issuperset(map(type, data)):
        return range(len(recs))
    for name in set().union(*data) & fields.keys():
        types = set(map(type, map(dict.get, data, itertools.repeat(name))))
        if not (_keeps_any_str('volume', name) and
                (types <= {str} or (types <= {str, type(None)} and fields[name].nullable))):
            return range(len(recs))
    rest: set[int] = set()
    for key in ('metadata', 'admin_metadata', 'extra_specs', 'qos_specs'):
        rest.update(itertools.compress(range(len(recs)), map(dict.get, recs, itertools.repeat(key))))
    return sorted(rest)


def _locate(rec: dict, path: str) -> tuple[dict | None, str]:
    """The dict holding a dotted path's last key (None if the path does not exist)."""
    *parents, leaf = path.split('.')
    node: Any = rec
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) and leaf in node else None), leaf


def check(doc: dict) -> None:
    """Check a (current schema) document: the JSON Schema, then what a schema cannot say
    (timestamps, Cinder's field types, duplicates, references); StateError if bad."""
    _schema_check(doc)
    for key in ('backends', *_LISTS.values()):
        doc.setdefault(key, [])
    names: set[str] = set()
    for i, b in enumerate(doc['backends']):
        where = f'backends[{i}]'
        b.setdefault('config', {})
        secret = b.setdefault('secret_options', [])
        leaked = sorted(set(secret) & set(b['config']))
        if leaked:
            raise StateError(f'{where} lists {leaked} as secret options but also gives them in config.')
        if b['name'] in names:
            raise StateError(f'Backend {b["name"]!r} appears twice in the state.')
        names.add(b['name'])
        if b['config'] and _validation.depth(b['config'], _VALUE_DEPTH) is None:
            raise StateError(f'State nests dicts or lists deeper than {_validation.MAX_DEPTH} levels '
                             f'(at {where}.config): no cinder_nb state does.')
    known = names | set(_runtime.get().backends)
    ids: dict[str, dict[str, dict]] = {}
    for kind, key in _LISTS.items():
        seen = ids.setdefault(kind, {})
        if _depth_ok_column_wise(kind, doc[key]):
            continue
        for i, rec in enumerate(doc[key]):
            _check_value_depth(kind, rec, f'{key}[{i}]')
    for kind, key in _LISTS.items():
        if _records_pass(kind, doc[key], known):
            ids[kind] = {rec['id']: rec for rec in doc[key]}
            continue
        seen = ids[kind]                # one record at a time: the first error, worded
        for i, rec in enumerate(doc[key]):
            _check_record(kind, rec, f'{key}[{i}]')
            if rec['id'] in seen:
                raise StateError(f'Duplicate {kind} id {rec["id"]!r} in the state ({key}[{i}]).')
            seen[rec['id']] = rec
            if rec['backend'] not in known:
                raise StateError(f'{key}[{i}] ({kind} {rec["id"]}) refers to unknown backend '
                                 f'{rec["backend"]!r}: the state has no such backend and none is loaded.')
    for i in _volumes_needing_type_checks(doc['volumes']):
        _check_cinder_types('volume', doc['volumes'][i], f'volumes[{i}]')
    for kind in ('snapshot', 'connection'):
        for i, rec in enumerate(doc[_LISTS[kind]]):
            vol = ids['volume'].get(rec['volume_id'])
            if vol is None:
                vol = _stored_volume(rec['volume_id'])
            if vol is None:
                raise StateError(f'{kind} {rec["id"]} refers to volume {rec["volume_id"]!r}, '
                                 'which is neither in the state nor loaded.')
            if vol['backend'] != rec['backend']:
                raise StateError(f'{kind} {rec["id"]} is on backend {rec["backend"]!r} but its volume '
                                 f'{rec["volume_id"]} is on {vol["backend"]!r}.')
            _check_cinder_types(kind, rec, f'{_LISTS[kind]}[{i}]')


def _records_pass(kind: str, recs: list, known: set) -> bool:
    """True when the record-by-record loop of check() would find nothing wrong in recs:
    its checks run column by column (timestamps parse, ids unique, backends known, and
    _check_record for the records with redacted paths). False: that loop decides and words it."""
    ids = list(map(operator.itemgetter('id'), recs))
    if len(set(ids)) != len(ids) or not set(map(operator.itemgetter('backend'), recs)) <= known:
        return False
    try:
        for field in ('created_at', 'updated_at'):
            stamps = [v for v in map(dict.get, recs, itertools.repeat(field)) if v is not None]
            collections.deque(map(datetime.datetime.fromisoformat, stamps), maxlen=0)
        for rec in recs:
            if REDACTED_KEY in rec:
                _check_record(kind, rec, '')
    except (TypeError, ValueError, StateError):
        return False
    return True


def _stored_volume(vol_id: str) -> dict | None:
    try:
        return _runtime.get().get('volume', vol_id).record
    except CinderNBError:
        return None


# ============================================================================ loading
def secret_env_name(backend: str, option: str) -> str:
    """The environment variable load() reads a backend's secret option from."""
    return 'CINDER_NB_SECRET_' + re.sub(r'[^A-Za-z0-9]', '_', f'{backend}_{option}').upper()


def _backend_plans(doc: dict, secrets: dict) -> list[tuple[str, str, dict, bool]]:
    rt = _runtime.get()
    if not isinstance(secrets, dict) or not all(isinstance(v, dict) for v in secrets.values()):
        raise StateError('secrets must be {backend_name: {option: value}}.')
    plans = []
    for b in doc['backends']:
        existing = rt.backends.get(b['name'])
        cfg = dict(b['config'])
        for option in b['secret_options']:
            env = secret_env_name(b['name'], option)
            value = secrets.get(b['name'], {}).get(option, os.environ.get(env))
            if value is None and existing is not None:
                value = existing.given_options().get(option)
            if value is None:
                raise MissingSecret(b['name'], option, env)
            cfg[option] = value
        if existing is not None and existing.given_options() != dict(cfg, volume_driver=b['volume_driver']):
            mine = existing.given_options()
            wanted = dict(cfg, volume_driver=b['volume_driver'])
            diff = sorted(k for k in set(mine) | set(wanted) if mine.get(k) != wanted.get(k))
            raise BackendConfigError(
                f'The state\'s backend {b["name"]!r} has a different configuration from the loaded '
                f'one (differs in: {", ".join(shown_name(d) for d in diff[:10])}); call .shutdown() on the loaded backend or '
                'set up a fresh session first.', option=diff[0] if diff else None, backend=b['name'])
        plans.append((b['name'], b['volume_driver'], cfg, existing is None))
    return plans


def _restore(kind: str, rec: dict, live_rec: dict | None, own: bool = False) -> dict:
    """The record to hold in process: redacted paths filled from the live object when it has them.

    own: share no dict or list with rec (the store keeps rec itself, load(save=True))."""
    paths = rec.get(REDACTED_KEY, [])
    if live_rec is None or not paths:   # nothing filled in below
        if own:     # a schema-valid record: its closed fields hold scalars, its flat ones strings
            out = rec.copy()
            out.pop(REDACTED_KEY, None)
            for key in out.keys() - closed_fields(kind):
                value = out[key]
                if type(value) is dict:
                    out[key] = (dict(value) if key in _FLAT_FIELDS else copy_record(value)) if value else {}
                elif type(value) is list:
                    out[key] = copy_record_list(value)
            return out
        return {k: v for k, v in rec.items() if k != REDACTED_KEY}
    rec = copy.deepcopy(rec)
    del rec[REDACTED_KEY]
    for path in paths:
        parent, leaf = _locate(rec, path)
        src, _ = _locate(live_rec, path)
        if parent is not None and src is not None:
            parent[leaf] = copy.deepcopy(src[leaf])
    return rec


def _flat_dicts(values: list) -> bool:
    """Whether these dicts (a column's values) hold only str keys that are not secret-looking
    and only flat values (no dict or list): what _plain_in and the depth check find nothing in."""
    keys = set().union(*values)
    return (_values_flat(values)
            and not any(not isinstance(k, str) or _secret_key(k) for k in keys))


def _split_column_wise(kind: str, recs: list) -> list[tuple[dict, dict]] | None:
    """load(save=True)'s (public, full) pair per record, as (_public(kind, rec), _restore(kind,
    rec, None, own=True)) give them, computed a field at a time over all records: None when a
    record may hold a secret in clear or its values nest (then the caller goes record by record).

    The search for secrets in clear looks at the same open fields _plain_in walks: a secret-looking
    key among them, or among the keys of their dicts, or a value nested below, sends the caller
    to the exact per-record search. Otherwise each record is public as it is, and its full copy
    is a shallow copy whose open dicts are copied too (closed fields hold scalars)."""
    if not recs:
        return []
    keys = set().union(*recs) - closed_fields(kind)
    fulls = list(map(dict.copy, recs))
    if REDACTED_KEY in keys:
        keys.discard(REDACTED_KEY)
        collections.deque(map(dict.pop, fulls, itertools.repeat(REDACTED_KEY), itertools.repeat(None)), maxlen=0)
    for key in keys:
        if not isinstance(key, str) or _secret_key(key):
            return None
        values = list(map(dict.get, recs, itertools.repeat(key)))
        types = set(map(type, values))
        if types <= _FLAT_TYPES:
            continue                    # scalars only: shared as they are
        if types != {dict} or not _flat_dicts(values):
            return None                 # lists, nested values, a mix: the exact per-record path
        # every record has a flat dict here: its copy is made in C
        collections.deque(map(dict.__setitem__, fulls, itertools.repeat(key), map(dict, values)), maxlen=0)
    return list(zip(recs, fulls))


def _public(kind: str, rec: dict) -> dict:
    """The form of a loaded record the store and dumps() may see: rec itself, or, when a
    hand-written document holds secrets in clear, rec redacted as cinder_nb's own writes are
    (the live object keeps the values for the driver; logs and tracebacks mask them)."""
    if not plain_secrets(kind, rec):
        return rec
    paths = rec.get(REDACTED_KEY)
    public, found = redact_collect({k: v for k, v in rec.items() if k != REDACTED_KEY})
    SCRUBBER.add(found)
    if paths:
        public[REDACTED_KEY] = paths
    return public


def _check_conflicts(doc: dict) -> None:
    """A resource id the process already holds must be the same resource (kind, backend, volume)."""
    rt = _runtime.get()
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
    with gc_paused():
        return _load(text, save, secrets)


def _load(text: str | bytes | dict, save: bool, secrets: dict | None) -> dict:
    doc = parse(text)
    rt = _runtime.get()
    plans = _backend_plans(doc, secrets or {})
    _check_conflicts(doc)
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
                backend = _runtime.class_of('backend')(name, volume_driver=driver, **cfg)
                if new:
                    created.append(backend)
            records = {}
            for kind, key in _LISTS.items():
                live = rt.live[kind]
                split = None
                if save and live.keys().isdisjoint(map(operator.itemgetter('id'), doc[key])):
                    split = _split_column_wise(kind, doc[key])
                records[key] = split if split is not None else [
                    (_public(kind, rec), _restore(kind, rec, getattr(live.get(rec['id']), 'record', None), save))
                    for rec in doc[key]]
            versions: dict[str, list[int]] = {key: [] for key in _LISTS.values()}
            if save:
                # the parsed document's records (fresh from JSON, shared with no live record)
                # go to the store as they are, at versions known here: the live objects hold
                # them, so the next dumps() or write need not re-read their records
                versions = {key: first_versions(len(records[key])) for key in _LISTS.values()}
                rt.persistence.adopt_many(
                    (kind, {k: v for k, v in pub.items() if k != REDACTED_KEY} if REDACTED_KEY in pub else pub,
                     version)
                    for kind, key in _LISTS.items() for (pub, _), version in zip(records[key], versions[key]))
        except BaseException:
            rollback()
            raise
        loaded: dict[str, list] = {}
        for kind, key in _LISTS.items():
            objs = []
            make, live = _runtime.class_of(kind), rt.live[kind]
            for _, full in records[key]:
                obj = live.get(full['id'])
                if obj is not None:
                    obj._replace_record(full)
                else:
                    obj = make(full)
                objs.append(obj)
            rt.register_many(kind, objs, saved=save, versions=versions[key])
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
