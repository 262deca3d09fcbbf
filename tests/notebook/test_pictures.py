"""Pictures render (PNG and SVG) and show the state: lineage nodes/edges, capacity numbers, fio runs, timeline."""
from __future__ import annotations

import re
import shutil

import matplotlib
import pytest

import cinder_nb as cnb
from cinder_nb.errors import InvalidArgument
from cinder_nb.notebook import pictures
from cinder_nb.notebook.history import COLUMNS as OP_COLUMNS, clear_operations, operations_df

matplotlib.use('Agg')


@pytest.fixture
def world(session):
    lab = cnb.embedded(str(session / 'lab'), name='lab', local_file_attach_mode='file')
    other = cnb.embedded(str(session / 'other'), name='other', local_file_attach_mode='file')
    gold = lab.create_volume(1, name='golden')
    before = gold.create_snapshot(name='before')
    restored = before.create_volume(name='restored')
    doomed = lab.create_volume(1, name='doomed')
    orphan = doomed.clone(name='orphan')
    doomed.delete()
    conn = gold.attach()
    far = other.create_volume(2, name='far')
    yield dict(lab=lab, other=other, gold=gold, before=before, restored=restored, doomed=doomed, orphan=orphan,
               conn=conn, far=far)
    gold.detach()


def _svg_text(fig) -> str:
    with matplotlib.rc_context({'svg.fonttype': 'none'}):
        return pictures.to_bytes(fig, 'svg').decode()


def test_lineage_graph_matches_the_state(world):
    w = world
    g = pictures.lineage_graph()
    edges = {(u, v, r) for u, v, r in g.edges(data='relation')}
    assert edges == {
        (f'volume:{w["gold"].id}', f'snapshot:{w["before"].id}', 'snapshot'),
        (f'snapshot:{w["before"].id}', f'volume:{w["restored"].id}', 'from snapshot'),
        (f'volume:{w["doomed"].id}', f'volume:{w["orphan"].id}', 'clone'),
        (f'volume:{w["gold"].id}', f'connection:{w["conn"].id}', 'connection'),
    }
    status = dict(g.nodes(data='status'))
    assert status[f'volume:{w["gold"].id}'] == 'in-use' and status[f'volume:{w["doomed"].id}'] == 'deleted'
    assert status[f'connection:{w["conn"].id}'] == 'attached' and status[f'volume:{w["far"].id}'] == 'available'
    assert len(g) == 7 and g.nodes[f'volume:{w["far"].id}']['backend'] == 'other'
    only_other = pictures.lineage_graph('other')
    assert list(only_other) == [f'volume:{w["far"].id}']
    assert len(pictures.lineage_graph(w['lab'], connections=False)) == 5


def test_lineage_figure_renders_png_and_svg_coloured_by_status(world):
    fig = pictures.draw_lineage()
    png = pictures.to_bytes(fig)
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 5000
    svg = _svg_text(fig)
    for name in ('golden', 'before', 'restored', 'orphan', 'far', 'attached here'):
        assert f'>{name}' in svg or f'{name}<' in svg, name
    ax = fig.axes[0]
    fills = {tuple(round(c, 3) for c in fc[:3]) for coll in ax.collections for fc in coll.get_facecolors()}
    want = {tuple(round(c, 3) for c in matplotlib.colors.to_rgb(pictures.STATUS_COLORS[s]))
            for s in ('available', 'in-use', 'deleted', 'attached')}
    assert want <= fills
    empty = pictures.draw_lineage('nobody-here')
    assert 'no volumes yet' in _svg_text(empty)


def test_capacity_frame_and_chart_follow_the_driver_stats(world):
    df = pictures.capacity_df()
    assert list(df['backend']) == ['lab', 'other']
    stats = world['lab'].stats()['pools'][0]
    row = df.iloc[0]
    assert row['total_gb'] == stats['total_capacity_gb'] and row['free_gb'] == stats['free_capacity_gb']
    assert row['provisioned_gb'] == stats['provisioned_capacity_gb'] == 3     # golden + restored + orphan
    assert df.iloc[1]['provisioned_gb'] == 2
    ratio = float(stats['max_over_subscription_ratio'])
    assert row['thin'] and row['oversubscription_limit_gb'] == pytest.approx(stats['total_capacity_gb'] * ratio)
    fig = pictures.capacity_chart()
    ax = fig.axes[0]
    assert len(ax.patches) == 4 * 2                     # total, free, provisioned, allocated per pool
    limits = [line for line in ax.lines if matplotlib.colors.to_hex(line.get_color()) == '#d32f2f']
    assert sorted(line.get_xdata()[0] for line in limits) == pytest.approx(list(df['oversubscription_limit_gb']))
    assert pictures.to_bytes(fig)[:4] == b'\x89PNG'
    assert 'limit' in _svg_text(fig)


@pytest.mark.skipif(shutil.which('fio') is None, reason='fio is not installed (apt-get install fio)')
def test_fio_plot_shows_each_run_and_direction(filelab):
    import pandas as pd
    from cinder_nb.notebook.fio_runs import fio
    vol = filelab.create_volume(1)
    df = pd.concat([fio(vol, 'randwrite', runtime=1, size='32M', progress=False),
                    fio(vol, 'mixed', runtime=1, size='32M', progress=False, overwrite=True)], ignore_index=True)
    fig = pictures.fio_plot(df)
    iops_ax, bw_ax, lat_ax = fig.axes
    assert [p.get_height() for p in iops_ax.patches] == pytest.approx(list(df['iops']))
    assert [p.get_height() for p in bw_ax.patches] == pytest.approx(list(df['bw_mib_s']))
    assert len(lat_ax.lines) == 3
    assert list(lat_ax.lines[1].get_ydata()) == pytest.approx(
        list(df.loc[1, ['lat_mean_us', 'lat_p50_us', 'lat_p95_us', 'lat_p99_us', 'lat_p99_9_us']]))
    assert [t.get_text() for t in iops_ax.get_xticklabels()] == ['randwrite write', 'mixed read', 'mixed write']
    assert pictures.to_bytes(fig, 'svg').startswith(b'<?xml')
    with pytest.raises(InvalidArgument):
        pictures.fio_plot(df[['label']])


def test_operations_frame_and_timeline(session):
    clear_operations()
    lab = cnb.embedded(str(session / 'lab'), name='lab', local_file_attach_mode='file')
    other = cnb.embedded(str(session / 'other'), name='other', local_file_attach_mode='file')
    vol = lab.create_volume(1, name='v')
    with pytest.raises(InvalidArgument):
        vol.extend(1)
    vol.copy_to(other)
    df = operations_df()
    assert list(df.columns) == list(OP_COLUMNS)
    assert str(df['started_at'].dtype) == 'datetime64[ns, UTC]' and str(df['ok'].dtype) == 'bool'
    top = operations_df(top_level=True)
    assert list(top['operation']) == ['backend.create_volume', 'volume.extend', 'volume.copy_to']
    assert list(top['ok']) == [True, False, True]
    assert (top['ended_at'] >= top['started_at']).all()
    assert len(df) > len(top) and set(operations_df('other')['backend']) == {'other'}
    fig = pictures.operations_timeline()
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [p.get_width() for p in ax.patches] == pytest.approx([max(d, 0.002) for d in top['duration_s']])
    assert [bool(p.get_hatch()) for p in ax.patches] == [False, True, False]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == f'backend.create_volume {vol.id[:8]}' and labels[2].startswith('volume.copy_to')
    assert re.match(rb'\x89PNG', pictures.to_bytes(fig))
    clear_operations()
    assert 'no operations yet' in _svg_text(pictures.operations_timeline())
