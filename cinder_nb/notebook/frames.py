"""pandas DataFrames of volumes, snapshots and connections (public records only, typed columns)."""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from cinder_nb import _runtime
from cinder_nb.connection import CONNECTION_STATUSES
from cinder_nb.snapshot import SNAPSHOT_STATUSES
from cinder_nb.volume import VOLUME_STATUSES

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


def _frame(kind: str, columns: dict[str, Any], row: Callable[[Any], dict], backend: Any) -> pd.DataFrame:
    found = _runtime.get().find_with_records(kind, backend=_backend_name(backend))
    # a stored record is already the public (redacted) form: redact only what is held here alone
    rows = [row(rec if rec is not None else obj.public_record()) for obj, rec in found]
    df = pd.DataFrame(rows, columns=list(columns))
    for col, dtype in columns.items():
        if dtype == TIMESTAMP:
            df[col] = pd.to_datetime(df[col], utc=True, format='ISO8601').astype(TIMESTAMP)
        elif dtype == 'bool':
            df[col] = df[col].fillna(False).astype(bool)
        else:
            df[col] = df[col].astype(dtype)
    if len(df):
        df = df.sort_values(['created_at', 'id'], kind='stable').reset_index(drop=True)
    return df


def _volume_row(rec: dict) -> dict:
    return {k: rec.get(k) for k in VOLUME_COLUMNS}


def _snapshot_row(rec: dict) -> dict:
    return {k: rec.get(k) for k in SNAPSHOT_COLUMNS}


def _connection_row(rec: dict) -> dict:
    connector = rec.get('connector') or {}
    out = {k: rec.get(k) for k in CONNECTION_COLUMNS}
    out.update(protocol=(rec.get('connection_info') or {}).get('driver_volume_type'),
               host=connector.get('host'), initiator=connector.get('initiator'),
               attached=bool(rec.get('device')), path=(rec.get('device') or {}).get('path'))
    return out


def volumes_df(backend: Any = None) -> pd.DataFrame:
    """Volumes of one backend (name or Backend) or of all: one row each, oldest first.

    Columns (always present, in this order): id, name, backend, pool_name, size (int GiB),
    status (category), bootable, multiattach, source_volid, snapshot_id, description, error,
    created_at, updated_at (datetime64[ns, UTC]). Built from public records: no secrets.
    """
    return _frame('volume', VOLUME_COLUMNS, _volume_row, backend)


def snapshots_df(backend: Any = None) -> pd.DataFrame:
    """Snapshots of one backend or of all; columns as SNAPSHOT_COLUMNS (volume_size in GiB)."""
    return _frame('snapshot', SNAPSHOT_COLUMNS, _snapshot_row, backend)


def connections_df(backend: Any = None) -> pd.DataFrame:
    """Connections of one backend or of all; host/initiator from the connector, path if attached here."""
    return _frame('connection', CONNECTION_COLUMNS, _connection_row, backend)
