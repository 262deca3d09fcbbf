"""Pictures drawn with matplotlib and networkx: lineage graph, capacity chart, fio plots, timeline.

    from cinder_nb.notebook import pictures
    pictures.draw_lineage()              # volumes, snapshots, clones, connections, coloured by status
    pictures.capacity_chart()            # per pool: total/free/provisioned/allocated GiB, over-subscription limit
    pictures.fio_plot(df)                # IOPS and bandwidth bars, latency percentile curves
    pictures.operations_timeline()       # every operation this session ran, by backend and duration

Each returns a matplotlib Figure (shown by Jupyter; ``fig.savefig('x.svg')`` elsewhere).
Nothing needs root or a display: figures are made off-screen.
"""
from __future__ import annotations

import io
import math
from typing import Any, Iterable

import pandas as pd

from cinder_nb.notebook.frames import connections_df, snapshots_df, volumes_df

STATUS_COLORS = {
    'available': '#4caf50', 'in-use': '#2196f3', 'attached': '#2196f3', 'creating': '#ffb300',
    'extending': '#ffb300', 'attaching': '#ffb300', 'detaching': '#ffb300', 'reverting': '#ffb300',
    'deleting': '#ff7043', 'error': '#e53935', 'error_deleting': '#b71c1c', 'deleted': '#bdbdbd',
}
KIND_SHAPES = {'volume': 's', 'snapshot': 'o', 'connection': 'D'}
EDGE_STYLES = {'snapshot': 'solid', 'from snapshot': 'dashed', 'clone': 'dotted', 'connection': 'solid'}


def _figure(w: float, h: float):
    """A new figure that pyplot forgets at once: Jupyter shows the returned figure exactly once."""
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(w, h))
    plt.close(fig)
    return fig


def _short(ident: Any) -> str:
    return str(ident)[:8]


# ---------------------------------------------------------------------------------------- lineage
def lineage_graph(backend: Any = None, connections: bool = True):
    """A networkx DiGraph of volumes, snapshots and connections (of one backend or all).

    Nodes are ``'volume:<id>'``, ``'snapshot:<id>'``, ``'connection:<id>'`` with attributes
    kind, status, name, label, backend. Edges carry ``relation``: volume -> its snapshots
    ('snapshot'), snapshot -> volumes made from it ('from snapshot'), volume -> its clones
    ('clone'), volume -> connections ('connection'). A parent that no longer exists appears
    as a 'deleted' node, so a clone's or a restored volume's origin stays visible.
    """
    import networkx as nx
    g = nx.DiGraph()
    vols, snaps = volumes_df(backend), snapshots_df(backend)

    def add(kind: str, ident: str, status: str, name: str | None, bk: str | None, **extra: Any) -> str:
        node = f'{kind}:{ident}'
        label = name if name else _short(ident)
        g.add_node(node, kind=kind, id=ident, status=str(status), name=name or '', backend=bk,
                   label=label, **extra)
        return node

    def ensure(kind: str, ident: str) -> str:
        node = f'{kind}:{ident}'
        if node not in g:
            add(kind, ident, 'deleted', None, None)
        return node

    for v in vols.itertuples():
        add('volume', v.id, v.status, v.name, v.backend, size=int(v.size))
    for s in snaps.itertuples():
        node = add('snapshot', s.id, s.status, s.name, s.backend, size=int(s.volume_size))
        g.add_edge(ensure('volume', s.volume_id), node, relation='snapshot')
    for v in vols.itertuples():
        if isinstance(v.snapshot_id, str):
            g.add_edge(ensure('snapshot', v.snapshot_id), f'volume:{v.id}', relation='from snapshot')
        if isinstance(v.source_volid, str):
            g.add_edge(ensure('volume', v.source_volid), f'volume:{v.id}', relation='clone')
    if connections:
        for c in connections_df(backend).itertuples():
            label = 'attached here' if c.attached else (c.host or c.protocol or 'connection')
            node = add('connection', c.id, c.status, label, c.backend, attached=bool(c.attached))
            g.add_edge(ensure('volume', c.volume_id), node, relation='connection')
    return g


def _layers(g) -> dict[str, int]:
    """Depth of each node in the lineage (roots 0), for a left-to-right layout."""
    import networkx as nx
    depth: dict[str, int] = {}
    for node in nx.topological_sort(g):
        preds = list(g.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    return depth


def _layout(g) -> dict[str, tuple[float, float]]:
    """Columns by depth; each connected component gets its own band of rows."""
    import networkx as nx
    depth = _layers(g)
    pos: dict[str, tuple[float, float]] = {}
    row = 0.0
    for comp in sorted(nx.weakly_connected_components(g), key=lambda c: min(c)):
        columns: dict[int, list[str]] = {}
        for node in sorted(comp, key=lambda n: (g.nodes[n].get('kind'), g.nodes[n].get('label'), n)):
            columns.setdefault(depth[node], []).append(node)
        height = max(len(v) for v in columns.values())
        for d, nodes in columns.items():
            for i, node in enumerate(nodes):
                pos[node] = (float(d), -(row + i + (height - len(nodes)) / 2))
        row += height + 0.6
    return pos


def draw_lineage(backend: Any = None, connections: bool = True, graph: Any = None, title: str | None = None):
    """The lineage graph as a figure: squares volumes, circles snapshots, diamonds connections,
    coloured by status; solid arrows snapshots/connections, dashed 'from snapshot', dotted clones."""
    import networkx as nx
    from matplotlib.lines import Line2D
    g = graph if graph is not None else lineage_graph(backend, connections)
    pos = _layout(g) if len(g) else {}
    cols = 1 + max((x for x, _ in pos.values()), default=0)
    rows = 1 - min((y for _, y in pos.values()), default=0)
    fig = _figure(min(16, 2.2 + 2.6 * cols), min(14, 1.6 + 0.75 * rows))
    ax = fig.add_subplot()
    ax.set_axis_off()
    name = backend if backend is None or isinstance(backend, str) else backend.name
    ax.set_title(title or f'Lineage of {name or "all backends"}', loc='left', fontsize=11)
    if not len(g):
        ax.text(0.5, 0.5, 'no volumes yet', ha='center', va='center', color='#777', transform=ax.transAxes)
        return fig
    for relation, style in EDGE_STYLES.items():
        edges = [(u, v) for u, v, r in g.edges(data='relation') if r == relation]
        if edges:
            nx.draw_networkx_edges(g, pos, edgelist=edges, ax=ax, style=style, arrows=True, arrowsize=14,
                                   edge_color='#555', node_size=1400, node_shape='s')
    for kind, shape in KIND_SHAPES.items():
        nodes = [n for n, k in g.nodes(data='kind') if k == kind]
        if nodes:
            nx.draw_networkx_nodes(g, pos, nodelist=nodes, node_shape=shape, ax=ax, node_size=1400,
                                   node_color=[STATUS_COLORS.get(g.nodes[n]['status'], '#9e9e9e') for n in nodes],
                                   edgecolors='#333', linewidths=1.0)
    labels = {n: f"{d['label'][:14]}\n{d['status']}" + (f"\n{d['size']} GiB" if d.get('size') else '')
              for n, d in g.nodes(data=True)}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    statuses = sorted({d['status'] for _, d in g.nodes(data=True)})
    handles = [Line2D([], [], marker='o', ls='', markerfacecolor=STATUS_COLORS.get(s, '#9e9e9e'),
                      markeredgecolor='#333', label=s) for s in statuses]
    handles += [Line2D([], [], marker=KIND_SHAPES[k], ls='', color='#ccc', markeredgecolor='#333', label=k)
                for k in KIND_SHAPES if any(d == k for _, d in g.nodes(data='kind'))]
    handles += [Line2D([], [], ls=EDGE_STYLES[r], color='#555', label=r)
                for r in EDGE_STYLES if any(d == r for *_, d in g.edges(data='relation'))]
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- capacity
def _number(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def capacity_df(backends: Iterable[Any] | Any = None, refresh: bool = True) -> pd.DataFrame:
    """One row per backend pool: total, free, provisioned and allocated GiB from the driver's stats,
    max_over_subscription_ratio and the over-subscription limit (total x ratio where thin).
    Values a driver reports as 'unknown' or 'infinite' are NaN."""
    from cinder_nb import _runtime
    rt = _runtime.get()
    if backends is None:
        chosen = list(rt.backends.values())
    else:
        items = backends if isinstance(backends, (list, tuple)) else [backends]
        chosen = [rt.backends[b] if isinstance(b, str) else b for b in items]
    rows = []
    for b in chosen:
        for pool in b.stats(refresh=refresh).get('pools', []):
            total = _number(pool.get('total_capacity_gb'))
            ratio = _number(pool.get('max_over_subscription_ratio'))
            thin = bool(pool.get('thin_provisioning_support'))
            rows.append({'backend': b.name, 'pool': pool.get('pool_name'), 'total_gb': total,
                         'free_gb': _number(pool.get('free_capacity_gb')),
                         'provisioned_gb': _number(pool.get('provisioned_capacity_gb')),
                         'allocated_gb': _number(pool.get('allocated_capacity_gb')),
                         'reserved_percentage': _number(pool.get('reserved_percentage')),
                         'thin': thin, 'max_over_subscription_ratio': ratio,
                         'oversubscription_limit_gb': total * ratio if thin else total})
    df = pd.DataFrame(rows, columns=['backend', 'pool', 'total_gb', 'free_gb', 'provisioned_gb', 'allocated_gb',
                                     'reserved_percentage', 'thin', 'max_over_subscription_ratio',
                                     'oversubscription_limit_gb'])
    return df.astype({'backend': 'string', 'pool': 'string', 'thin': 'bool', **{
        c: 'float64' for c in df.columns if c not in ('backend', 'pool', 'thin')}})


CAPACITY_BARS = (('total_gb', 'total', '#90a4ae'), ('free_gb', 'free', '#81c784'),
                 ('provisioned_gb', 'provisioned', '#64b5f6'), ('allocated_gb', 'allocated', '#ffb74d'))


def capacity_chart(backends: Iterable[Any] | Any = None, refresh: bool = True, df: pd.DataFrame | None = None):
    """Per backend pool: bars of total, free, provisioned and allocated GiB, with the
    over-subscription limit (total x max_over_subscription_ratio) marked in red. The axis is
    logarithmic when the values span more than a factor of 100."""
    df = capacity_df(backends, refresh) if df is None else df
    fig = _figure(9, 1.2 + 1.3 * max(1, len(df)))
    ax = fig.add_subplot()
    ax.set_title('Capacity per pool (GiB)', loc='left', fontsize=11)
    if df.empty:
        ax.text(0.5, 0.5, 'no backends loaded', ha='center', va='center', color='#777', transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    height = 0.8 / len(CAPACITY_BARS)
    values, notes = [], []
    for i, (col, label, color) in enumerate(CAPACITY_BARS):
        ys = [r - 0.4 + (i + 0.5) * height for r in range(len(df))]
        vals = df[col].fillna(0).to_numpy()
        ax.barh(ys, vals, height=height * 0.92, color=color, label=label)
        for y, v in zip(ys, df[col]):
            if not math.isnan(v):
                notes.append((v, y, f' {v:,.3g}'))
                values.append(v)
    limits = df['oversubscription_limit_gb']
    for r, (lim, thin) in enumerate(zip(limits, df['thin'])):
        if not math.isnan(lim):
            ax.plot([lim, lim], [r - 0.45, r + 0.45], color='#d32f2f', lw=2,
                    label='over-subscription limit' if r == 0 else None)
            ax.text(lim, r + 0.42, f' limit {lim:,.4g}' + (' (thin)' if thin else ''), color='#d32f2f',
                    fontsize=7, va='bottom')
            values.append(lim)
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 100:
        ax.set_xscale('log')
        ax.set_xlim(min(positive) / 2, max(positive) * 4)
    else:
        ax.set_xlim(0, (max(values) if values else 1) * 1.25)
    left = ax.get_xlim()[0]
    for v, y, text in notes:            # a zero (nothing allocated yet) is written at the axis start
        ax.text(max(v, left), y, text, va='center', fontsize=7)
    ax.set_yticks(range(len(df)), [f'{b}\n{p}' if p != b else str(b) for b, p in zip(df['backend'], df['pool'])])
    ax.invert_yaxis()
    ax.set_xlabel('GiB')
    ax.legend(loc='upper left', bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- fio
def fio_plot(df: pd.DataFrame, by: str = 'label'):
    """Three panels for a frame from fio() (one or several runs concatenated): IOPS bars,
    bandwidth bars (MiB/s) and latency percentile curves (mean, p50 ... p99.9, log scale)."""
    import numpy as np
    from cinder_nb.notebook.fio_runs import COLUMNS
    missing = [c for c in ('iops', 'bw_mib_s', 'direction', 'lat_p50_us') if c not in df.columns]
    if missing:
        from cinder_nb.errors import InvalidArgument
        raise InvalidArgument('df', f'frame without {missing}', f'a frame returned by fio() (columns {list(COLUMNS)})')
    df = df.reset_index(drop=True)
    names = [f'{k} {d}' for k, d in zip(df[by].astype(str), df['direction'].astype(str))]
    fig = _figure(13, 4.2)
    ax_iops, ax_bw, ax_lat = fig.subplots(1, 3)
    colors = ['#1976d2' if d == 'read' else '#e64a19' if d == 'write' else '#7b1fa2' for d in df['direction']]
    x = np.arange(len(df))
    for ax, col, title in ((ax_iops, 'iops', 'IOPS'), (ax_bw, 'bw_mib_s', 'Bandwidth (MiB/s)')):
        ax.bar(x, df[col], color=colors)
        ax.set_title(title, loc='left', fontsize=10)
        ax.set_xticks(x, names, rotation=35, ha='right', fontsize=7)
        for xi, v in zip(x, df[col]):
            ax.text(xi, v, f'{v:,.0f}', ha='center', va='bottom', fontsize=7)
    points = [('mean', 'lat_mean_us'), ('p50', 'lat_p50_us'), ('p95', 'lat_p95_us'), ('p99', 'lat_p99_us'),
              ('p99.9', 'lat_p99_9_us')]
    for i, name in enumerate(names):
        ys = [df[c][i] for _, c in points]
        ax_lat.plot(range(len(points)), ys, marker='o', label=name, color=None if len(names) > 1 else colors[i])
    ax_lat.set_xticks(range(len(points)), [p for p, _ in points])
    ax_lat.set_yscale('log')
    ax_lat.set_ylabel('latency (µs)')
    ax_lat.set_title('Latency percentiles', loc='left', fontsize=10)
    ax_lat.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- timeline
def operations_timeline(df: pd.DataFrame | None = None, top_level: bool = True):
    """Every operation this session ran (operations_df()) as bars on a time axis: one row per
    operation, coloured by backend, failures hatched red; durations over 1 s are written out."""
    from cinder_nb.notebook.history import operations_df
    df = operations_df(top_level=top_level) if df is None else df
    fig = _figure(11, 1.4 + 0.28 * max(1, len(df)))
    ax = fig.add_subplot()
    ax.set_title('Operations this session', loc='left', fontsize=11)
    if df.empty:
        ax.text(0.5, 0.5, 'no operations yet', ha='center', va='center', color='#777', transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    t0 = df['started_at'].min()
    start = (df['started_at'] - t0).dt.total_seconds().to_numpy()
    backends = list(dict.fromkeys(df['backend'].fillna('-')))
    palette = ['#1976d2', '#388e3c', '#f57c00', '#7b1fa2', '#00838f', '#5d4037', '#c2185b']
    color = {b: palette[i % len(palette)] for i, b in enumerate(backends)}
    for i, row in enumerate(df.itertuples()):
        b = row.backend if isinstance(row.backend, str) else '-'
        ax.barh(i, max(row.duration_s, 0.002), left=start[i], color=color[b], edgecolor='#d32f2f' if not row.ok else None,
                hatch='//' if not row.ok else None, label=b if b not in ax.get_legend_handles_labels()[1] else None)
        if row.duration_s >= 1:
            ax.text(start[i] + row.duration_s, i, f' {row.duration_s:.1f} s', va='center', fontsize=7)
    ax.set_yticks(range(len(df)), [f'{op} {_short(new if isinstance(new, str) else r)}'
                                   for op, r, new in zip(df['operation'], df['resource_id'], df['result_id'])],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel('seconds since the first operation')
    ax.legend(title='backend', fontsize=7, title_fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0),
              frameon=False)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- output
def to_bytes(fig: Any, fmt: str = 'png', dpi: int = 100) -> bytes:
    """The figure rendered to PNG or SVG bytes (for widgets and files)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches='tight')
    return buf.getvalue()
