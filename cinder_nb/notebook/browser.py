"""The live resource browser: grids of volumes, snapshots and connections, and target pickers.

Each grid is an itables ``ITable`` widget (DataTables, bundled in the package: no internet
needed) built from the DataFrames of cinder_nb.notebook.frames: paged (15 rows a page),
sortable by any column, filtered by its search box; newest first, so a new resource shows on
the first page. Clicking a row picks it as the target of
the next operation; so does the picker above it, which filters its list as you type. The
pick follows the resource, not the row: when the picked resource goes away, nothing is picked
(no other resource becomes the target). refresh() re-reads the state (the console calls it
after every operation and after every notebook cell); a grid whose rows did not change is
not re-sent, and the search, sort and page a person chose survive a refresh.
"""
from __future__ import annotations

import threading
import uuid
import warnings
from typing import Any, Callable

import ipywidgets as widgets
import pandas as pd
from itables.typing import JavascriptFunction
from itables.widget import ITable

from cinder_nb import _runtime
from cinder_nb.notebook.frames import connections_df, snapshots_df, volumes_df

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


def _state_js(key: str) -> tuple[JavascriptFunction, JavascriptFunction]:
    """DataTables state callbacks keeping search, sort and page in the page across grid re-creations."""
    store = "(window.cinderNbGridState = window.cinderNbGridState || {})"
    return (JavascriptFunction(f"function (settings, data) {{ delete data.select; {store}['{key}'] = data; }}"),
            JavascriptFunction(f"function (settings) {{ return {store}['{key}'] || null; }}"))


class _Section:
    """One kind's picker and grid; ``picked`` is the id of the target (or None)."""

    def __init__(self, kind: str, view: tuple, frame: Callable[[Any], pd.DataFrame]) -> None:
        self.kind, self.view, self.frame = kind, view, frame
        self.df = frame(None)
        self.shown: pd.DataFrame | None = None
        self.picked: str | None = None
        self.pending: dict[str, str] = {}           # id -> transitional status shown while a job runs
        self.names: dict[str, str] = {}
        self._labels: dict[str, str] = {}           # label -> id
        self._syncing = False
        self._listeners: list[Callable[[str | None], None]] = []
        self.picker = widgets.Combobox(options=(), value='', ensure_option=True,
                                       placeholder=f'type to filter, or click a row below',
                                       description=f'target {kind}', style={'description_width': '110px'},
                                       layout=widgets.Layout(width='520px'))
        self.picker.add_class(f'cinder-nb-pick-{kind}')
        self.clear = widgets.Button(description='none', tooltip=f'pick no {kind}', layout=widgets.Layout(width='auto'))
        self.clear.add_class(f'cinder-nb-unpick-{kind}')
        self.clear.on_click(lambda _b: self.pick(None))
        save, load = _state_js(f'{kind}-{uuid.uuid4().hex}')
        # every update passes all options again: ITable.update(df) alone drops the list of JS functions
        self._options = dict(self._grid_options(), stateSave=True, stateSaveCallback=save, stateLoadCallback=load)
        with warnings.catch_warnings():   # the state callbacks are DataTables options itables does not list
            warnings.simplefilter('ignore', SyntaxWarning)
            self.grid = ITable(self._view_frame(), **self._options)
        self.grid.add_class(f'cinder-nb-grid')
        self.grid.add_class(f'cinder-nb-{kind}s')
        self.picker.observe(self._picker_changed, names='value')
        self.grid.observe(self._grid_changed, names='selected_rows')
        self.box = widgets.VBox([widgets.HBox([self.picker, self.clear]), self.grid])

    @staticmethod
    def _grid_options() -> dict:
        return dict(select={'style': 'single', 'info': False}, pageLength=PAGE_LENGTH,
                    lengthMenu=[PAGE_LENGTH, 50, 200], showIndex=False, maxBytes=0, classes='display compact',
                    autoWidth=False, order=[], style='width:100%;margin:0 0 6px 0',
                    text_in_header_can_be_selected=False)   # a click on a header sorts by it

    # ------------------------------------------------------------------ picking
    def on_pick(self, listener: Callable[[str | None], None]) -> None:
        """Call listener(id or None) whenever the target changes."""
        self._listeners.append(listener)

    def pick(self, ident: str | None) -> None:
        """Make ``ident`` the target (None: no target); picker and grid follow."""
        ids = list(self.df['id']) if len(self.df) else []
        ident = ident if ident in ids else None
        changed = ident != self.picked
        self.picked = ident
        self._syncing = True
        try:
            want = self._label_of(ident)
            if self.picker.value != want:
                self.picker.value = want
            rows = [ids.index(ident)] if ident is not None else []
            if list(self.grid.selected_rows) != rows:
                self.grid.selected_rows = rows
        finally:
            self._syncing = False
        if changed:
            for listener in self._listeners:
                listener(ident)

    def _label_of(self, ident: str | None) -> str:
        for text, i in self._labels.items():
            if i == ident:
                return text
        return ''

    def _picker_changed(self, change: dict) -> None:
        if self._syncing:
            return
        ident = self._labels.get(change['new'] or '')
        if change['new'] and ident is None:
            return                     # ensure_option clears a text that names nothing
        self.pick(ident)

    def _grid_changed(self, change: dict) -> None:
        if self._syncing:
            return
        rows = change['new'] or []
        ids = list(self.df['id']) if len(self.df) else []
        self.pick(ids[rows[0]] if rows and 0 <= rows[0] < len(ids) else None)

    # ------------------------------------------------------------------ data
    def _view_frame(self) -> pd.DataFrame:
        records = self.df.to_dict('records')
        rows = []
        for rec in records:
            row = {header: _text(col, rec.get(col), self.names) for col, header in self.view}
            if rec['id'] in self.pending:
                row['status'] = f"{self.pending[rec['id']]}…"
            rows.append(row)
        return pd.DataFrame(rows, columns=[h for _c, h in self.view], dtype=object)

    def load(self, backend: Any, select: str | None = None, names: dict[str, str] | None = None) -> None:
        """Re-read this kind's resources; ``select`` picks a new one, a vanished pick becomes None."""
        self.df = self.frame(backend).iloc[::-1].reset_index(drop=True)   # newest first: on the first page
        if names is not None:
            self.names = names
        records = self.df.to_dict('records')
        self._labels = {label(self.kind, r, self.names): r['id'] for r in records}
        options = tuple(self._labels)
        self.render()
        if options != self.picker.options:
            self._syncing = True
            try:
                self.picker.options = options
            finally:
                self._syncing = False
        self.pick(select if select is not None else self.picked)

    def render(self) -> None:
        """Send the grid's rows again if they changed (keeps the selection on the picked resource)."""
        shown = self._view_frame()
        if self.shown is not None and shown.equals(self.shown):
            return
        self.shown = shown
        ids = list(self.df['id']) if len(self.df) else []
        rows = [ids.index(self.picked)] if self.picked in ids else []
        self._syncing = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', SyntaxWarning)
                self.grid.update(shown, selected_rows=rows, **self._options)
        finally:
            self._syncing = False

    def text(self) -> str:
        """The grid's rows as plain text (for scripts and tests)."""
        return self.shown.to_string(index=False) if self.shown is not None and len(self.shown) else f'no {self.kind}s'

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
            rt = _runtime.get()
            names = {o.id: o.name for kind in ('volume', 'snapshot') for o in rt.find(kind) if o.name}
            for section in self.sections:
                section.load(self.backend, select.get(section.kind), names)

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
        if ident is None:
            return None
        return _runtime.get().get(section.kind, ident)

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
