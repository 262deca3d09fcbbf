"""DataFrames of volumes, snapshots and connections: columns, dtypes, filters, no secrets."""
from __future__ import annotations

import pandas as pd

import cinder_nb as cnb
import cinder_nb.notebook as nb
from cinder_nb.notebook.frames import CONNECTION_COLUMNS, SNAPSHOT_COLUMNS, VOLUME_COLUMNS

FRAMES = ((nb.volumes_df, VOLUME_COLUMNS), (nb.snapshots_df, SNAPSHOT_COLUMNS),
          (nb.connections_df, CONNECTION_COLUMNS))


def _check_dtypes(df: pd.DataFrame, columns: dict) -> None:
    assert list(df.columns) == list(columns)
    for col, dtype in columns.items():
        assert df[col].dtype == pd.api.types.pandas_dtype(dtype), (col, df[col].dtype)


def test_empty_frames_have_their_columns_and_dtypes(session):
    for frame, columns in FRAMES:
        df = frame()
        assert df.empty
        _check_dtypes(df, columns)
    assert str(nb.volumes_df()['created_at'].dtype) == 'datetime64[ns, UTC]'


def test_frames_hold_every_resource_with_typed_columns(filelab):
    vol = filelab.create_volume(2, name='data')
    snap = vol.create_snapshot(name='s1')
    clone = vol.clone(name='copy')
    from_snap = snap.create_volume(name='back')
    vol.extend(3)
    conn = vol.connect({'host': 'compute-1', 'initiator': 'iqn.2004-10.com:c1'})
    local = clone.attach()

    vols = nb.volumes_df()
    _check_dtypes(vols, VOLUME_COLUMNS)
    assert list(vols['name']) == ['data', 'copy', 'back']          # oldest first
    assert list(vols['size']) == [3, 2, 2] and vols['size'].dtype == 'int64'
    assert list(vols['status']) == ['in-use', 'in-use', 'available']
    assert set(vols['status'].cat.categories) >= {'available', 'in-use', 'error', 'deleted'}
    row = vols.set_index('id').loc
    assert row[clone.id, 'source_volid'] == vol.id and row[from_snap.id, 'snapshot_id'] == snap.id
    assert pd.isna(row[vol.id, 'source_volid'])
    assert vols['created_at'].dt.tz is not None and str(vols['created_at'].dt.tz) == 'UTC'
    assert (vols['updated_at'] >= vols['created_at']).all()
    assert (pd.Timestamp.now(tz='UTC') - vols['created_at']).max() < pd.Timedelta(minutes=5)

    snaps = nb.snapshots_df()
    _check_dtypes(snaps, SNAPSHOT_COLUMNS)
    assert list(snaps['id']) == [snap.id] and snaps['volume_size'].iloc[0] == 2

    conns = nb.connections_df()
    _check_dtypes(conns, CONNECTION_COLUMNS)
    by_id = conns.set_index('id')
    assert by_id.loc[conn.id, 'host'] == 'compute-1' and not by_id.loc[conn.id, 'attached']
    assert by_id.loc[conn.id, 'initiator'] == 'iqn.2004-10.com:c1'
    assert by_id.loc[local.id, 'attached'] and by_id.loc[local.id, 'path'] == local.path
    assert set(conns['protocol']) == {'local'}
    local.detach()
    conn.disconnect()
    assert nb.connections_df().empty and list(nb.volumes_df()['status']) == ['available'] * 3


def test_one_backend_or_all(session):
    a = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    b = cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file')
    a.create_volume(1, name='va').create_snapshot()
    b.create_volume(1, name='vb')
    assert list(nb.volumes_df(a)['name']) == ['va']
    assert list(nb.volumes_df('b')['name']) == ['vb']
    assert sorted(nb.volumes_df()['name']) == ['va', 'vb']
    assert len(nb.snapshots_df('a')) == 1 and nb.snapshots_df(b).empty
    _check_dtypes(nb.snapshots_df(b), SNAPSHOT_COLUMNS)


def test_no_secret_reaches_a_frame(session):
    lab = cnb.embedded(str(session / 'v'), local_file_attach_mode='file', chap_password='Xy-secret-77')
    vol = lab.create_volume(1, name='s')
    vol.connect({'host': 'h', 'initiator': 'iqn.x', 'password': 'conn-secret-55'})
    text = ''.join(frame().to_csv() for frame, _ in FRAMES)
    assert 'conn-secret-55' not in text and 'Xy-secret-77' not in text
    assert 'connector' not in nb.connections_df().columns


def _rowwise(kind: str, columns: dict) -> pd.DataFrame:
    """The frames as they were built before the column-wise builder: a dict per row from
    each object's public record, then each column converted (the reference)."""
    from cinder_nb import _runtime
    rows = []
    for obj, rec in _runtime.get().find_with_records(kind):
        rec = rec if rec is not None else obj.public_record()
        row = {k: rec.get(k) for k in columns}
        if kind == 'connection':
            connector = rec.get('connector') or {}
            row.update(protocol=(rec.get('connection_info') or {}).get('driver_volume_type'),
                       host=connector.get('host'), initiator=connector.get('initiator'),
                       attached=bool(rec.get('device')), path=(rec.get('device') or {}).get('path'))
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(columns))
    for col, dtype in columns.items():
        if dtype == 'datetime64[ns, UTC]':
            df[col] = pd.to_datetime(df[col], utc=True, format='ISO8601').astype(dtype)
        elif dtype == 'bool':
            df[col] = df[col].fillna(False).astype(bool)
        else:
            df[col] = df[col].astype(dtype)
    if len(df):
        df = df.sort_values(['created_at', 'id'], kind='stable').reset_index(drop=True)
    return df


def test_column_wise_frames_equal_the_row_wise_reference(filelab):
    """volumes_df() & co. build columns straight from the stored records: the frames must be
    the ones a dict per row gave, with nulls, errors, odd statuses and objects held only here."""
    import json
    vol = filelab.create_volume(2, name='data', description='d', metadata={'a': 'b'})
    snap = vol.create_snapshot(name='s1')
    vol.clone(name='copy')
    snap.create_volume(name='back')
    vol.connect({'host': 'compute-1', 'initiator': 'iqn.2004-10.com:c1'})
    vol.create_snapshot()                       # no name
    doc = json.loads(cnb.dumps())
    held = dict(doc['volumes'][0], id='held-only', name='', pool_name=None, status='error',
                error='boom', created_at='2020-01-01T00:00:00+02:00', updated_at=None)
    doc['volumes'] = [held]
    doc['snapshots'] = doc['connections'] = []
    cnb.load(json.dumps(doc), save=False)       # an object held in this process only
    for frame, columns, kind in ((nb.volumes_df, VOLUME_COLUMNS, 'volume'),
                                 (nb.snapshots_df, SNAPSHOT_COLUMNS, 'snapshot'),
                                 (nb.connections_df, CONNECTION_COLUMNS, 'connection')):
        got, want = frame(), _rowwise(kind, columns)
        assert len(got) == len(want) > 0, kind
        pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_rows_are_ordered_like_sort_values_whatever_the_stored_order(filelab):
    """Records stored out of order, with equal timestamps (id decides) and missing ones (last):
    the numpy ordering must give the rows a stable sort_values(['created_at', 'id']) gives."""
    import json
    filelab.create_volume(1, name='template')
    doc = json.loads(cnb.dumps())
    template = doc['volumes'][0]
    stamps = ['2026-01-02T00:00:00+00:00', None, '2026-01-01T00:00:00+00:00', '2026-01-02T00:00:00+00:00',
              None, '2025-12-31T23:00:00-02:00']
    doc['volumes'] = [dict(template, id=f'{ident}-{i}', name=f'n{i}', created_at=stamp)
                      for i, (ident, stamp) in enumerate(zip(['zz', 'bb', 'aa', 'ab', 'aa', 'cc'], stamps))]
    cnb.load(json.dumps(doc), save=True)
    got, want = nb.volumes_df(), _rowwise('volume', VOLUME_COLUMNS)
    assert list(got['name']) == ['n2', 'n5', 'n3', 'n0', 'template', 'n4', 'n1'] and got['created_at'].isna().tolist()[-2:] == [True, True]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
