"""The one module that touches Cinder internals.

Everything cinder_nb needs from Cinder beyond its public driver interface lives
here: global oslo.config set-up, object registration, the replacement of
Cinder's database API by our own state, privileged helpers, coordination, and
the construction of Cinder versioned objects (OVOs) from our plain records.
Every patch of a Cinder internal carries a one-line comment saying why.
"""
from __future__ import annotations

import atexit
import datetime
import functools
import importlib
import logging
import os
import pkgutil
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Iterable, Protocol

# Cinder imports eventlet, which warns that it is deprecated on import. The warning is
# noise for a notebook user (we never monkey-patch), so it is filtered for that import.
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import eventlet  # noqa: F401
    from cinder import objects as cinder_objects

    cinder_objects.register_all()
    from cinder import context as cinder_context
    from cinder import coordination
    from cinder import exception as cinder_exception
    from cinder import interface as cinder_interface
    from cinder import utils as cinder_utils
    from cinder.db import api as db_api
    from cinder.volume import configuration as cinder_configuration
    from cinder.volume import driver as cinder_driver
    from oslo_config import cfg
    from oslo_versionedobjects import base as ovo_base

# eventlet (imported by Cinder, never monkey-patched here) warns on every fork(); each
# losetup/mkfs subprocess would print it into the user's notebook.
warnings.filterwarnings('ignore', message=r'Using fork\(\) is a bad idea', category=DeprecationWarning)

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
SHARED_GROUP = cinder_configuration.SHARED_CONF_GROUP
CinderException = cinder_exception.CinderException
PROJECT_ID = 'cinder_nb'
USER_ID = 'cinder_nb'
HOST = 'cinder_nb'

_setup_lock = threading.Lock()
_initialized = False


class StateProvider(Protocol):
    """What the DB replacement asks the core for (implemented by cinder_nb.runtime)."""

    def volume_ovo(self, volume_id: str) -> Any: ...
    def snapshot_ovo(self, snapshot_id: str) -> Any: ...
    def volume_ovos_on_backend(self, backend: str) -> list: ...
    def snapshot_ovos_of_volume(self, volume_id: str) -> list: ...
    def update_volume(self, volume_id: str, values: dict) -> None: ...
    def update_snapshot(self, snapshot_id: str, values: dict) -> None: ...
    def volume_record(self, volume_id: str) -> dict: ...
    def kv_get(self, key: str) -> Any: ...
    def kv_set(self, key: str, value: Any) -> None: ...


_provider: StateProvider | None = None


def context() -> Any:
    """An admin request context for driver calls."""
    return cinder_context.RequestContext(user_id=USER_ID, project_id=PROJECT_ID,
                                         is_admin=True, overwrite=False)


# --------------------------------------------------------------------------- set-up
def initialize(state_dir: str, provider: StateProvider, debug: bool = False,
               coordination_url: str | None = None) -> None:
    """Global Cinder set-up; safe to call again (the provider and the lock service are replaced).

    ``coordination_url``: the tooz URL for the locks Cinder's drivers take
    (``cinder.coordination``) and cinder_nb's own; None means file locks in
    ``<state_dir>/locks`` (one host only).
    """
    global _initialized, _provider
    with _setup_lock:
        lock_dir = os.path.join(state_dir, 'locks')
        os.makedirs(lock_dir, exist_ok=True)
        if not _initialized:
            # Parse no command line and no config file: the caller's argv belongs to Jupyter.
            CONF(args=[], project='cinder', default_config_files=[], default_config_dirs=[])
            CONF.set_override('host', HOST)
            _replace_db_api()
            _patch_object_lookups()
            # Cinder builds 'sudo cinder-rootwrap /etc/cinder/rootwrap.conf'; no rootwrap is
            # installed here, and as root processutils needs no helper at all.
            cinder_utils.get_root_helper = lambda: 'sudo'
            _privileged_helpers_in_process()
            _rtstool_in_process()
            _initialized = True
        _start_coordination(coordination_url or 'file://' + lock_dir)   # first: it may fail
        _provider = provider
        CONF.set_override('state_path', state_dir)
        CONF.set_override('lock_path', lock_dir, group='oslo_concurrency')
        # every setup() sets the log level (it stayed as the first one set it)
        logging.getLogger('cinder').setLevel(logging.DEBUG if debug else logging.WARNING)
        logging.getLogger('os_brick').setLevel(logging.DEBUG if debug else logging.ERROR)


def _start_coordination(url: str) -> None:
    """Point cinder.coordination.COORDINATOR (Cinder's tooz wrapper) at url and start it.

    Cinder's ``@coordination.synchronized`` binds that one object at import time, so it is
    reconfigured in place, never replaced. A URL that does not work leaves the previous
    lock service running and raises.
    """
    old, was_started = CONF.coordination.backend_url, coordination.COORDINATOR.started
    if was_started and old == url:
        return
    coordination.COORDINATOR.stop()
    CONF.set_override('backend_url', url, group='coordination')
    try:
        with warnings.catch_warnings():
            # tooz marks its PostgreSQL driver deprecated; the user chose it knowingly
            warnings.simplefilter('ignore', DeprecationWarning)
            coordination.COORDINATOR.start()
    except Exception:
        coordination.COORDINATOR.stop()
        CONF.set_override('backend_url', old, group='coordination')
        if was_started:
            coordination.COORDINATOR.start()
        raise


def coordination_url() -> str:
    """The tooz URL the locks currently go through (may hold a password: never print it)."""
    return CONF.coordination.backend_url


#: Cinder's decorator for a lock named from the call's arguments, held across every host
#: that shares the coordination URL (drivers use it as Cinder's own drivers do)
synchronized = coordination.synchronized


def lock(name: str) -> Any:
    """A tooz lock named ``cinder-nb-<name>`` from the configured lock service.

    Use as ``with lock('x'):``. With a file URL it serializes the processes of one host;
    with a distributed URL, every host sharing it.
    """
    return coordination.COORDINATOR.get_lock('nb-' + name)   # the coordinator adds 'cinder-'


def _privileged_helpers_in_process() -> None:
    if os.geteuid() != 0:
        return  # without root the privsep daemon cannot start; the embedded driver needs none
    from os_brick import privileged as brick_privileged
    from cinder import privsep as cinder_privsep
    # As root, run privileged functions in this process instead of forking a
    # privsep-helper daemon through sudo/rootwrap (which is not configured here).
    for ctx in (brick_privileged.default, getattr(brick_privileged, 'brick_privsep_hide_output', None),
                cinder_privsep.sys_admin_pctxt):
        if ctx is not None:
            ctx.set_client_mode(False)


#: cinder-rtstool subcommand -> positions (in its argv) of the CHAP password
_RTSTOOL_PASSWORD_ARG = {'create': (5,), 'add-initiator': (4,)}


def _rtstool_in_process() -> None:
    """LIO target helper: run cinder-rtstool's functions here instead of one process each.

    Cinder's LioAdm runs ``cinder-rtstool`` (a Python program importing cinder and rtslib)
    five times per export and four per unexport; under emulation each start cost 13-34 s,
    and processutils logged its command line, CHAP password included, at DEBUG. As root
    (which LIO needs anyway) the same functions of cinder.cmd.rtstool run in this process,
    under LioAdm's own external lock; failures still reach Cinder as ProcessExecutionError,
    whose command names the subcommand only.
    """
    if os.geteuid() != 0:
        return
    try:
        from cinder.volume.targets import lio
    except ImportError:   # pragma: no cover - rtslib missing: LioAdm would fail on its own
        return
    if getattr(lio.LioAdm, '_cinder_nb_in_process', False):
        return
    from oslo_concurrency import processutils

    def run(argv: list[str]) -> str:
        from cinder import i18n
        from cinder.cmd import rtstool   # its import switches oslo.i18n to lazy messages:
        i18n.enable_lazy(False)          # switch back, our error texts stay plain strings
        if argv[0] == 'get-targets':     # the one subcommand that answers on stdout
            import rtslib_fb
            return ''.join(t.wwn + '\n' for t in rtslib_fb.root.RTSRoot().targets)
        if argv[0] == 'verify':
            rtstool.verify_rtslib()
            return ''
        rtstool.main(['cinder-rtstool', *argv])
        return ''

    def execute(*args: Any, **kwargs: Any) -> tuple[str, str]:
        if not args or args[0] != 'cinder-rtstool':
            return cinder_utils.execute(*args, **kwargs)
        try:
            return run(list(args[1:])), ''
        except (Exception, SystemExit) as exc:   # rtstool's usage() exits; rtslib raises
            message = f'{type(exc).__name__}: {exc}'
            for position in _RTSTOOL_PASSWORD_ARG.get(args[1] if len(args) > 1 else '', ()):
                if len(args) > position and args[position]:
                    message = message.replace(str(args[position]), '***')
            raise processutils.ProcessExecutionError(
                exit_code=1, cmd=f'cinder-rtstool {args[1] if len(args) > 1 else ""} (in process)',
                stderr=message) from None

    # LioAdm._execute: cinder-rtstool calls run in-process, under the same 'lioadm' lock
    lio.LioAdm._execute = staticmethod(cinder_utils.synchronized('lioadm', external=True)(execute))
    # LioAdm._verify_rtstool (driver start-up) checks rtslib in-process the same way
    lio.LioAdm._verify_rtstool = lambda self: execute('cinder-rtstool', 'verify')
    lio.LioAdm._cinder_nb_in_process = True


# --------------------------------------------------------------------------- DB replacement
class UnsupportedDBCall(CinderException):
    message = ("cinder_nb has no database: the driver called cinder.db.%(name)s, which "
               "cinder_nb does not provide. Please report the driver and operation.")


def _p() -> StateProvider:
    if _provider is None:
        raise RuntimeError('cinder_nb.setup() has not run')
    return _provider


def _volume_get(ctxt, volume_id, *a, **kw):
    return _p().volume_ovo(volume_id)


def _volume_update(ctxt, volume_id, values, *a, **kw):
    _p().update_volume(volume_id, dict(values))
    return _p().volume_ovo(volume_id)


def _volume_get_all_by_host(ctxt, host, filters=None):
    backend = host.split('#')[0].split('@')[-1]
    return _p().volume_ovos_on_backend(backend)


def _snapshot_get(ctxt, snapshot_id, *a, **kw):
    return _p().snapshot_ovo(snapshot_id)


def _snapshot_update(ctxt, snapshot_id, values, *a, **kw):
    _p().update_snapshot(snapshot_id, dict(values))
    return _p().snapshot_ovo(snapshot_id)


def _snapshot_get_all_for_volume(ctxt, volume_id, *a, **kw):
    return _p().snapshot_ovos_of_volume(volume_id)


def _snapshot_get_latest_for_volume(ctxt, volume_id, *a, **kw):
    snaps = _p().snapshot_ovos_of_volume(volume_id)
    if not snaps:
        raise cinder_exception.VolumeSnapshotNotFound(volume_id=volume_id)
    return max(snaps, key=lambda s: s.created_at)


def _metadata_get(field):
    def get(ctxt, volume_id, *a, **kw):
        return dict(_p().volume_record(volume_id).get(field) or {})
    return get


def _metadata_update(field):
    def update(ctxt, volume_id, metadata, delete, *a, **kw):
        current = {} if delete else dict(_p().volume_record(volume_id).get(field) or {})
        current.update(metadata)
        _p().update_volume(volume_id, {field: current})
        return current
    return update


def _metadata_delete(field):
    def delete(ctxt, volume_id, key, *a, **kw):
        current = dict(_p().volume_record(volume_id).get(field) or {})
        current.pop(key, None)
        _p().update_volume(volume_id, {field: current})
    return delete


def _volume_type_get(ctxt, type_id, *a, **kw):
    rec = _p().volume_record(type_id)   # a volume's private type has the volume's id
    return volume_type_dict(rec)


def _volume_type_extra_specs_get(ctxt, type_id, *a, **kw):
    return dict(_p().volume_record(type_id).get('extra_specs') or {})


def _qos_specs_get(ctxt, qos_id, *a, **kw):
    rec = _p().volume_record(qos_id)
    return {'id': qos_id, 'name': qos_id, 'consumer': 'back-end',
            'specs': dict(rec.get('qos_specs') or {})}


def _glance_metadata_get(ctxt, volume_id, *a, **kw):
    raise cinder_exception.GlanceMetadataNotFound(id=volume_id)


def _initiator_data_get(ctxt, initiator, namespace):
    return [{'key': k, 'value': v} for k, v in
            (_p().kv_get(f'initiator:{namespace}:{initiator}') or {}).items()]


def _initiator_data_insert(ctxt, initiator, namespace, key, value):
    data = _p().kv_get(f'initiator:{namespace}:{initiator}') or {}
    if key in data:
        return False
    data[key] = value
    _p().kv_set(f'initiator:{namespace}:{initiator}', data)
    return True


_DB_FUNCTIONS: dict[str, Callable] = {
    'volume_get': _volume_get,
    'volume_update': _volume_update,
    'volume_get_all_by_host': _volume_get_all_by_host,
    'snapshot_get': _snapshot_get,
    'snapshot_update': _snapshot_update,
    'snapshot_get_all_for_volume': _snapshot_get_all_for_volume,
    'snapshot_get_latest_for_volume': _snapshot_get_latest_for_volume,
    'volume_metadata_get': _metadata_get('metadata'),
    'volume_metadata_update': _metadata_update('metadata'),
    'volume_metadata_delete': _metadata_delete('metadata'),
    'volume_admin_metadata_get': _metadata_get('admin_metadata'),
    'volume_admin_metadata_update': _metadata_update('admin_metadata'),
    'volume_admin_metadata_delete': _metadata_delete('admin_metadata'),
    'volume_type_get': _volume_type_get,
    'volume_type_extra_specs_get': _volume_type_extra_specs_get,
    'qos_specs_get': _qos_specs_get,
    'volume_glance_metadata_get': _glance_metadata_get,
    'image_volume_cache_get_by_volume_id': lambda ctxt, volume_id: None,
    'driver_initiator_data_get': _initiator_data_get,
    'driver_initiator_data_insert_by_key': _initiator_data_insert,
    'volume_attachment_get_all_by_volume_id': lambda ctxt, volume_id, *a, **kw:
        list(_p().volume_ovo(volume_id).volume_attachment),
}


def _unsupported(name: str) -> Callable:
    def call(*args, **kwargs):
        raise UnsupportedDBCall(name=name)
    call.__name__ = name
    return call


def _replace_db_api() -> None:
    # Cinder modules call cinder.db.api.<function> at call time; there is no database
    # here, so every public function is replaced: ours answer from cinder_nb's state,
    # every other one raises a clear UnsupportedDBCall instead of touching SQL.
    for name in dir(db_api):
        obj = getattr(db_api, name)
        if name.startswith('_') or not callable(obj) or isinstance(obj, type):
            continue
        if getattr(obj, '__module__', None) != db_api.__name__:
            continue
        setattr(db_api, name, _DB_FUNCTIONS.get(name) or _unsupported(name))


def _patch_object_lookups() -> None:
    # Volume/Snapshot.get_by_id go through a SQLAlchemy model lookup; answer from our state.
    cinder_objects.Volume.get_by_id = classmethod(lambda cls, ctxt, id, *a, **kw: _p().volume_ovo(id))
    cinder_objects.Snapshot.get_by_id = classmethod(lambda cls, ctxt, id, *a, **kw: _p().snapshot_ovo(id))


# --------------------------------------------------------------------------- OVO builders
_VOLUME_DEFAULTS = {
    'user_id': USER_ID, 'project_id': PROJECT_ID, 'availability_zone': 'nova',
    'attach_status': 'detached', 'deleted': False, 'bootable': False,
    'multiattach': False, 'use_quota': True, 'encryption_key_id': None,
    'consistencygroup_id': None, 'consistencygroup': None, 'group_id': None, 'group': None,
    'migration_status': None, 'replication_status': None, 'cluster_name': None,
    'glance_metadata': {}, 'volume_glance_metadata': [], 'metadata': {}, 'admin_metadata': {},
}

_SNAPSHOT_DEFAULTS = {
    'metadata': {}, 'user_id': USER_ID, 'project_id': PROJECT_ID, 'progress': '100%', 'deleted': False,
    'encryption_key_id': None, 'cgsnapshot_id': None, 'cgsnapshot': None, 'group_snapshot_id': None,
    'group_snapshot': None, 'use_quota': True,
}

#: model-update keys a driver may return that we keep verbatim with the resource
VOLUME_DRIVER_FIELDS = frozenset(
    k for k in cinder_objects.Volume.fields
    if k.startswith('provider_') or k in ('replication_driver_data', 'replication_status',
                                           'shared_targets', 'service_uuid', 'bootable'))
SNAPSHOT_DRIVER_FIELDS = frozenset(
    k for k in cinder_objects.Snapshot.fields if k.startswith('provider_') or k == 'progress')


def host_of(backend: str, pool: str | None) -> str:
    return f'{HOST}@{backend}#{pool or backend}'


def volume_type_dict(rec: dict) -> dict | None:
    if not rec.get('extra_specs') and not rec.get('qos_specs'):
        return None
    return {'id': rec['id'], 'name': f"cinder_nb-{rec['id']}", 'extra_specs': dict(rec.get('extra_specs') or {}),
            'qos_specs_id': rec['id'] if rec.get('qos_specs') else None, 'is_public': True,
            'description': None, 'deleted': False}


def _volume_type_ovo(rec: dict, ctxt) -> Any:
    qos = None
    if rec.get('qos_specs'):
        qos = cinder_objects.QualityOfServiceSpecs(context=ctxt, id=rec['id'], name=rec['id'],
                                                   consumer='back-end', specs=dict(rec['qos_specs']))
    return cinder_objects.VolumeType(context=ctxt, id=rec['id'], name=f"cinder_nb-{rec['id']}",
                                     is_public=True, extra_specs=dict(rec.get('extra_specs') or {}),
                                     qos_specs_id=rec['id'] if qos else None, qos_specs=qos,
                                     description=None, deleted=False, projects=[])


def volume_ovo(rec: dict, snapshots: Iterable[dict] = (), connections: Iterable[dict] = ()) -> Any:
    """A cinder.objects.Volume built from our volume record (no lazy DB loads).

    Its snapshots point back to a shallow copy of the volume (one without a snapshot
    list): a true cycle makes oslo.versionedobjects' change tracking recurse forever.
    """
    conns, snapshots = list(connections), list(snapshots)
    vol = _plain_volume_ovo(rec, conns)
    snap_ovos = []
    if snapshots:   # the shallow copy costs a second build: only when there are snapshots
        shallow = shallow_volume_ovo(rec, conns, ctxt=vol._context)
        snap_ovos = [snapshot_ovo(s, shallow) for s in snapshots]
    vol.snapshots = cinder_objects.SnapshotList(context=vol._context, objects=snap_ovos)
    vol.obj_reset_changes()
    return vol


def shallow_volume_ovo(rec: dict, connections: Iterable[dict] = (), ctxt: Any = None) -> Any:
    """A volume OVO with an empty snapshot list: what a snapshot's .volume points to."""
    vol = _plain_volume_ovo(rec, list(connections), ctxt)
    vol.snapshots = cinder_objects.SnapshotList(context=vol._context, objects=[])
    vol.obj_reset_changes()
    return vol


def _plain_volume_ovo(rec: dict, conns: list, ctxt: Any = None) -> Any:
    ctxt = ctxt or context()
    values = dict(
        id=rec['id'], size=rec['size'], status=_ovo_status(rec['status']),
        host=host_of(rec['backend'], rec.get('pool_name')),
        display_name=rec.get('name') or '', display_description=rec.get('description') or '',
        source_volid=rec.get('source_volid'), snapshot_id=rec.get('snapshot_id'),
        created_at=_timestamp(rec.get('created_at')), updated_at=_timestamp(rec.get('updated_at')),
        multiattach=bool(rec.get('multiattach')),
        attach_status='attached' if conns else 'detached',
    )
    reported = {k: v for k, v in (rec.get('driver_data') or {}).items() if k in cinder_objects.Volume.fields}
    for key in ('metadata', 'admin_metadata'):   # a driver may have replaced them: coerce
        if rec.get(key):
            reported[key] = dict(rec[key])
    if rec.get('extra_specs') or rec.get('qos_specs'):
        values['volume_type_id'] = rec['id']
        reported['volume_type'] = _volume_type_ovo(rec, ctxt)
    vol = _new_ovo(cinder_objects.Volume, ctxt, values, base=_VOLUME_DEFAULTS, coerce=reported)
    vol.volume_attachment = cinder_objects.VolumeAttachmentList(
        context=ctxt, objects=[attachment_ovo(c, vol) for c in conns])
    return vol


def snapshot_ovo(rec: dict, vol: Any) -> Any:
    """A cinder.objects.Snapshot for our snapshot record, linked to its volume OVO (and its context)."""
    ctxt = vol._context or context()
    values = dict(
        id=rec['id'], volume_id=rec['volume_id'], volume_size=rec['volume_size'],
        status=_ovo_status(rec['status']), display_name=rec.get('name') or '',
        display_description=rec.get('description') or '',
        created_at=_timestamp(rec.get('created_at')), updated_at=_timestamp(rec.get('updated_at')),
        volume_type_id=vol.volume_type_id,
    )
    reported = {k: v for k, v in (rec.get('driver_data') or {}).items() if k in cinder_objects.Snapshot.fields}
    if rec.get('metadata'):
        reported['metadata'] = dict(rec['metadata'])
    snap = _new_ovo(cinder_objects.Snapshot, ctxt, values, base=_SNAPSHOT_DEFAULTS, coerce=reported)
    snap.volume = vol
    snap.obj_reset_changes()
    return snap


def attachment_ovo(rec: dict, vol: Any) -> Any:
    ctxt = vol._context or context()
    connector = rec.get('connector') or {}
    att = cinder_objects.VolumeAttachment(context=ctxt, **_fill_defaults(cinder_objects.VolumeAttachment, dict(
        id=rec['id'], volume_id=rec['volume_id'],
        instance_uuid=connector.get('instance_uuid'), attached_host=connector.get('host'),
        mountpoint=None, attach_time=rec.get('created_at'), detach_time=None,
        attach_status='attached', attach_mode=rec.get('attach_mode', 'rw'),
        connection_info=rec.get('connection_info') or {}, connector=connector, deleted=False)))
    att.obj_reset_changes()
    return att


_PROTOTYPES: dict[type, tuple[dict, tuple[str, ...]]] = {}
_MUTABLE = (dict, list, set)


def _new_ovo(cls: Any, ctxt: Any, values: dict, base: dict | None = None, coerce: dict | None = None) -> Any:
    """Like ``cls(context=ctxt, **base, **values, **coerce)``, other fields at their defaults, faster.

    oslo's coercing setter costs microseconds a field, and a Volume has 49 fields. The ones
    every build shares (``base`` and the defaults) are coerced once per class into a
    prototype whose attributes are copied. ``values`` come from cinder_nb's validated records
    already in the type coercion would give (str, int, aware datetime, dict of str): they
    are stored as they are. ``coerce`` (what drivers reported) goes through the setters.
    tests/core/test_ovo.py checks the result against a normally built object. The caller
    resets the change tracking (obj_reset_changes), as after a normal build.
    """
    proto = _PROTOTYPES.get(cls)
    if proto is None:
        sample = cls(context=None, **_fill_defaults(cls, dict(base or {})))
        attrs = {k: v for k, v in vars(sample).items() if k.startswith('_obj_')}
        if any(isinstance(v, ovo_base.VersionedObject) for v in attrs.values()):
            raise TypeError(f'{cls.__name__}: a prototype cannot share an object field')
        mutable = tuple(k for k, v in attrs.items() if isinstance(v, _MUTABLE))
        proto = _PROTOTYPES[cls] = (attrs, mutable)
    attrs, mutable = proto
    obj = cls.__new__(cls)
    state = obj.__dict__
    state.update(attrs)
    for key in mutable:
        state[key] = type(attrs[key])(attrs[key])
    state['_changed_fields'] = set()
    state['_context'] = ctxt
    for key, value in values.items():
        state['_obj_' + key] = value
    for key, value in (coerce or {}).items():
        setattr(obj, key, value)
    return obj


@functools.lru_cache(maxsize=4096)
def _timestamp(text: str | None) -> datetime.datetime | None:
    """A record's ISO timestamp as the aware datetime an OVO field holds (parsed once per string)."""
    if text is None:
        return None
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _fill_defaults(cls: Any, values: dict) -> dict:
    """Give every field a value so no attribute access falls through to a DB lazy-load."""
    from oslo_versionedobjects import fields as ovo_fields
    for name, field in cls.fields.items():
        if name in values:
            continue
        if field.default != ovo_fields.UnspecifiedDefault:
            values[name] = field.default
        elif field.nullable:
            values[name] = None
    return values


def _ovo_status(status: str) -> str:
    return {'in-use': 'in-use'}.get(status, status)


def changed_fields(ovo: Any, allowed: frozenset) -> dict:
    """Fields a driver changed on an OVO (it may update in place instead of returning)."""
    # the object's own change set: obj_what_changed() would also walk every child object
    # (the volume, its snapshots, their volume...), which cost more than the driver call
    return {k: getattr(ovo, k) for k in ovo._changed_fields if k in allowed}  # noqa: SLF001


# --------------------------------------------------------------------------- capacity
def capacity_check(backend: str, pool: dict, size: int, current_size: int | None = None,
                   extra_specs: dict | None = None) -> tuple[bool, dict]:
    """Cinder's scheduler CapacityFilter on one pool of a driver's stats: (passes, factors).

    Reused rather than rewritten so the rules are Cinder's own: reserved_percentage,
    max_over_subscription_ratio (including 'auto'), thin versus thick (the volume type's
    'provisioning:type' extra spec). The pool's stats go through Cinder's PoolState, as
    the scheduler's host manager does. ``current_size`` makes it an extend check (the
    request is the growth). ``factors`` are Cinder's capacity factors, for the message.
    Both classes run standalone: they need no database, no RPC and no scheduler service.
    """
    from cinder.scheduler import host_manager, sched_utils
    from cinder.scheduler.filters import capacity_filter
    from oslo_utils import timeutils

    capability = dict(pool, timestamp=timeutils.utcnow())
    state = host_manager.PoolState(f'{HOST}@{backend}', None, capability, pool.get('pool_name') or backend)
    state.update_from_volume_capability(capability)
    props: dict[str, Any] = {'size': size if current_size is None else current_size,
                             'request_spec': {'volume_id': None},
                             'volume_type': {'extra_specs': dict(extra_specs or {})}}
    if current_size is not None:
        props['new_size'] = size
    passes = capacity_filter.CapacityFilter().backend_passes(state, props)
    factors: dict = {'requested_gb': size if current_size is None else size - current_size,
                     'total_capacity_gb': state.total_capacity_gb,
                     'free_capacity_gb': state.free_capacity_gb,
                     'provisioned_capacity_gb': state.provisioned_capacity_gb,
                     'reserved_percentage': state.reserved_percentage,
                     'max_over_subscription_ratio': state.max_over_subscription_ratio,
                     'thin': (extra_specs or {}).get('provisioning:type') != 'thick'
                             and bool(state.thin_provisioning_support)}
    try:
        numbers = sched_utils.calculate_capacity_factors(
            state.total_capacity_gb, state.free_capacity_gb, state.provisioned_capacity_gb,
            state.thin_provisioning_support, state.max_over_subscription_ratio,
            state.reserved_percentage, factors['thin'])
        factors['virtual_free_capacity_gb'] = numbers['virtual_free_capacity']
        factors['total_available_capacity_gb'] = numbers['total_available_capacity']
    except (TypeError, ValueError):     # 'infinite' / 'unknown' capacities: the filter passed them
        pass
    return passes, factors


# --------------------------------------------------------------------------- drivers
def volume_manager() -> Any:
    """cinder.volume.manager, imported on first need.

    Importing it pulls in taskflow and jsonschema (over a second with the Jupyter
    stack installed) only to register its option lists; cinder_nb's own drivers do
    not read those options, so they are loaded for Cinder-shipped drivers only.
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from cinder.volume import manager
    return manager


def needs_manager_options(cls: type) -> bool:
    """Whether a driver class may read the volume manager's options (Cinder's drivers may)."""
    return not cls.__module__.startswith('cinder_nb.')


def make_backend_config(backend: str, options: dict, with_manager: bool = True) -> Any:
    """Register an oslo.config group for a backend, set its options, return a Configuration."""
    CONF.register_group(cfg.OptGroup(backend))
    # A backend of the same name from an earlier setup() that was never shut down left its
    # overrides in the group: without this, options not given now would keep its values.
    for name in list(CONF[backend]):
        CONF.clear_override(name, group=backend)
    base = []
    if with_manager:
        manager = volume_manager()
        base = manager.volume_manager_opts + manager.volume_backend_opts
    config = cinder_configuration.Configuration(base, config_group=backend)
    for name, value in options.items():
        opt = find_option(name)
        if opt is not None:
            config.append_config_values([opt])
        CONF.set_override(name, value, group=backend)
    return config


def clear_backend_config(backend: str, options: Iterable[str]) -> None:
    for name in options:
        try:
            CONF.clear_override(name, group=backend)
        except cfg.NoSuchOptError:
            pass


def find_option(name: str) -> Any | None:
    """The registered oslo.config option of that name (backend or DEFAULT group)."""
    for group in (SHARED_GROUP, None):
        opts = CONF._groups[group]._opts if group else CONF._opts  # noqa: SLF001
        if name in opts:
            return opts[name]['opt']
    return None


#: global options cinder_nb sets itself in initialize(); a caller may not override them
_OWN_GLOBAL_OPTIONS = frozenset({'state_path', 'host', 'debug'})


def set_global_options(values: dict) -> None:
    """Set Cinder's global ([DEFAULT]) options, each checked by its oslo.config type.

    For cinderlib's setup(**cinder_config_params). Unknown names and bad values raise
    InvalidArgument (cinderlib only logged a warning) and nothing is set.
    """
    for name, value in check_global_options(values).items():
        CONF.set_override(name, value)


def check_global_options(values: dict) -> dict:
    """values converted by their oslo.config types; InvalidArgument for unknown or bad ones."""
    from cinder_nb.errors import InvalidArgument
    checked = {}
    for name, value in values.items():
        if name in _OWN_GLOBAL_OPTIONS:
            raise InvalidArgument(name, value, 'not given: cinder_nb sets this option itself')
        entry = CONF._opts.get(name)  # noqa: SLF001
        if entry is None:
            raise InvalidArgument(name, value, "a Cinder [DEFAULT] option (this one is unknown)")
        try:
            checked[name] = value if value is None else entry['opt'].type(value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(name, value, f'a valid value ({exc})') from None
    return checked


def common_driver_options(with_manager: bool = True) -> list:
    """Options every driver accepts (VolumeDriver's and, by default, the volume manager's)."""
    groups = [cinder_driver.volume_opts, cinder_driver.iser_opts, cinder_driver.nvmet_opts,
              cinder_driver.scst_opts, cinder_driver.image_opts, cinder_driver.fqdn_opts,
              cinder_driver.backup_opts]
    if with_manager:
        groups.append(volume_manager().volume_backend_opts)
    return [opt for group in groups for opt in group]


def instantiate_driver(cls: type, backend: str, config: Any) -> Any:
    return cls(configuration=config, host=f'{HOST}@{backend}', cluster_name=None,
               active_backend_id=None)


def start_driver(driver: Any) -> None:
    ctxt = context()
    driver.do_setup(ctxt)
    driver.check_for_setup_error()
    driver.init_capabilities()
    driver.set_throttle()
    driver.set_initialized()


#: Cinder 29's RBD driver still reads rbd_keyring_conf (getattr, kept for cinderlib users) but
#: no longer registers it: cinder_nb lists and registers it so a backend can name its keyring file.
RBD_KEYRING_OPT = cfg.StrOpt('rbd_keyring_conf', default='',
                             help='Path to the Ceph keyring file of rbd_user (read by the RBD driver, '
                                  'as cinderlib did; needed when ceph.conf does not name it).')
RBD_MODULE = 'cinder.volume.drivers.rbd'


def extra_driver_options(cls: type) -> list:
    """Options a driver reads that its get_driver_options() does not list."""
    return [RBD_KEYRING_OPT] if cls.__module__ == RBD_MODULE else []


def prepare_driver_module(module_name: str) -> None:
    """Fix-ups a Cinder driver module needs before cinder_nb loads a driver from it."""
    if module_name != RBD_MODULE:
        return
    from cinder_nb import ceph
    ceph.ensure_bindings()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        module = importlib.import_module(module_name)
    if getattr(module, 'rados', None) is None and ceph.ensure_bindings():
        import rados
        import rbd
        # rbd.py binds rados/rbd once at import (None if they were missing then, e.g. when
        # the driver catalog imported it first); bindings made importable since must reach it.
        module.rados, module.rbd = rados, rbd
    if find_option(RBD_KEYRING_OPT.dest) is None:
        # make_backend_config finds a backend's options among the registered ones
        CONF.register_opt(RBD_KEYRING_OPT, group=SHARED_GROUP)
    if not getattr(module.RBDDriver._delete_volume, 'cinder_nb_patched', False):
        # Cinder 29's _delete_volume returns after the fast-path remove() of a clone without
        # removing the parent's '<clone>.clone_snap' snapshot (only its trash path does), so
        # deleting the parent later only renames it '.deleted' and the image leaks in the pool.
        module.RBDDriver._delete_volume = _rbd_delete_volume_dropping_clone_snap(module)
    if not getattr(module.RBDDriver._connect_to_rados, 'cinder_nb_patched', False):
        # The driver opens and shuts down a new RADOS connection for every call (~8 ms CPU and
        # ~20 ms on a loaded 2-core host, more than an RBD create itself); reuse idle ones.
        _pool_rados_connections(module.RBDDriver)


def _rbd_delete_volume_dropping_clone_snap(module: Any) -> Callable:
    original = module.RBDDriver._delete_volume

    def _delete_volume(self: Any, volume: Any, client: Any) -> None:
        # client= as well as ioctx=: with ioctx alone RBDVolumeProxy opens another RADOS connection
        parent = parent_snap = None
        try:
            with module.RBDVolumeProxy(self, volume.name, client=client.cluster,
                                        ioctx=client.ioctx) as image:
                if self._find_clone_snap(image) is None:   # a volume with clones is only renamed
                    _pool, parent, parent_snap = self._get_clone_info(image, volume.name)
        except self.rbd.ImageNotFound:
            pass
        original(self, volume, client)
        if parent is None:
            return
        try:
            with module.RBDVolumeProxy(self, parent, client=client.cluster,
                                        ioctx=client.ioctx) as image:
                left = parent_snap in {s['name'] for s in image.list_snaps()}
        except self.rbd.ImageNotFound:
            return
        if left:   # the fast path skipped the clean-up; Cinder's own helper does it
            self._delete_clone_parent_refs(client, parent, parent_snap)

    _delete_volume.cinder_nb_patched = True
    return _delete_volume


#: idle RADOS connections kept per driver and (pool, cluster, user, timeout); an idle one older
#: than RADOS_IDLE_S is shut down instead of reused
RADOS_MAX_IDLE = 16
RADOS_IDLE_S = 60.0


class RadosPool:
    """Connected (Rados, Ioctx) pairs of one RBD driver, lent to one borrower at a time.

    A borrower has its pair to itself until it gives it back (librados handles are
    thread-safe, but nothing here relies on it); a pair that is no longer connected or
    has been idle too long is shut down rather than reused.
    """

    _all: 'weakref.WeakSet[RadosPool]'

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[tuple[Any, Any, float]]] = {}
        self._lent: dict[int, tuple] = {}
        self._closed = False
        self.opened = 0          #: connections opened so far (for tests and benchmarks)
        RadosPool._all.add(self)

    def borrow(self, key: tuple, connect: Callable[[], tuple]) -> tuple:
        stale = []
        pair = None
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                client, ioctx, since = idle.pop()
                if time.monotonic() - since < RADOS_IDLE_S and getattr(client, 'state', '') == 'connected':
                    pair = client, ioctx
                    break
                stale.append((client, ioctx))
        for client, ioctx in stale:
            _shutdown_rados(client, ioctx)
        if pair is None:
            pair = connect()
            with self._lock:
                self.opened += 1
        with self._lock:
            self._lent[id(pair[1])] = key
        return pair

    def give_back(self, client: Any, ioctx: Any) -> None:
        with self._lock:
            key = self._lent.pop(id(ioctx), None)
            idle = self._idle.setdefault(key, []) if key is not None else None
            if idle is not None and not self._closed and len(idle) < RADOS_MAX_IDLE:
                idle.append((client, ioctx, time.monotonic()))
                return
        _shutdown_rados(client, ioctx)

    def close(self) -> None:
        """Shut down the idle connections; ones lent out are shut down when given back."""
        with self._lock:
            self._closed = True
            pairs = [(c, i) for idle in self._idle.values() for c, i, _ in idle]
            self._idle.clear()
        for client, ioctx in pairs:
            _shutdown_rados(client, ioctx)

    @property
    def idle(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())


RadosPool._all = weakref.WeakSet()
_pool_lock = threading.Lock()


def _shutdown_rados(client: Any, ioctx: Any) -> None:
    try:
        ioctx.close()
    finally:
        client.shutdown()


def rados_pool(driver: Any) -> RadosPool:
    """The RADOS connection pool of an RBD driver instance (made on first use)."""
    pool = driver.__dict__.get('_cinder_nb_rados_pool')
    if pool is None:
        with _pool_lock:
            pool = driver.__dict__.setdefault('_cinder_nb_rados_pool', RadosPool())
    return pool


def _pool_rados_connections(cls: Any) -> None:
    original_connect = cls._connect_to_rados
    original_disconnect = cls._disconnect_from_rados

    def _connect_to_rados(self: Any, pool: str | None = None, remote: dict | None = None,
                          timeout: int | None = None) -> tuple:
        key = (pool or self.configuration.rbd_pool, self._get_config_tuple(remote),
               self.configuration.rados_connect_timeout if timeout is None else timeout)
        return rados_pool(self).borrow(key, lambda: original_connect(self, pool, remote, timeout))

    def _disconnect_from_rados(self: Any, client: Any, ioctx: Any) -> None:
        pool = self.__dict__.get('_cinder_nb_rados_pool')
        if pool is None:
            original_disconnect(client, ioctx)
        else:
            pool.give_back(client, ioctx)

    _connect_to_rados.cinder_nb_patched = True
    cls._connect_to_rados = _connect_to_rados
    cls._disconnect_from_rados = _disconnect_from_rados   # an instance method now: it needs the pool


def release_driver(driver: Any) -> None:
    """Free what cinder_nb keeps for a driver that is being unloaded (idle RADOS connections)."""
    pool = getattr(driver, '__dict__', {}).get('_cinder_nb_rados_pool')
    if pool is not None:
        pool.close()


@atexit.register
def _close_rados_pools() -> None:
    for pool in list(RadosPool._all):
        pool.close()


def is_volume_driver_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, cinder_driver.BaseVD)


def complies_with_interface(cls: type) -> bool:
    """Cinder's own compliance rule (cinder/tests/compliance/test_volume_drivers.py)."""
    from cinder.interface import volume_driver
    return issubclass(cls, volume_driver.VolumeDriverCore)


_catalog_lock = threading.Lock()
_all_drivers: list[type] | None = None


def registered_volume_drivers() -> list[type]:
    """Every volume driver class Cinder ships, plus any registered with @volumedriver."""
    global _all_drivers
    with _catalog_lock:
        if _all_drivers is None:
            import cinder.volume.drivers as pkg
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):
                    try:
                        importlib.import_module(info.name)
                    except Exception as exc:  # a driver whose optional deps are missing
                        LOG.debug('skipping %s: %s', info.name, exc)
            importlib.import_module('cinder_nb.drivers.localfile')
            _all_drivers = True  # type: ignore[assignment]
        seen, result = set(), []
        for cls in cinder_interface._volume_register:  # noqa: SLF001
            if cls not in seen:
                seen.add(cls)
                result.append(cls)
        return result


def volumedriver(cls):
    """Cinder's @interface.volumedriver registration decorator."""
    return cinder_interface.volumedriver(cls)


BaseVolumeDriver = cinder_driver.VolumeDriver
VolumeBackendAPIException = cinder_exception.VolumeBackendAPIException
InvalidConnectorException = cinder_exception.InvalidConnectorException
