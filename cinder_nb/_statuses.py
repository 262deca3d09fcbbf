"""The status vocabulary of each kind of resource (cinderlib's names, Cinder's transitional ones)."""
from __future__ import annotations

VOLUME_STATUSES = ('creating', 'available', 'in-use', 'extending', 'deleting', 'deleted',
                   'error', 'error_deleting')
SNAPSHOT_STATUSES = ('creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting')
CONNECTION_STATUSES = ('attaching', 'attached', 'detaching', 'error')

#: statuses an operation holds while it runs; a crash mid-operation leaves them behind
TRANSITIONAL = frozenset({'creating', 'deleting', 'extending', 'attaching', 'detaching', 'reverting'})

#: volume statuses that allow snapshots, extends and clones
USABLE = frozenset({'available', 'in-use'})


def stored() -> dict[str, frozenset]:
    """Statuses a stored record may have: each kind's vocabulary plus the transient ones
    the code sets without listing them, minus 'deleted' (a deleted resource has no record).
    The JSON Schema lists the same sets (tests/state/test_inputs.py compares them)."""
    return {'volume': (frozenset(VOLUME_STATUSES) | {'reverting'}) - {'deleted'},
            'snapshot': frozenset(SNAPSHOT_STATUSES) - {'deleted'},
            'connection': (frozenset(CONNECTION_STATUSES) | {'detaching'}) - {'deleted'}}
