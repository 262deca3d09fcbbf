"""Cinder's scheduler capacity rules (CapacityFilter through PoolState) applied to one pool."""
from __future__ import annotations

from typing import Any

from cinder_nb._cinder.base import HOST


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
