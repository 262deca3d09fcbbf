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


def test_console_shows_the_lineage_under_the_tables_and_redraws_after_its_operations(session):
    import cinder_nb.notebook as nb
    console = nb.Console(load_drivers=False)
    try:
        assert console.lineage is not None and console.children[-1] is console.lineage
        assert console.children.index(console.browser) < console.children.index(console.lineage)
        form = console.backend_form
        form.name.value = 'lab'
        form.set_values(local_file_path=str(session / 'vols'), local_file_attach_mode='file')
        assert form.submit().wait(60).ok
        ops = console.operations
        ops.double_click = 0
        ops.new_name.value, ops.new_size.value = 'drawn', '1'
        before = console.lineage.renders
        ops.buttons['create_volume'].click()
        job = console.wait(60)
        assert job.ok
        console.lineage.wait()
        assert console.lineage.renders == before + 1
        assert (f'volume:{job.result.id}', 'available', 'drawn') in console.lineage.signature[0]
        console.refresh()                                   # what runs after every cell: no change, no redraw
        assert console.lineage.renders == before + 1
    finally:
        console.lineage.close()
    assert nb.Console(lineage=False, load_drivers=False).lineage is None


def test_view_says_when_the_graph_is_too_big_to_draw(filelab, monkeypatch):
    from cinder_nb.notebook import lineage_view
    monkeypatch.setattr(lineage_view, 'MAX_NODES', 3)
    view = LineageView()
    try:
        vols = [filelab.create_volume(1, name=f'v{i}') for i in range(4)]
        view.wait()
        assert 'too many to draw' in view.note.value and '4 volumes' in view.note.value
        assert view.image.layout.display == 'none'
        vols[0].delete()
        view.wait()
        assert view.note.value == '' and view.image.layout.display is None
    finally:
        view.close()
