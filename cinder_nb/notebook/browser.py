"""The live resource browser: grids of volumes, snapshots and connections, and target pickers.

Each grid is a cinder_nb.notebook.grid.Grid: the kernel holds the rows (from the DataFrames of
cinder_nb.notebook.frames) and sends the browser only the page it shows (15 rows), so a refresh
costs the same at 100 or 10,000 volumes. Sort by any column header, search box, pager; newest
first, so a new resource shows on the first page. Clicking a row picks it as the target of the
next operation; so does the picker above it, which filters its list as you type. The pick
follows the resource, not the row: it is highlighted on whichever page it sits (a pick made in
the picker turns the grid to its page), and when the picked resource goes away nothing is
picked (no other resource becomes the target). refresh() re-reads the state (the console calls
it after every operation and after every notebook cell); the search, sort and page a person
chose live in the kernel and survive refreshes.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import ipywidgets as widgets
import pandas as pd

from cinder_nb import Connection, Snapshot, Volume
from cinder_nb.errors import NotFound
from cinder_nb.notebook.frames import connections_df, snapshots_df, volumes_df
from cinder_nb.notebook.grid import Grid

#: what each grid shows: (column, header)
VOLUME_VIEW = (('name', 'name'), ('id', 'id'), ('size', 'GiB'), ('status', 'status'), ('backend', 'backend'),
               ('source_volid', 'cloned from'), ('snapshot_id', 'from snapshot'), ('created_at', 'created'),
               ('error', 'error'))
SNAPSHOT_VIEW = (('name', 'name'), ('id', 'id'), ('volume_id', 'volume'), ('volume_size', 'GiB'),
                 ('status', 'status'), ('backend', 'backend'), ('created_at', 'created'), ('error', 'error'))
CONNECTION_VIEW = (('id', 'id'), ('volume_id', 'volume'), ('status', 'status'), ('protocol', 'protocol'),
                   ('host', 'host'), ('attached', 'attached here'), ('path', 'path'), ('backend', 'backend'),
                   ('error', 'error'))
PAGE_LENGTH = 15
_ID_COLUMNS = ('id', 'volume_id', 'source_volid', 'snapshot_id')

def lookup(kind: str, ident: str) -> Any:
    """The volume, snapshot or connection with that id through the core's public lookup (None if gone)."""
    try:
        return {'volume': Volume, 'snapshot': Snapshot, 'connection': Connection}[kind].get_by_id(ident)
    except NotFound:
        return None


#: the pickers' value when nothing is picked
NONE = ''


def _text(col: str, value: Any, names: dict[str, str]) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ''
    if col in _ID_COLUMNS and isinstance(value, str):
        if col != 'id' and value in names:
            return f'{names[value]} ({value[:8]})'
        return value[:8]
    if isinstance(value, pd.Timestamp):
        return value.strftime('%H:%M:%S')
    if isinstance(value, bool) or col == 'attached':
        return 'yes' if value else ''
    return str(value)


def label(kind: str, rec: dict, names: dict[str, str] | None = None) -> str:
    """The picker's text for a resource: its name first, the short id in brackets."""
    short = rec['id'][:8]
    if kind == 'connection':
        vol = (names or {}).get(rec['volume_id']) or rec['volume_id'][:8]
        where = rec['path'] if rec['attached'] else (rec['host'] or '')
        return f'{short} · {vol} → {where}'
    return f"{rec['name'] or '(no name)'} ({short})"


class _Section:
    """One kind's picker and grid; ``picked`` is the id of the target (or None)."""

    def __init__(self, kind: str, view: tuple, frame: Callable[[Any], pd.DataFrame]) -> None:
        self.kind, self.view, self.frame = kind, view, frame
        self.df = pd.DataFrame(columns=['id', 'name'])   # read() fills it
        self.shown: tuple | None = None             # (df, pending, names) the grid was last given
        self._status_at = [c for c, _h in view].index('status')
        self.picked: str | None = None
        self.pending: dict[str, str] = {}           # id -> transitional status shown while a job runs
        self.names: dict[str, str] = {}
        self._labels: dict[str, str] = {}           # label -> id
        self._label_by_id: dict[str, str] = {}
        self._index: dict[str, int] = {}            # id -> row in df
        self._syncing = False
        self._listeners: list[Callable[[str | None], None]] = []
        self.picker = widgets.Combobox(options=(), value='', ensure_option=True,
                                       placeholder='type to filter, or click a row below',
                                       description=f'target {kind}', style={'description_width': '110px'},
                                       layout=widgets.Layout(width='520px'))
        self.picker.add_class(f'cinder-nb-pick-{kind}')
        self.clear = widgets.Button(description='none', tooltip=f'pick no {kind}', layout=widgets.Layout(width='auto'))
        self.clear.add_class(f'cinder-nb-unpick-{kind}')
        self.clear.on_click(lambda _b: self.pick(None))
        self.grid = Grid([h for _c, h in view], page_size=PAGE_LENGTH)
        self.grid.add_class('cinder-nb-grid')
        self.grid.add_class(f'cinder-nb-{kind}s')
        self.picker.observe(self._picker_changed, names='value')
        self.grid.on_select(self._grid_changed)
        self.box = widgets.VBox([widgets.HBox([self.picker, self.clear]), self.grid])

    # ------------------------------------------------------------------ picking
    def on_pick(self, listener: Callable[[str | None], None]) -> None:
        """Call listener(id or None) whenever the target changes."""
        self._listeners.append(listener)

    def pick(self, ident: str | None) -> None:
        """Make ``ident`` the target (None: no target); picker and grid follow (the grid turns to its page)."""
        ident = ident if ident is not None and ident in self._index else None
        changed = ident != self.picked
        self.picked = ident
        self._syncing = True
        try:
            want = self._label_of(ident)
            if self.picker.value != want:
                self.picker.value = want
            if self.grid.selected != (ident or ''):
                self.grid.selected = ident or ''
            if changed:
                self.grid.show(ident)
        finally:
            self._syncing = False
        if changed:
            for listener in self._listeners:
                listener(ident)

    def _label_of(self, ident: str | None) -> str:
        return self._label_by_id.get(ident, '') if ident is not None else ''

    def _picker_changed(self, change: dict) -> None:
        if self._syncing:
            return
        ident = self._labels.get(change['new'] or '')
        if change['new'] and ident is None:
            return                     # ensure_option clears a text that names nothing
        self.pick(ident)

    def _grid_changed(self, ident: str | None) -> None:
        if self._syncing:
            return
        self.pick(ident)

    # ------------------------------------------------------------------ data
    def _cells(self, part: pd.DataFrame) -> list[list[str]]:
        """Display strings of some rows (ids shortened, names first, pending statuses shown)."""
        out = []
        for rec in part.to_dict('records'):
            row = [_text(col, rec.get(col), self.names) for col, _h in self.view]
            if rec['id'] in self.pending:
                row[self._status_at] = f"{self.pending[rec['id']]}…"
            out.append(row)
        return out

    def _search_text(self) -> pd.Series:
        """One lower-case string per row holding what its cells show (made only while a search is typed)."""
        df, parts = self.df, []
        for col, _h in self.view:
            if col not in df:
                continue
            values = df[col]
            if col in _ID_COLUMNS:
                parts += [values.fillna('').astype(str), values.map(self.names).fillna('')]
            elif pd.api.types.is_datetime64_any_dtype(values):
                parts.append(values.dt.strftime('%H:%M:%S').fillna(''))
            else:
                parts.append(values.astype(object).where(values.notna(), '').astype(str))
        text = parts[0].str.cat(parts[1:], sep=' ') if parts else pd.Series([''] * len(df))
        return text.str.lower()

    def read(self, backend: Any) -> None:
        """Re-read this kind's resources from the state (newest first: a new one is on the first page)."""
        self.df = self.frame(backend).iloc[::-1].reset_index(drop=True)
        self._index = {ident: i for i, ident in enumerate(self.df['id'])}

    def load(self, backend: Any = None, select: str | None = None, names: dict[str, str] | None = None,
             read: bool = True) -> None:
        """Re-read (unless read=False) and show; ``select`` picks a new one, a vanished pick becomes None."""
        if read:
            self.read(backend)
        if names is not None:
            self.names = names
        df = self.df
        if self.kind == 'connection':
            labels = [label(self.kind, r, self.names) for r in df.to_dict('records')]
        else:
            labels = [f"{n or '(no name)'} ({i[:8]})" for i, n in zip(df['id'], df['name'])]
        self._labels = dict(zip(labels, df['id']))
        self._label_by_id = dict(zip(df['id'], labels))
        options = tuple(labels)
        self.render()
        if options != self.picker.options:
            self._syncing = True
            try:
                self.picker.options = options
            finally:
                self._syncing = False
        self.pick(select if select is not None else self.picked)

    def render(self) -> None:
        """Give the grid its rows again if anything shown changed (it sends only the page it shows)."""
        shown = (self.df, dict(self.pending), dict(self.names))
        if self.shown is not None and shown[1:] == self.shown[1:] and shown[0].equals(self.shown[0]):
            return
        self.shown = shown
        self.grid.set_rows(self.df, list(self.df['id']), self._cells, self._search_text,
                           {header: col for col, header in self.view})

    def text(self) -> str:
        """Every row as the grid shows it, as plain text (for scripts and tests)."""
        if not len(self.df):
            return f'no {self.kind}s'
        return pd.DataFrame(self._cells(self.df), columns=[h for _c, h in self.view]).to_string(index=False)

    @property
    def selected_id(self) -> str | None:
        return self.picked


class ResourceBrowser(widgets.VBox):
    """Live grids of volumes, snapshots and connections (one backend or all) with target pickers."""

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

    @property
    def sections(self) -> tuple[_Section, _Section, _Section]:
        return (self.volumes, self.snapshots, self.connections)

    def section(self, kind: str) -> _Section:
        return {'volume': self.volumes, 'snapshot': self.snapshots, 'connection': self.connections}[kind]

    def refresh(self, select: dict[str, str] | None = None) -> None:
        """Re-read the state; ``select={'volume': id, ...}`` moves the pickers to new resources."""
        select = select or {}
        with self._lock:
            for section in self.sections:
                section.read(self.backend)
            names = {i: n for section in (self.volumes, self.snapshots)
                     for i, n in zip(section.df['id'], section.df['name']) if n}
            for section in self.sections:
                section.load(select=select.get(section.kind), names=names, read=False)

    def mark(self, kind: str, ident: str | None, status: str | None) -> None:
        """Show ``status`` (e.g. 'extending') on a row while its job runs; None clears it."""
        if ident is None:
            return
        section = self.section(kind)
        with self._lock:
            if status is None:
                section.pending.pop(ident, None)
            else:
                section.pending[ident] = status
            section.render()

    def _pick(self, section: _Section) -> Any:
        ident = section.selected_id
        return None if ident is None else lookup(section.kind, ident)

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
        """Pick a resource by id as the target of the next operation (None: no target)."""
        self.section(kind).pick(ident)
