"""A data-backed grid widget: the kernel holds every row, the browser gets only the page it shows.

Search, sort and paging run in the kernel (pandas), so a refresh sends one page of rows
(``page_size``, default 15) whatever the number of resources: the time from a click to the
refreshed grid does not grow with 1,000 or 10,000 volumes, where a grid holding every row in
the browser (itables/DataTables re-creating its table) took seconds. The front end is a small
anywidget module (an HTML table, a search box, a pager): clicking a row sets ``selected`` (the
row's id); clicking a header sorts by that column, again for descending. The selection follows
the id, not the row position, so a picked row is highlighted on whichever page it sits, and
``show(id)`` turns to that page.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import anywidget
import numpy as np
import pandas as pd
import traitlets

_ESM = r"""
function el_(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  el.classList.add('cinder-nb-grid-view');
  const top = el_('div', 'cinder-nb-grid-top');
  const search = el_('input', 'cinder-nb-grid-search');
  search.type = 'search';
  search.placeholder = 'search';
  search.setAttribute('aria-label', 'search the rows');
  const info = el_('span', 'cinder-nb-grid-info');
  top.append(search, info);
  const table = el_('table', 'cinder-nb-grid-table');
  const thead = el_('thead'), tbody = el_('tbody');
  table.append(thead, tbody);
  const pager = el_('div', 'cinder-nb-grid-pager');
  const prev = el_('button', 'cinder-nb-grid-prev', '‹ previous');
  const label = el_('span', 'cinder-nb-grid-page');
  const next = el_('button', 'cinder-nb-grid-next', 'next ›');
  pager.append(prev, label, next);
  el.append(top, table, pager);

  let timer = null, typing = false;     // typing: a typed search not yet sent (the kernel's value is older)
  search.value = model.get('search');
  search.addEventListener('input', () => {
    clearTimeout(timer);
    typing = true;
    const value = search.value;
    timer = setTimeout(() => { typing = false; model.set('search', value); model.save_changes(); }, 120);
  });
  search.addEventListener('keydown', (ev) => ev.stopPropagation());   // no notebook shortcuts while typing
  const turn = (delta) => { model.set('page', model.get('page') + delta); model.save_changes(); };
  prev.addEventListener('click', () => turn(-1));
  next.addEventListener('click', () => turn(1));
  tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr');
    if (!tr || !tr.dataset.id) return;
    for (const r of tbody.querySelectorAll('tr.selected')) r.classList.remove('selected');
    tr.classList.add('selected');                 // at once; the kernel confirms through 'selected'
    model.set('selected', tr.dataset.id);
    model.save_changes();
  });

  function header() {
    const sort = model.get('sort_column'), asc = model.get('sort_ascending');
    const tr = el_('tr');
    model.get('columns').forEach((name, i) => {
      const th = el_('th', 'cinder-nb-grid-sortable', name);
      th.setAttribute('aria-sort', i === sort ? (asc ? 'ascending' : 'descending') : 'none');
      th.title = 'sort by ' + name;
      th.addEventListener('click', () => {
        model.set('sort_ascending', i === model.get('sort_column') ? !model.get('sort_ascending') : true);
        model.set('sort_column', i);
        model.save_changes();
      });
      tr.append(th);
    });
    thead.replaceChildren(tr);
  }

  function body() {
    const ids = model.get('row_ids'), picked = model.get('selected');
    const rows = model.get('rows').map((cells, r) => {
      const tr = el_('tr');
      tr.dataset.id = ids[r];
      if (ids[r] === picked) tr.classList.add('selected');
      for (const c of cells) tr.append(el_('td', '', c));
      return tr;
    });
    if (!rows.length) {
      const tr = el_('tr', 'cinder-nb-grid-empty'), td = el_('td', '', model.get('search') ? 'no matching rows' : 'no rows');
      td.colSpan = model.get('columns').length || 1;
      tr.append(td);
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);
    const page = model.get('page'), size = model.get('page_size');
    const matched = model.get('matched'), total = model.get('total');
    const first = matched ? page * size + 1 : 0, last = Math.min(matched, (page + 1) * size);
    info.textContent = `${first} to ${last} of ${matched} entries` +
      (matched !== total ? ` (filtered from ${total})` : '');
    const pages = Math.max(1, Math.ceil(matched / size));
    label.textContent = ` page ${page + 1} of ${pages} `;
    prev.disabled = page <= 0;
    next.disabled = page + 1 >= pages;
    if (!typing && document.activeElement !== search && search.value !== model.get('search')) {
      search.value = model.get('search');
    }
  }

  header();
  body();
  model.on('change:columns', header);
  model.on('change:sort_column', header);
  model.on('change:sort_ascending', header);
  model.on('change:rows', body);
  model.on('change:row_ids', body);
  model.on('change:selected', body);
  model.on('change:matched', body);
  model.on('change:total', body);
}
export default { render };
"""

_CSS = """
.cinder-nb-grid-view { font-size: 12px; width: 100%; margin: 0 0 6px 0; }
.cinder-nb-grid-top { display: flex; gap: 12px; align-items: center; margin: 2px 0; }
.cinder-nb-grid-search { width: 220px; }
.cinder-nb-grid-info { color: #555; }
.cinder-nb-grid-table { border-collapse: collapse; width: 100%; }
.cinder-nb-grid-table th { text-align: left; cursor: pointer; user-select: none; border-bottom: 1px solid #888;
  padding: 2px 6px; white-space: nowrap; }
.cinder-nb-grid-table th[aria-sort="ascending"]::after { content: " ▲"; }
.cinder-nb-grid-table th[aria-sort="descending"]::after { content: " ▼"; }
.cinder-nb-grid-table td { padding: 2px 6px; border-bottom: 1px solid #e4e4e4; white-space: nowrap;
  max-width: 360px; overflow: hidden; text-overflow: ellipsis; }
.cinder-nb-grid-table tbody tr { cursor: pointer; }
.cinder-nb-grid-table tbody tr:hover { background: #f2f6fb; }
.cinder-nb-grid-table tbody tr.selected { background: #0d6efd; color: #fff; }
.cinder-nb-grid-pager { display: flex; gap: 6px; align-items: center; margin-top: 2px; color: #555; }
"""


class Grid(anywidget.AnyWidget):
    """A paged, sortable, searchable table; the kernel keeps every row, the browser gets one page.

    ``set_rows(frame, ids, cells, search_text, sort_by)``: ``frame`` holds every row's values,
    ``cells(part)`` turns some rows of it into display strings (called for the shown page only),
    ``search_text()`` gives one lower-case string per row to search in (called only while a search
    is typed), ``sort_by`` maps a header to the frame column its sort uses. ``selected`` is the
    picked row's id ('' for none); ``on_select(callback)`` hears clicks.
    """

    _esm = _ESM
    _css = _CSS

    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
    row_ids = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.Unicode('').tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(15).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    matched = traitlets.Int(0).tag(sync=True)
    search = traitlets.Unicode('').tag(sync=True)
    sort_column = traitlets.Int(-1).tag(sync=True)
    sort_ascending = traitlets.Bool(True).tag(sync=True)

    def __init__(self, columns: list[str], page_size: int = 15, **kwargs: Any) -> None:
        super().__init__(columns=list(columns), page_size=page_size, **kwargs)
        self._frame = pd.DataFrame()
        self._ids: list[str] = []
        self._cells: Callable[[pd.DataFrame], list[list[str]]] = lambda part: []
        self._search_text: Callable[[], pd.Series] | None = None
        self._haystack: pd.Series | None = None     # search_text() of the current rows, made once
        self._sort_by: dict[str, str] = {}
        self._order: list[int] = []                 # positions of the matching rows, sorted
        self._listeners: list[Callable[[str | None], None]] = []
        self._lock = threading.RLock()   # refreshes come from job threads, clicks from the kernel's main thread
        self.observe(self._on_view, names=['search', 'sort_column', 'sort_ascending', 'page_size'])
        self.observe(self._on_page, names='page')
        self.observe(self._on_selected, names='selected')

    # ------------------------------------------------------------------ data
    def set_rows(self, frame: pd.DataFrame, ids: list[str], cells: Callable[[pd.DataFrame], list[list[str]]],
                 search_text: Callable[[], pd.Series] | None = None, sort_by: dict[str, str] | None = None) -> None:
        """Every row (values), their ids and how to show them; only the shown page is formatted and sent."""
        with self._lock:
            self._frame = frame.reset_index(drop=True)
            self._ids = list(ids)
            self._cells, self._search_text, self._haystack = cells, search_text, None
            self._sort_by = dict(sort_by or {})
            self._reorder()

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    @property
    def order(self) -> list[str]:
        """The ids of the rows matching the search, in the grid's sort order."""
        return [self._ids[i] for i in self._order]

    def _reorder(self) -> None:
        n = len(self._ids)
        positions = np.arange(n)
        needle = self.search.strip().lower()
        if needle and n and self._search_text is not None:
            if self._haystack is None:
                self._haystack = self._search_text().reset_index(drop=True)
            positions = positions[self._haystack.str.contains(needle, regex=False).to_numpy(dtype=bool)]
        col = self.sort_column
        key = self._sort_by.get(self.columns[col]) if 0 <= col < len(self.columns) else None
        if key is not None and key in self._frame and len(positions):
            values = self._frame[key].iloc[positions].reset_index(drop=True)
            ranked = values.sort_values(ascending=self.sort_ascending, kind='stable', na_position='last',
                                        key=_sort_key)
            positions = positions[ranked.index.to_numpy()]
        self._order = positions.tolist()
        self._send_page()

    def _send_page(self) -> None:
        pages = max(1, -(-len(self._order) // self.page_size))
        page = min(max(self.page, 0), pages - 1)
        chosen = self._order[page * self.page_size:(page + 1) * self.page_size]
        rows = self._cells(self._frame.iloc[chosen]) if chosen else []
        with self.hold_sync():
            self.total, self.matched = len(self._ids), len(self._order)
            self.rows = rows
            self.row_ids = [self._ids[i] for i in chosen]
            if self.page != page:
                self.page = page          # re-enters through _on_page with the clamped page

    def _on_view(self, change: dict) -> None:
        with self._lock:
            if change['name'] in ('search', 'sort_column', 'sort_ascending'):
                self.page = 0             # a new search or order starts on its first page, as DataTables does
            self._reorder()

    def _on_page(self, _change: dict) -> None:
        with self._lock:
            self._send_page()

    # ------------------------------------------------------------------ selection
    def on_select(self, listener: Callable[[str | None], None]) -> None:
        """Call listener(id or None) when a row is clicked (or ``selected`` set)."""
        self._listeners.append(listener)

    def _on_selected(self, change: dict) -> None:
        for listener in self._listeners:
            listener(change['new'] or None)

    def show(self, ident: str | None) -> None:
        """Turn to the page holding ``ident`` (if it matches the search)."""
        try:
            place = self._order.index(self._ids.index(ident))
        except ValueError:
            return
        self.page = place // self.page_size


def _sort_key(values: pd.Series) -> pd.Series:
    """Numbers and times as themselves, the rest as lower-case text (so '10' sorts after '9')."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    numbers = pd.to_numeric(values, errors='coerce')
    if values.notna().any() and numbers.notna().sum() == values.notna().sum():
        return numbers
    return values.fillna('').astype(str).str.lower()
