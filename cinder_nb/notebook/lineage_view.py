"""A live lineage picture: an image widget redrawn after each operation that changes the graph."""
from __future__ import annotations

import logging
import threading
from typing import Any

import ipywidgets as widgets

from cinder_nb import oplog
from cinder_nb.notebook import pictures

LOG = logging.getLogger('cinder_nb.notebook')
#: above this many nodes the view says so instead of drawing an unreadable picture
MAX_NODES = 80
#: wait this long after an operation before redrawing, so a burst of operations draws once
DEBOUNCE_S = 0.3
#: one drawing at a time across every view: each view redraws in its own timer thread, and
#: matplotlib's renderer (its font cache) is not thread-safe: two views drawing at once
#: crashed the interpreter (a segmentation fault seen in a CI run with several views alive)
_DRAW_LOCK = threading.Lock()


class LineageView(widgets.VBox):
    """The lineage graph of one backend (or all) as a PNG image widget.

    It redraws by itself after every top-level operation (in cells, forms or scripts: it
    listens to cinder_nb.oplog) and on refresh(), but only when the graph's nodes, statuses
    or edges changed. ``renders`` counts the redraws.
    """

    def __init__(self, backend: Any = None, connections: bool = True, width: str = '100%') -> None:
        self.backend, self.connections = backend, connections
        self.image = widgets.Image(format='png', layout=widgets.Layout(width=width, max_width='900px'))
        self.caption = widgets.HTML('<b>Lineage</b> <span style="color:#666">(volumes ■, snapshots ●, '
                                    'connections ◆; colour = status)</span>')
        self.note = widgets.HTML()
        super().__init__([self.caption, self.note, self.image])
        self.add_class('cinder-nb-lineage')
        self.renders = 0
        self.signature: tuple | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.refresh()
        oplog.subscribe(self)

    def refresh(self) -> bool:
        """Redraw if the graph changed; returns whether it did."""
        with self._lock:
            graph = pictures.lineage_graph(self.backend, self.connections)
            signature = (tuple(sorted((n, d['status'], d['label']) for n, d in graph.nodes(data=True))),
                         tuple(sorted((u, v, r) for u, v, r in graph.edges(data='relation'))))
            if signature == self.signature:
                return False
            if len(graph) > MAX_NODES:
                self.note.value = (f'<span class="cinder-nb-lineage-too-big" style="color:#666">{len(graph)} '
                                   f'volumes, snapshots and connections: too many to draw here '
                                   f'(limit {MAX_NODES}). Draw one backend with '
                                   f'<code>pictures.draw_lineage(backend)</code>.</span>')
                self.image.layout.display = 'none'
            else:
                with _DRAW_LOCK:
                    fig = pictures.draw_lineage(self.backend, graph=graph)
                    png = pictures.to_bytes(fig, 'png', dpi=80)
                self.image.value = png
                self.note.value = ''
                self.image.layout.display = None
            self.signature = signature
            self.renders += 1
            return True

    def operation_ended(self, record: dict) -> None:
        """oplog listener: schedule a redraw after a top-level operation."""
        if record.get('parent') is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(DEBOUNCE_S, self._safe_refresh)
        self._timer.daemon = True
        self._timer.start()

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:   # the session may be mid-reset (setup() again): the next operation redraws
            LOG.debug('lineage redraw failed', exc_info=True)

    def wait(self, timeout: float = 10) -> None:
        """Wait for a scheduled redraw (for scripts and tests)."""
        timer = self._timer
        if timer is not None:
            timer.join(timeout)

    def close(self) -> None:
        oplog.unsubscribe(self)
        if self._timer is not None:
            self._timer.cancel()
        super().close()
