"""The operations this session ran, as a DataFrame ("what took long" in one cell)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from cinder_nb import oplog

STRING = pd.StringDtype()
COLUMNS: dict[str, Any] = {
    'seq': 'int64', 'operation': STRING, 'kind': STRING, 'resource_id': STRING, 'result_id': STRING,
    'backend': STRING, 'started_at': 'datetime64[ns, UTC]', 'ended_at': 'datetime64[ns, UTC]',
    'duration_s': 'float64', 'ok': 'bool', 'error': STRING, 'parent': 'Int64', 'thread': STRING,
}


def operations_df(backend: Any = None, top_level: bool = False) -> pd.DataFrame:
    """One row per public operation this process ran (cinder_nb.oplog), in start order.

    backend: a Backend or name to keep only its operations. top_level: leave out calls made
    inside another operation (copy_to's attach, create and detach calls). ``parent`` is the
    ``seq`` of the enclosing operation.
    """
    name = backend if backend is None or isinstance(backend, str) else backend.name
    rows = [r for r in oplog.records() if (name is None or r['backend'] == name)
            and not (top_level and r['parent'] is not None)]
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != 'ended_at'])
    df['started_at'] = pd.to_datetime(df['started_at'], utc=True)
    df['ended_at'] = df['started_at'] + pd.to_timedelta(df['duration_s'].astype('float64'), unit='s')
    df = df[list(COLUMNS)]
    for col, dtype in COLUMNS.items():
        df[col] = df[col].astype(dtype)
    return df.reset_index(drop=True)


def clear_operations() -> None:
    """Forget the recorded operations (the timeline starts afresh)."""
    oplog.clear()
