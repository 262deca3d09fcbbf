"""The console: backend form, operation tabs and resource browser in one widget.

The console is a list of panels (``Console.panels``); a new view (a picture, a graph) is
one more panel with a ``refresh()`` method, added with ``Console.add_panel``.
"""
from __future__ import annotations

import weakref
from typing import Any

import ipywidgets as widgets

from cinder_nb import _runtime
from cinder_nb.notebook.browser import ResourceBrowser
from cinder_nb.notebook.forms import BackendForm
from cinder_nb.notebook.jobs import Job
from cinder_nb.notebook.lineage_view import LineageView
from cinder_nb.notebook.operations import OperationsPanel

_live: 'weakref.WeakSet[Console]' = weakref.WeakSet()
_hooked: 'weakref.WeakSet[Any]' = weakref.WeakSet()   # shells whose cells refresh consoles

#: shown under a console's cell; hidden by CSS while a connected console is in the same output area,
#: so it appears when the widgets are disconnected (kernel restarted) or gone (notebook reopened)
STALE_HINT = ('<div class="cinder-nb-stale-hint" style="color:#8a5300;background:#fff8e6;border-left:3px solid '
              '#e0a000;padding:4px 8px">This cinder_nb console belonged to a kernel session that has ended '
              '(kernel restarted, or notebook reopened). <b>Run this cell again</b> to get a live console.</div>')
#: ipywidgets marks every view 'jupyter-widgets-disconnected' when its kernel restarts or dies
_LIVE_CSS = ('<style>.jp-OutputArea:has(.cinder-nb-console:not(.jupyter-widgets-disconnected)) '
             '.cinder-nb-stale-hint{display:none}'
             '.cinder-nb-console.jupyter-widgets-disconnected{opacity:.45;pointer-events:none}</style>')


class Console(widgets.VBox):
    """Everything in one place: ``display(Console())`` in a notebook.

    backend: a Backend (or name) to show only its resources; None shows all.
    load_drivers: list every Cinder driver for the backend form (in a worker thread).
    lineage: show the lineage graph (LineageView) under the tables.
    The tables and the graph refresh after each operation and after every notebook cell that runs.
    """

    def __init__(self, backend: Any = None, load_drivers: bool = True, prefill: dict | None = None,
                 lineage: bool = True) -> None:
        self.browser = ResourceBrowser(backend)
        self.operations = OperationsPanel(self.browser)
        self.backend_form = BackendForm(name=_free_name(), prefill=prefill, load_drivers=load_drivers)
        self.backend_form.on_created(self._backend_created)
        self.add_backend = widgets.Accordion(children=[self.backend_form],
                                             selected_index=None if _runtime.get().backends else 0)
        self.add_backend.set_title(0, 'Add a backend (any Cinder driver)')
        title = widgets.HTML('<h3 style="margin:4px 0">cinder_nb console</h3>'
                             '<div style="color:#555">Operations run in a worker thread: the notebook stays '
                             'usable while a driver works. Click a row to pick the target.</div>' + _LIVE_CSS)
        #: the parts shown top to bottom; each may have refresh()
        self.panels: list[widgets.Widget] = [title, self.add_backend, self.operations, self.browser]
        super().__init__(list(self.panels))
        self.lineage = LineageView(backend) if lineage else None
        if self.lineage is not None:
            self.add_panel(self.lineage)
        self.add_class('cinder-nb-console')
        _live.add(self)
        _hook_cells()

    def add_panel(self, panel: widgets.Widget, index: int | None = None) -> None:
        """Show one more panel (at index, default last); its refresh() runs with the console's."""
        self.panels.insert(len(self.panels) if index is None else index, panel)
        self.children = tuple(self.panels)

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display
        display(self._repr_mimebundle_(), raw=True)   # the widget view
        display(HTML(STALE_HINT))                      # visible only once the widget is gone

    def _backend_created(self, backend: Any) -> None:
        self.operations.refresh_backends()
        self.operations.backend.value = backend.name
        self.backend_form.name.value = _free_name()
        self.browser.refresh()

    def refresh(self) -> None:
        """Re-read backends and resources (runs by itself after each cell and operation)."""
        self.operations.refresh_backends()
        for panel in self.panels:
            if panel is not self.operations and callable(getattr(panel, 'refresh', None)):
                panel.refresh()
        self.operations.refresh_fields()

    def wait(self, timeout: float | None = 120) -> Job | None:
        """Wait for the last operation to finish (for scripts and tests)."""
        return self.operations.runner.wait(timeout)


def _free_name() -> str:
    taken = set(_runtime.get().backends)
    n = 1
    while f'lab{n}' in taken:
        n += 1
    return f'lab{n}'


def _refresh_all(*_args: Any) -> None:
    for console in list(_live):
        try:
            console.refresh()
        except Exception:  # the state may be mid-reset (setup() called again); next cell refreshes
            pass


def _hook_cells() -> None:
    """Refresh every console after each notebook cell (when running under IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and ip not in _hooked:
        ip.events.register('post_run_cell', _refresh_all)
        _hooked.add(ip)
