"""Import a cinderlib 5.2 deployment's state into cinder_nb with one call.

``migrate(source, save=True)`` reads either cinderlib's JSON (``cinderlib.dumps()``,
a Backend's or a resource's ``dumps``) or its ``db`` persistence (Cinder's own tables
in SQLite or PostgreSQL, given as ``{'storage': 'db', 'connection': URL}`` or the URL),
turns every volume, snapshot and connection into cinder_nb records and loads them
with cinder_nb.load (the whole document is checked before anything changes). The
backends must be loaded first (``cinderlib.Backend(**driver_config)``): cinderlib's
state does not hold their options.
"""
from __future__ import annotations

import json as json_lib
from typing import Any

from cinder_nb import _runtime, _statuses, serialization as _state
from cinder_nb.cinderlib import _views
from cinder_nb.cinderlib.backend import persistence_config_to_cinder_nb
from cinder_nb.errors import InvalidArgument, StateError

_OVO_NAME = 'versioned_object.name'
_OVO_DATA = 'versioned_object.data'
#: Cinder OVO fields a driver sets that cinder_nb keeps in a record's driver_data
_DRIVER_FIELDS = ('provider_location', 'provider_auth', 'provider_id', 'provider_geometry',
                  'replication_status', 'replication_extended_status', 'replication_driver_data',
                  'consistencygroup_id', 'group_id', 'encryption_key_id', 'shared_targets',
                  'service_uuid', 'use_quota')
_CLASSES = ('Backend', 'Volume', 'Snapshot', 'Connection')


def is_cinderlib_document(doc: Any) -> bool:
    """True for cinderlib 5.2's JSON: an object with 'class', or a list of them."""
    if isinstance(doc, list):
        return all(isinstance(d, dict) and d.get('class') in _CLASSES for d in doc)
    return isinstance(doc, dict) and doc.get('class') in _CLASSES


# ============================================================================ JSON
def _data(primitive: Any, where: str) -> dict:
    if not isinstance(primitive, dict) or not isinstance(primitive.get(_OVO_DATA), dict):
        raise StateError(f'{where} is not a Cinder versioned object primitive.')
    return primitive[_OVO_DATA]


def _objects(primitive: Any, where: str) -> list[dict]:
    if primitive is None:
        return []
    return [_data(o, f'{where}[{i}]') for i, o in enumerate(_data(primitive, where).get('objects') or [])]


def _backend_of_host(host: Any, where: str) -> tuple[str, str | None]:
    """'hostname@backend#pool' -> (backend, pool)."""
    if not isinstance(host, str) or '@' not in host:
        raise StateError(f'{where}.host {host!r} is not "host@backend#pool".')
    backend, _, pool = host.split('@', 1)[1].partition('#')
    return backend, pool or None


def _ts(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, 'isoformat') else str(value)


def _str_dict(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _driver_data(fields: dict) -> dict:
    return {k: fields[k] for k in _DRIVER_FIELDS if fields.get(k) is not None}


def _volume_record(v: dict, where: str) -> dict:
    backend, pool = _backend_of_host(v.get('host'), where)
    vtype = v.get('volume_type')
    extra_specs, qos_specs = {}, {}
    if isinstance(vtype, dict) and _OVO_DATA in vtype:
        t = vtype[_OVO_DATA]
        extra_specs = _str_dict(t.get('extra_specs'))
        qos = t.get('qos_specs')
        if isinstance(qos, dict) and _OVO_DATA in qos:
            qos_specs = _str_dict(qos[_OVO_DATA].get('specs'))
    elif isinstance(vtype, dict):   # from the database reader
        extra_specs, qos_specs = _str_dict(vtype.get('extra_specs')), _str_dict(vtype.get('qos_specs'))
    status = v.get('status')
    if status not in _statuses.stored('volume'):
        raise StateError(f'{where} has status {status!r}, not a live volume status.')
    return {
        'id': v.get('id'), 'backend': backend, 'pool_name': pool,
        'name': v.get('display_name') or '', 'description': v.get('display_description') or '',
        'size': v.get('size'), 'status': status, 'source_volid': v.get('source_volid'),
        'snapshot_id': v.get('snapshot_id'), 'extra_specs': extra_specs, 'qos_specs': qos_specs,
        'metadata': dict(v.get('metadata') or {}), 'admin_metadata': dict(v.get('admin_metadata') or {}),
        'multiattach': bool(v.get('multiattach')), 'bootable': bool(v.get('bootable')),
        'driver_data': _driver_data(v), 'error': None,
        'created_at': _ts(v.get('created_at')), 'updated_at': _ts(v.get('updated_at') or v.get('created_at')),
    }


def _snapshot_record(s: dict, volume: dict) -> dict:
    return {
        'id': s.get('id'), 'backend': volume['backend'], 'volume_id': volume['id'],
        'volume_size': s.get('volume_size') or volume['size'],
        'name': s.get('display_name') or '', 'description': s.get('display_description') or '',
        'status': s.get('status'), 'metadata': dict(s.get('metadata') or {}),
        'driver_data': _driver_data(s), 'error': None,
        'created_at': _ts(s.get('created_at')), 'updated_at': _ts(s.get('updated_at') or s.get('created_at')),
    }


def _connection_record(c: dict, volume: dict) -> dict:
    info = c.get('connection_info') or {}
    if isinstance(info, str):
        info = json_lib.loads(info)
    connector = info.get('connector') or c.get('connector') or {}
    if isinstance(connector, str):
        connector = json_lib.loads(connector)
    return {
        'id': c.get('id'), 'backend': volume['backend'], 'volume_id': volume['id'],
        'connector': connector, 'attach_mode': c.get('attach_mode') or 'rw',
        'connection_info': info.get('conn') or {}, 'device': info.get('device') or None,
        'status': 'attached', 'error': None,
        'created_at': _ts(c.get('created_at') or c.get('attach_time')),
        'updated_at': _ts(c.get('updated_at') or c.get('created_at') or c.get('attach_time')),
    }


def _add_volume(doc: dict, v: dict, where: str) -> dict:
    vol = _volume_record(v, where)
    doc['volumes'].append(vol)
    for s in _objects(v.get('snapshots'), f'{where}.snapshots'):
        doc['snapshots'].append(_snapshot_record(s, vol))
    for c in _objects(v.get('volume_attachment'), f'{where}.volume_attachment'):
        doc['connections'].append(_connection_record(c, vol))
    return vol


def document_from_json(src: Any) -> dict:
    """cinder_nb's state document for cinderlib 5.2 JSON (backends must be loaded)."""
    if isinstance(src, (str, bytes)):
        try:
            src = json_lib.loads(src)
        except ValueError as exc:
            raise StateError(f'Not JSON: {exc}') from None
    if not is_cinderlib_document(src):
        raise StateError("Not cinderlib JSON: expected objects with 'class' Backend, Volume, "
                         'Snapshot or Connection.')
    doc: dict[str, list] = {'volumes': [], 'snapshots': [], 'connections': []}
    items = src if isinstance(src, list) else [src]
    for n, item in enumerate(items):
        where = f'document[{n}]'
        cls = item['class']
        if cls == 'Backend':
            for i, v in enumerate(item.get('volumes') or []):
                _add_volume(doc, _data(v.get('ovo'), f'{where}.volumes[{i}]'), f'{where}.volumes[{i}]')
        elif cls == 'Volume':
            _add_volume(doc, _data(item.get('ovo'), where), where)
        elif cls == 'Snapshot':
            s = _data(item.get('ovo'), where)
            vol = _volume_record(_data(s.get('volume'), f'{where}.volume'), f'{where}.volume')
            doc['snapshots'].append(_snapshot_record(s, vol))
        else:   # Connection
            c = _data(item.get('ovo'), where)
            vol = _volume_record(_data(c.get('volume'), f'{where}.volume'), f'{where}.volume')
            doc['connections'].append(_connection_record(c, vol))
    return _finish(doc)


def _finish(doc: dict) -> dict:
    rt = _runtime.get()
    names = sorted({r['backend'] for key in ('volumes', 'snapshots', 'connections') for r in doc[key]})
    missing = [n for n in names if n not in rt.backends]
    if missing:
        raise StateError(f'The cinderlib state uses backends {missing} that are not loaded: create '
                         'them first with cinderlib.Backend(volume_backend_name, volume_driver=..., '
                         '...) (cinderlib did not store their options).')
    return {'format': _state.FORMAT, 'schema': _state.SCHEMA_VERSION, 'backends': [], **doc}


def load_cinderlib_json(src: Any, save: bool = False) -> Any:
    """Load cinderlib JSON; returns what cinderlib.load returned (list or one object)."""
    doc = document_from_json(src)
    loaded = _state.load(doc, save=save)
    if isinstance(src, (str, bytes)):
        src = json_lib.loads(src)
    if isinstance(src, list):
        return [_views.wrap(_runtime.get().backends[d['backend']['volume_backend_name']])
                if d['class'] == 'Backend' else _first(loaded, d['class']) for d in src]
    if src['class'] == 'Backend':
        return _views.wrap(_runtime.get().backends[src['backend']['volume_backend_name']])
    return _first(loaded, src['class'])


def _first(loaded: dict, cls: str) -> Any:
    key = {'Volume': 'volumes', 'Snapshot': 'snapshots', 'Connection': 'connections'}[cls]
    return _views.wrap(loaded[key][0]) if loaded[key] else None


# ============================================================================ database
def document_from_db(url: str) -> dict:
    """cinder_nb's state document for cinderlib's ``db`` persistence at url."""
    import sqlalchemy as sa
    url = persistence_config_to_cinder_nb({'storage': 'db', 'connection': url})
    if url == 'memory':
        raise InvalidArgument('source', url, "a cinderlib database that outlives its process")
    if url.startswith(('postgresql://', 'postgres://')):
        url = 'postgresql+psycopg://' + url.split('://', 1)[1]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            meta = sa.MetaData()
            try:
                meta.reflect(conn, only=['volumes', 'snapshots', 'volume_attachment', 'volume_types',
                                         'volume_type_extra_specs', 'quality_of_service_specs',
                                         'volume_metadata', 'volume_admin_metadata', 'snapshot_metadata'])
            except sa.exc.InvalidRequestError as exc:
                raise StateError(f'{_safe(url)} holds no cinderlib state: {exc}') from None
            t = meta.tables

            def rows(name: str, **where: Any) -> list[dict]:
                table = t[name]
                q = sa.select(table)
                if 'deleted' in table.c:
                    q = q.where(sa.or_(table.c.deleted.is_(None), table.c.deleted == sa.false()))
                for k, v in where.items():
                    q = q.where(table.c[k] == v)
                return [dict(r._mapping) for r in conn.execute(q)]

            def kv(name: str, fk: str, ident: str) -> dict:
                return {r['key']: r['value'] for r in rows(name, **{fk: ident})}

            types = {}
            for vt in rows('volume_types'):
                qos = {}
                if vt.get('qos_specs_id'):
                    qos = {r['key']: r['value'] for r in rows('quality_of_service_specs')
                           if r.get('specs_id') == vt['qos_specs_id'] and r.get('key')}
                types[vt['id']] = {'extra_specs': kv('volume_type_extra_specs', 'volume_type_id', vt['id']),
                                   'qos_specs': qos}
            doc: dict[str, list] = {'volumes': [], 'snapshots': [], 'connections': []}
            for v in sorted(rows('volumes'), key=lambda r: (str(r.get('created_at')), r['id'])):
                where = f'volume {v["id"]}'
                v['volume_type'] = types.get(v.get('volume_type_id'))
                v['metadata'] = kv('volume_metadata', 'volume_id', v['id'])
                v['admin_metadata'] = kv('volume_admin_metadata', 'volume_id', v['id'])
                vol = _volume_record(v, where)
                doc['volumes'].append(vol)
                for s in rows('snapshots', volume_id=v['id']):
                    s['metadata'] = kv('snapshot_metadata', 'snapshot_id', s['id'])
                    doc['snapshots'].append(_snapshot_record(s, vol))
                for c in rows('volume_attachment', volume_id=v['id']):
                    doc['connections'].append(_connection_record(c, vol))
    except sa.exc.SQLAlchemyError as exc:
        raise StateError(f'Cannot read the cinderlib database {_safe(url)}: {exc}') from None
    finally:
        engine.dispose()
    return _finish(doc)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split('://', 1)[0] + '://...'


def migrate(source: Any, save: bool = True) -> dict:
    """Import a cinderlib 5.2 state; returns {'volumes': [...], 'snapshots': [...], 'connections': [...]}.

    source: cinderlib JSON (a string or its parsed form), a database URL of cinderlib's
    ``db`` persistence, or ``{'storage': 'db', 'connection': URL}``. Load the backends
    first. Volumes keep their ids, so the drivers find their storage. ``save=True``
    writes the records to cinder_nb's state store (in one transaction).
    """
    if isinstance(source, dict) and source.get('storage') == 'db':
        doc = document_from_db(source.get('connection'))
    elif isinstance(source, str) and '://' in source.split('\n', 1)[0] and not source.lstrip().startswith(('{', '[')):
        doc = document_from_db(source)
    else:
        doc = document_from_json(source)
    loaded = _state.load(doc, save=save)
    return {k: _views.wrap_all(loaded[k]) for k in ('volumes', 'snapshots', 'connections')}
