"""Notebook-layer tests: no lineage redraw of one test runs into the next."""
from __future__ import annotations

import pytest

from cinder_nb import oplog
from cinder_nb.notebook.lineage_view import LineageView


@pytest.fixture(autouse=True)
def _lineage_views_closed():
    """Close the lineage views a test left open (a Console makes one) and wait for a redraw in
    flight: otherwise their timer threads keep drawing from whatever session later tests set up."""
    yield
    for listener in list(oplog._listeners):
        if isinstance(listener, LineageView):
            listener.close()
            listener.wait()
