"""Backend: a real Cinder volume driver loaded in this process."""
from __future__ import annotations

import copy
import html
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Iterator

from cinder_nb import _bulk, _catalog, _cinder, _credentials, _runtime, _validation, oplog, serialization
from cinder_nb.errors import (BackendConfigError, CinderNBError, InsufficientCapacity, InvalidArgument,
                              MissingSecret, NotFound, StateError, shown_name, summary)
from cinder_nb._runtime import now
from cinder_nb._secrets import REDACTED, SCRUBBER
from cinder_nb.volume import Volume

LOG = logging.getLogger('cinder_nb')
_init_lock = threading.Lock()
#: create_volume's keyword arguments that create_volumes passes on to every volume
_BULK_VOLUME_ARGS = frozenset({'description', 'pool_name', 'extra_specs', 'qos_specs', 'metadata',
                               'multiattach', 'bootable'})
_reopen_lock = threading.Lock()


class _LoadedBackends(Mapping):
    """``Backend.backends``: a read-only, live view of the backends loaded in this process
    (cinderlib's class-level dict). ``cinder_nb.backends()`` also reopens stored ones."""

    def _current(self) -> dict:
        return _runtime.get().backends if _runtime.is_setup() else {}

    def __getitem__(self, name: str) -> 'Backend':
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f'<loaded cinder_nb backends: {sorted(self._current())}>'


class Backend:
    """A volume backend: ``Backend(name, volume_driver='pkg.mod.Driver', **driver_options)``.

    The driver is instantiated and set up (do_setup, check_for_setup_error) at once;
    options are validated against the driver's own oslo.config options first.
    Creating a backend whose name is already loaded returns the loaded one when the
    configuration is identical and raises BackendConfigError when it differs.
    """

    #: the backends loaded in this process, by name (cinderlib's ``Backend.backends``)
    backends: Mapping = _LoadedBackends()
    _reused: bool = False   # __new__ handed back an already loaded backend: __init__ does nothing
    #: seconds a driver's stats report serves the capacity checks of create, clone and extend
    #: before the driver is asked again (Cinder's scheduler likewise works from reports the
    #: drivers send periodically). ``stats(refresh=True)`` asks at once; 0 asks on every check.
    #: The GiB allocated on each pool are read from the state store on every check.
    stats_max_age: float = 30.0

    def __new__(cls, volume_backend_name: str, volume_driver: str | None = None, **driver_cfg: Any) -> 'Backend':
        rt = _runtime.get()
        existing = rt.backends.get(volume_backend_name) if isinstance(volume_backend_name, str) else None
        if existing is not None:
            wanted = dict(driver_cfg, volume_driver=volume_driver or existing._driver_path)
            if wanted != existing.given_options():
                changed = sorted(k for k in set(wanted) | set(existing.given_options())
                                 if wanted.get(k) != existing.given_options().get(k))
                raise BackendConfigError(
                    f'A backend named {volume_backend_name!r} is already loaded with a different '
                    f'configuration (differs in: {_names(changed)}). Use another name, or '
                    f'call .shutdown() on the loaded one first.', option=changed[0] if changed else None)
            existing._reused = True
            return existing
        obj = super().__new__(cls)
        obj._reused = False
        return obj

    def __init__(self, volume_backend_name: str, volume_driver: str | None = None, **driver_cfg: Any):
        if self._reused:
            return
        _validation.backend_name(volume_backend_name)
        driver_path = volume_driver or _catalog.EMBEDDED_DRIVER
        cls = _catalog.resolve_driver(driver_path)
        options, secret_names = _catalog.validate_options(cls, driver_cfg)
        options['volume_backend_name'] = volume_backend_name
        self._name = volume_backend_name
        self._driver_path = driver_path
        self._options = options
        self._secret_names = secret_names | _catalog.secret_option_names(cls)
        self._raw_cfg = dict(driver_cfg)
        SCRUBBER.add(str(options[k]) for k in self._secret_names if options.get(k))
        rt = _runtime.get()
        with _init_lock:
            config = _cinder.make_backend_config(volume_backend_name, options,
                                                 with_manager=_cinder.needs_manager_options(cls))
            failed = None
            try:
                self.driver = _cinder.instantiate_driver(cls, volume_backend_name, config)
                _cinder.start_driver(self.driver)
                stats = self.driver.get_volume_stats(refresh=True) or {}
            except CinderNBError:
                _cinder.clear_backend_config(volume_backend_name, options)
                raise
            except Exception as exc:
                # the driver's message may quote a password: scrubbed summary, no chain
                failed = BackendConfigError(f'Driver {cls.__name__} failed to start backend '
                                            f'{volume_backend_name!r}: {type(exc).__name__}: '
                                            f'{summary(exc)}', driver=driver_path)
            if failed is not None:
                _cinder.clear_backend_config(volume_backend_name, options)
                raise failed
            self._stats_lock = threading.Lock()
            self._take_report(stats, shown=True)
            rt.backends[volume_backend_name] = self
        rt.persistence.put('backend', self.public_record())

    # ------------------------------------------------------------------ identity/config
    @property
    def id(self) -> str:
        return self._name

    name = volume_backend_name = id

    @property
    def volume_driver(self) -> str:
        return self._driver_path

    def given_options(self) -> dict:
        """The options this Backend was created with, secret values included, plus volume_driver.

        What a state document's backend is compared with and its secrets completed from; it
        stays in this process (``config`` is the redacted form that may be shown or stored).
        """
        return dict(self._raw_cfg, volume_driver=self._driver_path)

    @property
    def config(self) -> dict:
        """The backend's options with secret ones redacted."""
        cfg = {k: (REDACTED if k in self._secret_names and v not in (None, '') else v)
               for k, v in self._raw_cfg.items()}
        return dict(cfg, volume_backend_name=self._name, volume_driver=self._driver_path)

    @property
    def secret_options(self) -> list[str]:
        """Names of this backend's options that are secret (never serialized)."""
        return sorted(k for k in self._secret_names if k in self._raw_cfg)

    def public_record(self) -> dict:
        return {'id': self._name, 'backend': self._name, 'volume_driver': self._driver_path,
                'config': {k: v for k, v in self.config.items()
                           if k not in ('volume_backend_name', 'volume_driver')},
                'secret_options': self.secret_options, 'updated_at': now()}

    # ------------------------------------------------------------------ stats / pools
    def stats(self, refresh: bool = False) -> dict:
        """Driver stats (capacity per pool) as of the last refresh; refresh=True asks the driver
        again (and so renews the report the capacity checks use, see ``stats_max_age``)."""
        if refresh:
            with self._stats_lock:
                self._take_report(self.driver.get_volume_stats(refresh=True) or {}, shown=True)
        return copy.deepcopy(self._stats)

    def _take_report(self, driver_stats: dict, shown: bool = False) -> None:
        """Keep a driver stats report as the base of the capacity checks until it is
        stats_max_age old, with the GiB allocated per pool when it was taken; shown: also
        what stats() returns (an explicit refresh; the checks' own renewals leave it)."""
        report = _with_pools(driver_stats, self._name)
        self._report_allocated = self._allocated()
        self._report, self._report_at = report, time.monotonic()
        if shown:
            self._stats = self._with_allocated(copy.deepcopy(report), self._report_allocated)

    def _allocated(self) -> dict[str, int]:
        """GiB of the volumes recorded on each pool (every process's, read from the store now)."""
        sizes: dict[str, int] = {}
        for pool, gib in _runtime.get().persistence.allocated_gb(self._name).items():
            sizes[pool or self._name] = sizes.get(pool or self._name, 0) + gib
        return sizes

    @staticmethod
    def _with_allocated(stats: dict, sizes: dict[str, int]) -> dict:
        """Each pool's allocated_capacity_gb: the GiB of the volumes recorded on it.

        Cinder's volume manager sets this number from its database, whatever the driver
        reported; cinder_nb's state store plays that part.
        """
        for pool in stats.get('pools', []):
            pool['allocated_capacity_gb'] = sizes.get(pool.get('pool_name'), 0)
        return stats

    def _capacity_stats(self) -> dict:
        """The stats a capacity check judges by (every pool, see _capacity_pools)."""
        return self._capacity_pools(None)

    def _capacity_pools(self, only: str | None) -> dict:
        """The stats a capacity check judges by: the driver's last report (a new one when it
        is older than stats_max_age), allocated_capacity_gb read from the store now, and the
        GiB allocated since the report added to its provisioned_capacity_gb (and taken from
        free_capacity_gb on a pool without thin provisioning), as Cinder's scheduler does
        between two reports (PoolState.consume_from_volume). only: the pool of that name
        alone is copied and adjusted (what one check needs), the others are left out."""
        with self._stats_lock:
            if time.monotonic() - self._report_at >= self.stats_max_age:
                try:
                    self._take_report(self.driver.get_volume_stats(refresh=True) or {})
                except Exception as exc:   # a driver whose stats call fails: judge by the last report
                    LOG.warning('Backend %s: refreshing capacity stats failed (%s); using the last report',
                                self._name, summary(exc, 300))
            report, base = self._report, self._report_allocated
        now_allocated = self._allocated()
        if only is not None:    # a check reads the pool's top-level numbers only: a shallow copy serves
            stats = self._with_allocated({'pools': [dict(p) for p in report.get('pools', [])
                                                    if p.get('pool_name') == only]}, now_allocated)
        else:
            stats = self._with_allocated(copy.deepcopy(report), now_allocated)
        for pool in stats.get('pools', []):
            name = pool.get('pool_name')
            grown = now_allocated.get(name, 0) - base.get(name, 0)
            if not grown:
                continue
            if _is_number(pool.get('provisioned_capacity_gb')):
                pool['provisioned_capacity_gb'] += grown
            if not pool.get('thin_provisioning_support') and _is_number(pool.get('free_capacity_gb')):
                pool['free_capacity_gb'] -= grown
        return stats

    @property
    def pool_names(self) -> tuple[str, ...]:
        return tuple(p['pool_name'] for p in self._stats.get('pools', []))

    def _check_pool(self, pool_name: str | None) -> str:
        pools = self.pool_names
        if pool_name is None:
            return pools[0] if pools else self._name
        if pool_name not in pools:
            raise InvalidArgument('pool_name', pool_name, f'one of this backend\'s pools {list(pools)}')
        return pool_name

    def check_capacity(self, size: int, pool_name: str | None = None, current_size: int | None = None,
                       extra_specs: dict | None = None) -> None:
        """Raise InsufficientCapacity if a volume of ``size`` GiB (or an extend from ``current_size``)
        would be refused: the very check create_volume and extend run first (Cinder's CapacityFilter)."""
        _validation.size('size', size)
        operation = (f'extend a volume from {current_size} to {size} GiB' if current_size is not None
                     else f'create a volume of {size} GiB')
        self._check_capacity(self._check_pool(pool_name), size, operation, current_size=current_size,
                             extra_specs=extra_specs)

    def _check_capacity(self, pool_name: str, size: int, operation: str,
                        current_size: int | None = None, extra_specs: dict | None = None) -> None:
        """Refuse a request the pool cannot take, by Cinder's scheduler capacity rules.

        The pool's numbers are those of _capacity_stats (the driver's report at most
        stats_max_age old, the allocated GiB of now). Beside Cinder's CapacityFilter one rule
        of our own: a pool reporting no free space at all takes nothing, thin or not (the new
        volume's first write would fail).
        """
        pools = self._capacity_pools(pool_name).get('pools', [])
        if not pools or not ({'total_capacity_gb', 'free_capacity_gb'} & set(pools[0])):
            return          # the driver reports no capacity: nothing to check against
        passes, factors = _cinder.capacity_check(self._name, pools[0], size, current_size, extra_specs)
        free = factors.get('free_capacity_gb')
        if not passes:
            raise InsufficientCapacity(self._name, pool_name, operation, factors,
                                       "Cinder's capacity filter refuses it")
        if isinstance(free, (int, float)) and not isinstance(free, bool) and free <= 0:
            raise InsufficientCapacity(self._name, pool_name, operation, factors,
                                       'the pool has no free space left')

    # ------------------------------------------------------------------ resources
    @property
    def volumes(self) -> list:
        """Volumes on this backend (from the state store)."""
        return _runtime.get().find('volume', backend=self._name)

    @property
    def snapshots(self) -> list:
        return _runtime.get().find('snapshot', backend=self._name)

    @property
    def connections(self) -> list:
        return _runtime.get().find('connection', backend=self._name)

    def volumes_filtered(self, volume_id: str | None = None, volume_name: str | None = None) -> list:
        return [v for v in self.volumes if (volume_id is None or v.id == volume_id) and
                (volume_name is None or v.name == volume_name)]

    @oplog.operation('backend.create_volume')
    def create_volume(self, size: int, name: str | None = None, description: str | None = None,
                      pool_name: str | None = None, extra_specs: dict | None = None,
                      qos_specs: dict | None = None, metadata: dict | None = None,
                      multiattach: bool = False, bootable: bool = False, id: str | None = None) -> Volume:
        """Create a volume of size GiB; returns it with status 'available'."""
        vol = Volume._new(self, size, name=name, description=description, pool_name=pool_name,
                          extra_specs=extra_specs, qos_specs=qos_specs, metadata=metadata,
                          multiattach=multiattach, bootable=bootable, id=id)
        return vol._create_with('create', self.driver.create_volume)

    # ------------------------------------------------------------------ bulk (cinder_nb._bulk)
    def create_volumes(self, count: int, size: int, name: str = 'volume', first: int = 1,
                       workers: int = _bulk.DEFAULT_WORKERS,
                       progress: Callable[[int, int, Any], Any] | None = None,
                       cancel: threading.Event | None = None, **kwargs: Any) -> '_bulk.BulkResult':
        """Create count volumes of size GiB concurrently, named ``<name>-01`` .. ``<name>-<count>``.

        Runs ``create_volume`` (same keyword arguments, except ``id``) on a pool of at most
        ``workers`` threads. Returns a BulkResult: ``.succeeded`` the volumes, ``.failed``
        each failed item with its typed error (a failed volume stays recorded as 'error').
        ``progress(done, total, item)`` / ``cancel``: see cinder_nb._bulk.
        """
        _bulk.check_count(count)
        _bulk.check_workers(workers)
        _bulk.check_callbacks(progress, cancel)
        if not _validation.text('name', name, allow_none=False):
            raise InvalidArgument('name', name, "a prefix for the names, e.g. 'student' (student-01, ...)")
        if isinstance(first, bool) or not isinstance(first, int) or first < 0:
            raise InvalidArgument('first', first, 'a non-negative integer')
        unknown = sorted(set(kwargs) - _BULK_VOLUME_ARGS)
        if unknown:
            raise InvalidArgument(unknown[0], kwargs[unknown[0]] if unknown[0] == 'id' else '...',
                                  f'one of {", ".join(sorted(_BULK_VOLUME_ARGS))} (each new volume '
                                  'gets its own id)')
        names = _bulk.numbered_names(name, count, first)
        Volume._new(self, size, name=max(names, key=len), **kwargs)   # every argument checked, no driver call
        if count > 1:   # the whole batch must fit, not only one volume of it
            self._check_capacity(self._check_pool(kwargs.get('pool_name')), size * count,
                                 f'create {count} volumes of {size} GiB',
                                 extra_specs=kwargs.get('extra_specs'))
        return _bulk.run('create_volumes', names,
                        lambda i: self.create_volume(size, name=names[i], **kwargs),
                        workers, progress, cancel)

    def create_snapshots(self, volumes: list, name: str | None = None, workers: int = _bulk.DEFAULT_WORKERS,
                         progress: Callable[[int, int, Any], Any] | None = None,
                         cancel: threading.Event | None = None, **kwargs: Any) -> '_bulk.BulkResult':
        """Snapshot each of these volumes (Volume objects or ids, on this backend) concurrently.

        Same keyword arguments as ``Volume.create_snapshot``; ``.succeeded`` holds the snapshots.
        """
        targets = self._bulk_targets('volumes', volumes, 'volume')
        _bulk.check_workers(workers)
        _bulk.check_callbacks(progress, cancel)
        _validation.text('name', name)
        _validation.text('description', kwargs.get('description'), max_len=4096)
        _validation.str_mapping('metadata', kwargs.get('metadata'))
        unknown = set(kwargs) - {'description', 'metadata'}
        if unknown:
            raise InvalidArgument(sorted(unknown)[0], '...', 'one of name, description, metadata')
        return _bulk.run('create_snapshots', targets,
                        lambda i: self._bulk_get('volume', volumes[i]).create_snapshot(name=name, **kwargs),
                        workers, progress, cancel)

    def delete_volumes(self, volumes: list, workers: int = _bulk.DEFAULT_WORKERS,
                       progress: Callable[[int, int, Any], Any] | None = None,
                       cancel: threading.Event | None = None) -> '_bulk.BulkResult':
        """Delete these volumes (Volume objects or ids, on this backend) concurrently.

        Each follows ``Volume.delete``: one with snapshots or connections fails with
        InvalidState and is kept. ``.succeeded`` holds the deleted volumes.
        """
        return self._bulk_delete('volume', volumes, workers, progress, cancel)

    def delete_snapshots(self, snapshots: list, workers: int = _bulk.DEFAULT_WORKERS,
                         progress: Callable[[int, int, Any], Any] | None = None,
                         cancel: threading.Event | None = None) -> '_bulk.BulkResult':
        """Delete these snapshots (Snapshot objects or ids, on this backend) concurrently."""
        return self._bulk_delete('snapshot', snapshots, workers, progress, cancel)

    def _bulk_delete(self, kind: str, resources: list, workers: int,
                     progress: Callable[[int, int, Any], Any] | None,
                     cancel: threading.Event | None) -> '_bulk.BulkResult':
        """delete() each resource of kind (objects or ids) in the bulk pool; .succeeded holds them."""
        targets = self._bulk_targets(f'{kind}s', resources, kind)
        _bulk.check_workers(workers)
        _bulk.check_callbacks(progress, cancel)

        def delete(i: int) -> Any:
            obj = self._bulk_get(kind, resources[i])
            obj.delete()
            return obj
        return _bulk.run(f'delete_{kind}s', targets, delete, workers, progress, cancel)

    def _bulk_targets(self, argument: str, resources: Any, kind: str) -> list[str]:
        """The ids of a list of resources (objects of this backend, or ids); refuses duplicates."""
        if isinstance(resources, (str, bytes, dict)) or not hasattr(resources, '__len__'):
            raise InvalidArgument(argument, type(resources).__name__, f'a list of {kind}s or {kind} ids')
        if len(resources) > _bulk.MAX_ITEMS:
            raise InvalidArgument(argument, f'{len(resources)} items', f'at most {_bulk.MAX_ITEMS}')
        ids: list[str] = []
        for res in resources:
            if isinstance(res, str):
                _validation.text('id', res, allow_none=False, max_len=255)
                ids.append(res)
            elif getattr(res, 'KIND', None) == kind:
                if res.backend_name != self._name:
                    raise InvalidArgument(argument, res.id, f'{kind}s of backend {self._name!r} '
                                          f'(this one is on {res.backend_name!r})')
                ids.append(res.id)
            else:
                raise InvalidArgument(argument, type(res).__name__, f'{kind} objects or ids')
        seen: set[str] = set()
        for ident in ids:
            if ident in seen:
                raise InvalidArgument(argument, ident, f'each {kind} once')
            seen.add(ident)
        return ids

    def _bulk_get(self, kind: str, res: Any) -> Any:
        """The live object for a bulk item (an id is looked up; another backend's is refused)."""
        if not isinstance(res, str):
            return res
        obj = _runtime.get().get(kind, res)
        if obj.backend_name != self._name:
            raise InvalidArgument('id', res, f'a {kind} of backend {self._name!r}')
        return obj

    def validate_connector(self, connector_dict: dict) -> None:
        """Raise InvalidArgument if the driver cannot connect with this connector: a key its
        protocol needs is missing (``host`` always; ``initiator`` for iSCSI, ``wwpns`` for FC,
        ``nqn`` for NVMe-oF), or the driver's own validate_connector refuses it."""
        connector = _validation.connector(connector_dict, self._stats.get('storage_protocol'))
        try:
            self.driver.validate_connector(connector)
        except Exception as exc:
            err = InvalidArgument('connector', connector,
                                  f'a connector {self._name} accepts ({summary(exc, 500)})')
        else:
            return
        raise err   # outside the except block: the driver's exception is not chained

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, name: str, secrets: dict | None = None) -> 'Backend':
        """The backend of that name: the loaded one, else reopened from its stored configuration.

        Secret options come from ``secrets={name: {option: value}}`` (default: what
        ``setup(secrets=...)`` got), ``$CINDER_NB_SECRET_<BACKEND>_<OPTION>`` or the OS
        keyring (see cinder_nb._credentials); MissingSecret names one that none of them has.
        """
        _validation.text('name', name, allow_none=False)
        return _runtime.get().backend(name, secrets)

    @classmethod
    def _reopen(cls, name: str, secrets: dict | None) -> 'Backend':
        """Start a stored backend in this process (what _runtime asks the registered class)."""
        with _reopen_lock:     # two threads reopening one backend start it once
            loaded = _runtime.get().backends.get(name)
            return loaded if loaded is not None else cls._start_stored(name, secrets)

    @classmethod
    def _start_stored(cls, name: str, secrets: dict | None) -> 'Backend':
        rec = _runtime.get().persistence.get('backend', name)
        if rec is None:
            raise NotFound('backend', name, 'Create it with cinder_nb.Backend(...).')
        driver, config, secret = rec.get('volume_driver'), rec.get('config'), rec.get('secret_options', [])
        if (not isinstance(driver, str) or not isinstance(config, dict) or not isinstance(secret, list)
                or not all(isinstance(k, str) for k in list(config) + secret)):
            raise StateError(f'The stored configuration of backend {name!r} is malformed; create the '
                             'backend again with cinder_nb.Backend(...).')
        options = {k: v for k, v in config.items() if k not in secret}
        for option in secret:
            if config.get(option, REDACTED) != REDACTED:   # an empty secret was stored as it is
                options[option] = config[option]
                continue
            value = _credentials.lookup(name, option, secrets)
            if value is None:
                raise MissingSecret(name, option, _credentials.secret_env_name(name, option))
            options[option] = value
        return cls(name, volume_driver=driver, **options)

    def refresh(self) -> None:
        """Ask the driver for its stats again (cinderlib's name; resources are always read fresh)."""
        self.stats(refresh=True)

    def shutdown(self) -> None:
        """Unload the backend from this process (its resources stay recorded)."""
        rt = _runtime.get()
        rt.backends.pop(self._name, None)
        _cinder.clear_backend_config(self._name, self._options)
        _cinder.release_driver(self.driver)

    @staticmethod
    def list_supported_drivers() -> dict[str, dict]:
        """Every Cinder volume driver plus ours, keyed by class path: version, typed options."""
        return _catalog.list_supported_drivers()

    def dumps(self) -> str:
        """This backend and its resources as versioned JSON, secrets redacted."""
        return serialization.dumps(backends=[self._name])

    @classmethod
    def load(cls, text: str | bytes | dict, save: bool = False, secrets: dict | None = None) -> 'Backend':
        """Load a document written by Backend.dumps() (the backend and its resources); returns it."""
        return serialization.load_one('backend', text, save=save, secrets=secrets)

    def __repr__(self) -> str:
        return f'<cinder_nb.Backend {self._name} driver={self._driver_path.rsplit(".", 1)[-1]}>'

    def _repr_html_(self) -> str:
        pools = self._stats.get('pools', [])
        rows = [('name', self._name), ('driver', self._driver_path),
                ('protocol', self._stats.get('storage_protocol')), ('pools', ', '.join(self.pool_names))]
        if pools:
            rows.append(('free / total GiB', f"{pools[0].get('free_capacity_gb')} / "
                                             f"{pools[0].get('total_capacity_gb')}"))
        rows += [(k, v) for k, v in self.config.items() if k not in ('volume_backend_name', 'volume_driver')]
        body = ''.join(f'<tr><th style="text-align:left">{html.escape(str(k))}</th>'
                       f'<td style="text-align:left">{html.escape(str(v))}</td></tr>' for k, v in rows)
        return f'<table class="cinder-nb-backend"><caption style="text-align:left"><b>Backend</b></caption>{body}</table>'


#: pool stats that are numbers; drivers often pass the option's text on ('20.0' for the
#: StrOpt max_over_subscription_ratio). Words Cinder allows ('auto', 'infinite', 'unknown') stay.
_NUMERIC_POOL_STATS = ('total_capacity_gb', 'free_capacity_gb', 'allocated_capacity_gb',
                       'provisioned_capacity_gb', 'reserved_percentage', 'max_over_subscription_ratio')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _with_pools(stats: dict, backend: str) -> dict:
    """Legacy drivers report one pool's numbers at the top level; give them a 'pools' list.
    Numbers given as text become numbers."""
    stats = copy.deepcopy(stats)
    if stats and 'pools' not in stats:
        pool = {k: v for k, v in stats.items() if k not in (
            'driver_version', 'storage_protocol', 'vendor_name', 'volume_backend_name')}
        pool['pool_name'] = backend
        stats['pools'] = [pool]
    for pool in stats.get('pools', []):
        for key in _NUMERIC_POOL_STATS:
            if key in pool:
                pool[key] = _number(pool[key])
    return stats


_runtime.register_class('backend', Backend)


def backends(secrets: dict | None = None) -> list[Backend]:
    """Every backend of this session, by name: the loaded ones and the stored ones (reopened).

    A new process on an existing state gets its backends back this way. ``secrets`` as in
    Backend.open(); a stored backend whose secret cannot be found raises MissingSecret.
    """
    rt = _runtime.get()
    names = sorted(set(rt.backends) | set(rt.stored_backend_names()))
    return [rt.backend(name, secrets) for name in names]


def embedded(path: str | None = None, name: str = 'embedded', **options: Any) -> Backend:
    """A ready backend on the embedded file driver (volumes under path, default state_dir/volumes)."""
    path = path or os.path.join(_runtime.get().state_dir, 'volumes', name)
    return Backend(name, volume_driver=_catalog.EMBEDDED_DRIVER, local_file_path=path, **options)


def _names(names: list[str], limit: int = 10) -> str:
    """Option names for a message: each cut to a sane length, at most limit of them."""
    shown = [shown_name(n) for n in names[:limit]]
    return ', '.join(shown) + (f' and {len(names) - limit} more' if len(names) > limit else '')
