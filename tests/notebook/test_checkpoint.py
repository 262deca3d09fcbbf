"""Checkpoint cells: one %%cinder_checkpoint cell saves the state into itself, or restores it in a fresh kernel."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

import cinder_nb as cnb
import cinder_nb.notebook as nb


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic('load_ext', 'cinder_nb.notebook')
    yield ip
    ip.run_line_magic('unload_ext', 'cinder_nb.notebook')
    InteractiveShell.clear_instance()


def _make_state(session):
    lab = cnb.embedded(str(session / 'vols'), local_file_attach_mode='file', chap_password='Pw-in-memory-42')
    vol = lab.create_volume(2, name='data')
    vol.create_snapshot(name='before')
    vol.clone(name='copy')
    vol.connect({'host': 'compute-1', 'initiator': 'iqn.c1'})
    return lab


EMPTY_CELL = '%%cinder_checkpoint\n# no checkpoint yet: running this cell saves one here'


class _Recorder:
    """Records what a magic asks the frontend to do with set_next_input (JupyterLab's payload)."""

    def __init__(self, shell, monkeypatch):
        self.calls = []
        real = shell.set_next_input

        def record(text, replace=False):
            self.calls.append((text, replace))
            real(text, replace=replace)
        monkeypatch.setattr(shell, 'set_next_input', record)


def test_checkpoint_cell_saves_into_itself_and_restores_in_a_fresh_session(session, shell, capsys, monkeypatch):
    _make_state(session)
    before = [nb.volumes_df(), nb.snapshots_df(), nb.connections_df()]
    rec = _Recorder(shell, monkeypatch)
    shell.run_cell(EMPTY_CELL).raise_error()
    (cell, replace), = rec.calls
    assert replace is True                       # this cell's text is replaced: no cell is added
    assert cell.startswith('%%cinder_checkpoint\n# 1 backend, 2 volumes, 1 snapshot, 1 connection')
    doc = json.loads(cell.split('\n', 2)[2])
    assert doc['format'] == 'cinder_nb.state' and len(doc['volumes']) == 2
    assert 'Pw-in-memory-42' not in cell and doc['backends'][0]['secret_options'] == ['chap_password']
    assert 'saved into this cell' in capsys.readouterr().out

    # Run All again: the state is loaded, so the cell saves again (one cell, no restore, no error)
    shell.run_cell(cell).raise_error()
    assert len(rec.calls) == 2 and rec.calls[1][1] is True
    assert 'saved into this cell' in capsys.readouterr().out

    # a fresh session (as after a kernel restart): the same cell restores the same tables
    cnb.setup('memory', state_dir=str(session / 'fresh'))
    assert nb.volumes_df().empty
    monkeypatch.setenv('CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD', 'Pw-in-memory-42')
    shell.run_cell(cell).raise_error()
    assert len(rec.calls) == 2                   # a restore leaves the cell as it is
    assert 'Restored 1 backends, 2 volumes, 1 snapshots, 1 connections' in capsys.readouterr().out
    after = [nb.volumes_df(), nb.snapshots_df(), nb.connections_df()]
    for old, new in zip(before, after):
        pd.testing.assert_frame_equal(old, new)


def test_line_magic_turns_its_cell_into_the_checkpoint_cell(session, shell, monkeypatch, capsys):
    _make_state(session)
    rec = _Recorder(shell, monkeypatch)
    shell.run_cell('%cinder_checkpoint').raise_error()
    shell.run_cell('%cinder_checkpoint').raise_error()
    assert [r for _t, r in rec.calls] == [True, True]
    assert all(t.startswith('%%cinder_checkpoint\n') for t, _r in rec.calls)


def test_a_restore_that_cannot_apply_prints_one_line_and_changes_nothing(session, shell, capsys, monkeypatch):
    """Second Run All of the quick start: a new temp dir, and the old checkpoint names the old one."""
    _make_state(session)
    monkeypatch.setenv('CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD', 'Pw-in-memory-42')
    cell = nb.checkpoint_cell()
    legacy = '%%cinder_restore\n' + nb.checkpoint()
    cnb.setup('memory', state_dir=str(session / 'second-run'))
    cnb.embedded(str(session / 'other-vols'), local_file_attach_mode='file')
    capsys.readouterr()
    for text in (cell.replace('%%cinder_checkpoint', '%%cinder_checkpoint --restore', 1), legacy):
        result = shell.run_cell(text)
        assert result.error_in_exec is None and result.error_before_exec is None   # Run All goes on
        out, err = capsys.readouterr()
        assert out == '' and len(err.strip().splitlines()) == 1, err
        assert err.startswith('✖ Checkpoint not restored:') and 'local_file_path' in err
        assert 'Nothing was changed' in err and '"format"' not in err and len(err) < 600
        assert nb.volumes_df().empty


def test_magics_are_there_after_import_without_load_ext(tmp_path):
    script = textwrap.dedent(f'''
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_cell('import cinder_nb as cnb; import cinder_nb.notebook').raise_error()
        ip.run_cell("cnb.setup('memory', state_dir={str(tmp_path / 's')!r}); "
                    "cnb.embedded({str(tmp_path / 'v')!r}).create_volume(1, name='x')").raise_error()
        r = ip.run_cell('%%cinder_checkpoint\\n# nothing yet')
        r.raise_error()
        print('CELL', ip.rl_next_input.splitlines()[0])
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'CELL %%cinder_checkpoint' in out.stdout


def test_large_checkpoint_is_stored_beside_the_notebook_with_its_hash(session, shell, capsys, monkeypatch):
    lab = _make_state(session)
    for i in range(30):
        lab.create_volume(1, name=f'bulk-{i}')
    monkeypatch.chdir(session)
    monkeypatch.setenv('JPY_SESSION_NAME', str(session / 'lab1.ipynb'))
    cell = nb.checkpoint_cell(inline_max=2000)
    assert len(cell) < 400 and cell.count('\n') == 3, cell
    ref = json.loads(cell.splitlines()[-1])
    path = session / ref['checkpoint_file']
    assert path.parent.name == 'lab1.cinder-checkpoints' and len(path.read_text()) > 2000
    cnb.setup('memory', state_dir=str(session / 'fresh'))
    monkeypatch.setenv('CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD', 'x')
    shell.run_cell(cell).raise_error()
    assert 'Restored 1 backends, 32 volumes' in capsys.readouterr().out
    # a changed file is refused by its hash, in one line
    path.write_text(path.read_text().replace('bulk-1"', 'bulk-X"'))
    cnb.setup('memory', state_dir=str(session / 'fresh2'))
    shell.run_cell(cell).raise_error()
    err = capsys.readouterr().err
    assert 'sha256' in err and len(err.strip().splitlines()) == 1 and nb.volumes_df().empty


def test_restore_cell_can_start_its_own_session(session, shell):
    _make_state(session)
    cell = nb.checkpoint_cell().replace('%%cinder_checkpoint', '%%cinder_checkpoint --restore --persistence memory '
                                        f'--state-dir {session / "other"}', 1)
    before = nb.volumes_df()
    cnb.setup('memory', state_dir=str(session / 'x'))
    os.environ['CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD'] = 'p'
    try:
        shell.run_cell(cell).raise_error()
    finally:
        del os.environ['CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD']
    from cinder_nb import _runtime
    assert _runtime.get().state_dir == str(session / 'other')
    pd.testing.assert_frame_equal(before, nb.volumes_df())


def test_restore_without_the_secret_names_it(session, shell):
    _make_state(session)
    cell = nb.checkpoint_cell()
    cnb.setup('memory', state_dir=str(session / 'fresh'))
    with pytest.raises(cnb.MissingSecret, match='CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD'):
        nb.restore(cell)
    result = shell.run_cell(cell)
    assert result.error_in_exec is None
    assert nb.volumes_df().empty


def test_plain_python_checkpoint_and_restore_in_a_fresh_process(session, tmp_path):
    _make_state(session)
    path = tmp_path / 'state.json'
    text = nb.checkpoint(path)
    assert path.read_text() == text and 'Pw-in-memory-42' not in text
    expected = nb.volumes_df().to_json(orient='split', date_format='iso', date_unit='ns')
    script = textwrap.dedent(f'''
        import cinder_nb as cnb, cinder_nb.notebook as nb
        cnb.setup('memory', state_dir={str(tmp_path / 'proc')!r})
        loaded = nb.restore({str(path)!r}, secrets={{'embedded': {{'chap_password': 'x'}}}})
        df = nb.volumes_df()
        print(df.to_json(orient='split', date_format='iso', date_unit='ns'))
        print(df.dtypes.astype(str).to_dict())
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == expected
    assert "'size': 'int64'" in lines[-1] and "'created_at': 'datetime64[ns, UTC]'" in lines[-1]


def test_restore_accepts_text_dict_and_cell_text(session):
    _make_state(session)
    text = nb.checkpoint()
    for form in (text, json.loads(text), nb.checkpoint_cell()):
        cnb.setup('memory', state_dir=str(session / 'again'))
        loaded = nb.restore(form, secrets={'embedded': {'chap_password': 'x'}})
        assert len(loaded['volumes']) == 2 and len(nb.volumes_df()) == 2


def test_restore_in_the_same_session_names_what_the_checkpoint_lacks(session, shell, capsys):
    """Resources made after the checkpoint are kept (no storage is deleted) and listed."""
    lab = _make_state(session)
    cell = nb.checkpoint_cell().replace('%%cinder_checkpoint', '%%cinder_checkpoint --restore', 1)
    later = lab.create_volume(1, name='made-later')
    later_snap = later.create_snapshot(name='later-snap')
    capsys.readouterr()
    shell.run_cell(cell).raise_error()
    out = capsys.readouterr().out
    assert 'Restored 1 backends, 2 volumes, 1 snapshots, 1 connections' in out
    assert 'Kept 2 resources made after the checkpoint (volume made-later, snapshot later-snap)' in out
    loaded = nb.restore(cell)
    assert {o.id for o in loaded['not_in_checkpoint']} == {later.id, later_snap.id}
    assert later.status == 'available' and later_snap.status == 'available'

    capsys.readouterr()
    later_snap.delete()
    later.delete()
    shell.run_cell(cell).raise_error()
    assert 'Kept' not in capsys.readouterr().out
