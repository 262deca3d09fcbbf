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
