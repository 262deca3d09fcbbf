"""The live resource browser: tables of volumes, snapshots and connections, and target pickers.

Each table is rendered from the DataFrames of cinder_nb.notebook.frames; the
picker above it chooses the resource the next operation acts on, and the chosen
row is highlighted. refresh() re-reads the state (the console calls it after
every operation and after every notebook cell).
"""
from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
import pandas as pd

from cinder_nb import runtime
from cinder_nb.notebook.frames import connections_df, snapshots_df, volumes_df

#: what each table shows: (column, header)
VOLUME_VIEW = (('id', 'id'), ('name', 'name'), ('size', 'GiB'), ('status', 'status'), ('backend', 'backend'),
               ('source_volid', 'cloned from'), ('snapshot_id', 'from snapshot'), ('created_at', 'created'),
               ('error', 'error'))
SNAPSHOT_VIEW = (('id', 'id'), ('name', 'name'), ('volume_id', 'volume'), ('volume_size', 'GiB'),
                 ('status', 'status'), ('backend', 'backend'), ('created_at', 'created'), ('error', 'error'))
CONNECTION_VIEW = (('id', 'id'), ('volume_id', 'volume'), ('status', 'status'), ('protocol', 'protocol'),
                   ('host', 'host'), ('attached', 'attached here'), ('path', 'path'), ('backend', 'backend'),
                   ('error', 'error'))

#: the pickers' value when nothing is picked
NONE = ''
_TABLE_CSS = ('<style>.cinder-nb-table{border-collapse:collapse;font-size:12px;margin:2px 0 8px 0}'
              '.cinder-nb-table th,.cinder-nb-table td{border:1px solid #ddd;padding:2px 6px;text-align:left}'
              '.cinder-nb-table th{background:#f3f3f3}.cinder-nb-table tr.cinder-nb-selected td'
              '{background:#e6f0ff;font-weight:bold}</style>')


def _cell(col: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ''
    if col in ('id', 'volume_id', 'source_volid', 'snapshot_id') and isinstance(value, str):
        return f'<span title="{html.escape(value)}">{html.escape(value[:8])}</span>'
    if isinstance(value, pd.Timestamp):
        return value.strftime('%H:%M:%S')
    if isinstance(value, (bool,)) or col == 'attached':
        return 'yes' if value else ''
    return html.escape(str(value))


def table_html(df: pd.DataFrame, view: tuple, kind: str, selected: str | None = None) -> str:
    """An HTML table of df's view columns; the row whose id is ``selected`` is highlighted."""
    head = ''.join(f'<th>{html.escape(h)}</th>' for _c, h in view)
    if df.empty:
        body = f'<tr><td colspan="{len(view)}"><i>no {kind}s</i></td></tr>'
    else:
        rows = []
        for rec in df.to_dict('records'):
            cls = ' class="cinder-nb-selected"' if rec['id'] == selected else ''
            cells = ''.join(f'<td>{_cell(c, rec.get(c))}</td>' for c, _h in view)
            rows.append(f'<tr data-id="{html.escape(rec["id"])}"{cls}>{cells}</tr>')
        body = ''.join(rows)
    return (f'{_TABLE_CSS}<table class="cinder-nb-table cinder-nb-{kind}s">'
            f'<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def _label(kind: str, rec: dict) -> str:
    short = rec['id'][:8]
    if kind == 'volume':
        return f"{rec['name'] or '(no name)'} · {short} · {rec['size']} GiB · {rec['status']} · {rec['backend']}"
    if kind == 'snapshot':
        return f"{rec['name'] or '(no name)'} · {short} · of {rec['volume_id'][:8]} · {rec['status']}"
    where = rec['path'] if rec['attached'] else (rec['host'] or '')
    return f"{short} · volume {rec['volume_id'][:8]} · {rec['status']} · {where}"


class _Section:
    """One kind's picker and table."""

    def __init__(self, kind: str, view: tuple, frame) -> None:
        self.kind, self.view, self.frame = kind, view, frame
        self.df = frame(None)
        self.picker = widgets.Dropdown(options=[('(none)', NONE)], value=NONE,
                                       description=f'target {kind}', style={'description_width': '130px'},
                                       layout=widgets.Layout(width='640px'))
        self.picker.add_class(f'cinder-nb-pick-{kind}')
        self.table = widgets.HTML()
        self.table.add_class(f'cinder-nb-table-{kind}s')
        self.picker.observe(lambda _c: self.render(), names='value')
        self.box = widgets.VBox([self.picker, self.table])

    def load(self, backend: Any, select: str | None = None) -> None:
        self.df = self.frame(backend)
        records = self.df.to_dict('records')
        options = [('(none)', NONE)] + [(_label(self.kind, r), r['id']) for r in records]
        ids = [r['id'] for r in records]
        keep = select if select in ids else (self.picker.value if self.picker.value in ids else NONE)
        if keep == NONE and ids:
            keep = ids[-1]
        if options != list(self.picker.options):
            self.picker.options = options
        self.picker.value = keep
        self.render()

    def render(self) -> None:
        self.table.value = table_html(self.df, self.view, self.kind, self.picker.value or None)

    @property
    def selected_id(self) -> str | None:
        return self.picker.value or None


class ResourceBrowser(widgets.VBox):
    """Live tables of volumes, snapshots and connections (one backend or all) with target pickers."""

    def __init__(self, backend: Any = None) -> None:
        self.backend = backend
        self._lock = threading.RLock()
        self.volumes = _Section('volume', VOLUME_VIEW, volumes_df)
        self.snapshots = _Section('snapshot', SNAPSHOT_VIEW, snapshots_df)
        self.connections = _Section('connection', CONNECTION_VIEW, connections_df)
        heading = widgets.HTML
        super().__init__([heading('<b>Volumes</b>'), self.volumes.box,
                          heading('<b>Snapshots</b>'), self.snapshots.box,
                          heading('<b>Connections</b>'), self.connections.box])
        self.add_class('cinder-nb-browser')
        self.refresh()

    def refresh(self, select: dict[str, str] | None = None) -> None:
        """Re-read the state; ``select={'volume': id, ...}`` moves the pickers to new resources."""
        select = select or {}
        with self._lock:
            for section in (self.volumes, self.snapshots, self.connections):
                section.load(self.backend, select.get(section.kind))

    def _pick(self, section: _Section) -> Any:
        ident = section.selected_id
        if ident is None:
            return None
        return runtime.get().get(section.kind, ident)

    @property
    def selected_volume(self):
        """The Volume picked as the next operation's target (or None)."""
        return self._pick(self.volumes)

    @property
    def selected_snapshot(self):
        return self._pick(self.snapshots)

    @property
    def selected_connection(self):
        return self._pick(self.connections)

    def select(self, kind: str, ident: str | None) -> None:
        """Pick a resource by id as the target of the next operation."""
        section = {'volume': self.volumes, 'snapshot': self.snapshots, 'connection': self.connections}[kind]
        section.picker.value = ident or NONE
