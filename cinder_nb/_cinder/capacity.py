"""Cinder's scheduler capacity rules (CapacityFilter through PoolState) applied to one pool."""
from __future__ import annotations

import copy
import sys
import threading
from typing import Any

from cinder_nb._cinder.base import CONF, HOST

#: pool stats that change between two checks against one driver report (cinder_nb adds what
#: was allocated since the report): PoolState takes them over from each check's pool
_PER_CHECK = ('free_capacity_gb', 'allocated_capacity_gb', 'provisioned_capacity_gb')
#: PoolStates built from a report's other stats, reused by the checks against that report
_TEMPLATES: dict[tuple, Any] = {}
_TEMPLATES_MAX = 64
_templates_lock = threading.Lock()


_import_lock = threading.Lock()


def _host_manager() -> Any:
    """cinder.scheduler.host_manager (PoolState, ReadOnlyDict), imported without the scheduler
    service it names for an option."""
    module = sys.modules.get('cinder.scheduler.host_manager')
    if module is not None:
        return module
    # Patch, for this import only: host_manager's module body runs
    # CONF.import_opt('scheduler_driver', 'cinder.scheduler.manager') for its HostManager class,
    # which cinder_nb does not use. Importing the scheduler manager imports taskflow and with it
    # networkx: 65-72 ms of a session's first create here, a tenth of its cold start. Every other
    # import_opt goes through; code that needs the option imports the manager itself (an
    # import_opt of it does), which registers it.
    real = CONF.import_opt

    def import_opt(name: str, module_str: str, group: Any = None) -> None:
        if (name, module_str) != ('scheduler_driver', 'cinder.scheduler.manager'):
            real(name, module_str, group)

    with _import_lock:
        module = sys.modules.get('cinder.scheduler.host_manager')
        if module is None:
            CONF.import_opt = import_opt
            try:
                from cinder.scheduler import host_manager as module
            finally:
                del CONF.import_opt
    return module


def _pool_state(backend: str, pool: dict) -> Any:
    """A cinder.scheduler PoolState for pool, as the scheduler's host manager makes one.

    Building one (update_from_volume_capability) cost more than the filter itself, so the
    state built from a report's stats is kept and copied for each check with the numbers
    that changed since (_PER_CHECK) set as update_from_volume_capability sets them, and
    max_over_subscription_ratio recomputed from them ('auto' depends on them).
    tests/core/test_capacity.py checks it against a fresh build.
    """
    from cinder.scheduler import sched_utils
    from oslo_utils import timeutils

    host_manager = _host_manager()

    capability = dict(pool, timestamp=timeutils.utcnow())
    try:
        key = (backend, tuple(sorted((k, v) for k, v in pool.items() if k not in _PER_CHECK)),
               'provisioned_capacity_gb' in pool)
        hash(key)
    except TypeError:   # a driver reporting a list or dict in its pool stats: no reuse
        key = None
    template = _TEMPLATES.get(key) if key is not None else None
    if template is None:
        template = host_manager.PoolState(f'{HOST}@{backend}', None, capability, pool.get('pool_name') or backend)
        template.update_from_volume_capability(capability)
        if key is None:
            return template
        with _templates_lock:
            if len(_TEMPLATES) >= _TEMPLATES_MAX:
                _TEMPLATES.clear()
            _TEMPLATES[key] = template
    state = copy.copy(template)
    state.capabilities = host_manager.ReadOnlyDict(capability)
    state.updated = capability['timestamp']
    state.free_capacity_gb = pool.get('free_capacity_gb', 0)
    state.allocated_capacity_gb = pool.get('allocated_capacity_gb', 0)
    state.provisioned_capacity_gb = pool.get('provisioned_capacity_gb', state.allocated_capacity_gb)
    state.max_over_subscription_ratio = sched_utils.calculate_max_over_subscription_ratio(
        capability, CONF.max_over_subscription_ratio)
    return state


def capacity_check(backend: str, pool: dict, size: int, current_size: int | None = None,
                   extra_specs: dict | None = None) -> tuple[bool, dict]:
    """Cinder's scheduler CapacityFilter on one pool of a driver's stats: (passes, factors).

    Reused rather than rewritten so the rules are Cinder's own: reserved_percentage,
    max_over_subscription_ratio (including 'auto'), thin versus thick (the volume type's
    'provisioning:type' extra spec). The pool's stats go through Cinder's PoolState, as
    the scheduler's host manager does. ``current_size`` makes it an extend check (the
    request is the growth). ``factors`` are Cinder's capacity factors, for the message
    (the derived virtual_free/total_available ones only when it fails or no space is free).
    Both classes run standalone: they need no database, no RPC and no scheduler service.
    """
    from cinder.scheduler import sched_utils
    from cinder.scheduler.filters import capacity_filter

    state = _pool_state(backend, pool)
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
    free = state.free_capacity_gb
    if passes and not (isinstance(free, (int, float)) and not isinstance(free, bool) and free <= 0):
        return passes, factors
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
