"""The live lineage picture redraws after operations that change the graph, and only then."""
from __future__ import annotations

import cinder_nb as cnb
from cinder_nb.notebook.lineage_view import LineageView


def test_view_redraws_after_operations_that_change_the_graph(filelab):
    view = LineageView()
    try:
        assert view.renders == 1 and view.image.value[:4] == b'\x89PNG' and view.signature == ((), ())
        vol = filelab.create_volume(1, name='seen')
        view.wait()
        assert view.renders == 2 and any(n == f'volume:{vol.id}' for n, *_ in view.signature[0])
        first = view.image.value
        snap = vol.create_snapshot(name='s')
        vol.clone(name='c')
        view.wait()
        assert view.renders in (3, 4) and view.image.value != first   # debounced: a quick burst draws once
        assert (f'volume:{vol.id}', f'snapshot:{snap.id}', 'snapshot') in view.signature[1]
        drawn = view.renders
        assert not view.refresh() and view.renders == drawn          # nothing changed: no redraw
        vol.attach()
        view.wait()
        assert view.renders == drawn + 1 and ('volume:' + vol.id, 'in-use', 'seen') in view.signature[0]
        vol.detach()
        view.wait()
        assert view.renders == drawn + 2
    finally:
        view.close()
    vol.create_snapshot()
    view.wait()
    assert view.renders == drawn + 2                              # closed views stop listening


def test_view_of_one_backend(session):
    a = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file')
    b = cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file')
    view = LineageView('a')
    try:
        b.create_volume(1)
        view.wait()
        assert view.renders == 1
        a.create_volume(1)
        view.wait()
        assert view.renders == 2 and len(view.signature[0]) == 1
    finally:
        view.close()
