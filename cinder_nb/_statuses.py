"""The status vocabulary of each kind of resource: one list per kind, transitional statuses included.

Everything that names statuses reads them from here: validation (reset_status, cinderlib's
``_ovo.status``, migrated documents), the published JSON Schema (schema/state-v2.json lists
``stored(kind)``; tests/state/test_inputs.py checks that they agree) and the DataFrames'
categorical dtypes (cinder_nb.notebook.frames). Names follow Cinder and cinderlib.
"""
from __future__ import annotations

VOLUME_STATUSES = ('creating', 'available', 'in-use', 'extending', 'reverting', 'deleting', 'deleted',
                   'error', 'error_deleting')
SNAPSHOT_STATUSES = ('creating', 'available', 'deleting', 'deleted', 'error', 'error_deleting')
CONNECTION_STATUSES = ('attaching', 'attached', 'detaching', 'deleted', 'error')

#: kind -> its statuses, in display order
BY_KIND: dict[str, tuple[str, ...]] = {'volume': VOLUME_STATUSES, 'snapshot': SNAPSHOT_STATUSES,
                                        'connection': CONNECTION_STATUSES}

#: statuses an operation holds while it runs; a crash mid-operation leaves them behind
TRANSITIONAL = frozenset({'creating', 'deleting', 'extending', 'reverting', 'attaching', 'detaching'})

#: volume statuses that allow snapshots, extends and clones
USABLE = frozenset({'available', 'in-use'})


def stored(kind: str) -> tuple[str, ...]:
    """Statuses a stored record of kind may have: all but 'deleted' (a deleted resource has no record)."""
    return tuple(s for s in BY_KIND[kind] if s != 'deleted')
