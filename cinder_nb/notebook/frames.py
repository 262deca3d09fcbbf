"""pandas DataFrames of volumes, snapshots and connections (public records only, typed columns)."""
from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
import pandas as pd

from cinder_nb import _runtime, serialization
from cinder_nb._statuses import CONNECTION_STATUSES, SNAPSHOT_STATUSES, VOLUME_STATUSES

STRING = pd.StringDtype()
TIMESTAMP = 'datetime64[ns, UTC]'

#: column -> dtype, in display order
VOLUME_COLUMNS: dict[str, Any] = {
    'id': STRING, 'name': STRING, 'backend': STRING, 'pool_name': STRING, 'size': 'int64',
    'status': pd.CategoricalDtype(VOLUME_STATUSES), 'bootable': 'bool', 'multiattach': 'bool',
    'source_volid': STRING, 'snapshot_id': STRING, 'description': STRING, 'error': STRING,
    'created_at': TIMESTAMP, 'updated_at': TIMESTAMP,
}
SNAPSHOT_COLUMNS: dict[str, Any] = {
    'id': STRING, 'name': STRING, 'backend': STRING, 'volume_id': STRING, 'volume_size': 'int64',
    'status': pd.CategoricalDtype(SNAPSHOT_STATUSES), 'description': STRING, 'error': STRING,
    'created_at': TIMESTAMP, 'updated_at': TIMESTAMP,
}
CONNECTION_COLUMNS: dict[str, Any] = {
    'id': STRING, 'backend': STRING, 'volume_id': STRING,
    'status': pd.CategoricalDtype(list(dict.fromkeys(CONNECTION_STATUSES + ('deleted',)))), 'protocol': STRING,
    'attach_mode': STRING, 'host': STRING, 'initiator': STRING, 'attached': 'bool', 'path': STRING,
    'error': STRING, 'created_at': TIMESTAMP, 'updated_at': TIMESTAMP,
}


def _backend_name(backend: Any) -> str | None:
    if backend is None or isinstance(backend, str):
        return backend
    return backend.name


def _frame(kind: str, columns: dict[str, Any], derived: Callable[[list[dict]], dict] | None,
           backend: Any) -> pd.DataFrame:
    """A frame built column by column from the store's public records (no dict per row)."""
    with serialization.gc_paused():       # a record per row: no cycles, skip the collector
        recs = _runtime.get().public_records(kind, backend=_backend_name(backend))
        extra = derived(recs) if derived is not None else {}
        data: dict[str, Any] = {}
        ids: list = []
        for col, dtype in columns.items():
            values = extra[col] if col in extra else list(map(dict.get, recs, itertools.repeat(col)))
            data[col] = _typed(values, dtype)
            if col == 'id':
                ids = values
        order = _oldest_first(data['created_at'], ids)
        del recs
    if order is not None:
        data = {col: values[order] for col, values in data.items()}
    return pd.DataFrame(data, columns=list(columns))


def _oldest_first(created: Any, ids: list) -> np.ndarray | None:
    """The row order by (created_at, id), missing timestamps last, as a stable sort_values
    would give it; None when the rows are in that order already (records are stored oldest
    first). One numpy lexsort over the timestamps and fixed-width ids."""
    if not len(ids):
        return None
    stamps = pd.DatetimeIndex(created).asi8.copy()
    stamps[pd.isna(created)] = np.iinfo(np.int64).max
    order = np.lexsort((np.array(ids, dtype=str), stamps))
    return None if (order == np.arange(len(order))).all() else order


def _typed(values: list, dtype: Any) -> Any:
    """One column of values in its dtype (None becomes <NA>/NaT; False for a bool column)."""
    if dtype == TIMESTAMP:
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format='ISO8601').astype(TIMESTAMP).array
    if isinstance(dtype, pd.CategoricalDtype):
        code = {c: i for i, c in enumerate(dtype.categories)}
        return pd.Categorical.from_codes([code.get(v, -1) for v in values], dtype=dtype)
    if dtype == 'bool':
        return np.array([bool(v) for v in values], dtype=bool)
    if dtype == 'int64':
        return np.array(values, dtype='int64')
    return pd.array(values, dtype=dtype)


def _connection_columns(recs: list[dict]) -> dict:
    connectors = [r.get('connector') or {} for r in recs]
    devices = [r.get('device') for r in recs]
    return {'protocol': [(r.get('connection_info') or {}).get('driver_volume_type') for r in recs],
            'host': [c.get('host') for c in connectors], 'initiator': [c.get('initiator') for c in connectors],
            'attached': [bool(d) for d in devices], 'path': [(d or {}).get('path') for d in devices]}


def volumes_df(backend: Any = None) -> pd.DataFrame:
    """Volumes of one backend (name or Backend) or of all: one row each, oldest first.

    Columns (always present, in this order): id, name, backend, pool_name, size (int GiB),
    status (category), bootable, multiattach, source_volid, snapshot_id, description, error,
    created_at, updated_at (datetime64[ns, UTC]). Built from public records: no secrets.
    """
    return _frame('volume', VOLUME_COLUMNS, None, backend)


def snapshots_df(backend: Any = None) -> pd.DataFrame:
    """Snapshots of one backend or of all; columns as SNAPSHOT_COLUMNS (volume_size in GiB)."""
    return _frame('snapshot', SNAPSHOT_COLUMNS, None, backend)


def connections_df(backend: Any = None) -> pd.DataFrame:
    """Connections of one backend or of all; host/initiator from the connector, path if attached here."""
    return _frame('connection', CONNECTION_COLUMNS, _connection_columns, backend)
