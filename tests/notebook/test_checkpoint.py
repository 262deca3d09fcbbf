"""Checkpoint cells: %cinder_checkpoint writes a %%cinder_restore cell; running it restores the state."""
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


def test_magic_writes_a_restore_cell_below_that_restores_the_state(session, shell, capsys, monkeypatch):
    _make_state(session)
    before = [nb.volumes_df(), nb.snapshots_df(), nb.connections_df()]
    shell.run_line_magic('cinder_checkpoint', '')
    cell = shell.rl_next_input                  # what set_next_input put below (a new cell in Lab)
    assert cell.startswith('%%cinder_restore\n')
    doc = json.loads(cell.split('\n', 1)[1])
    assert doc['format'] == 'cinder_nb.state' and len(doc['volumes']) == 2
    assert 'Pw-in-memory-42' not in cell and doc['backends'][0]['secret_options'] == ['chap_password']
    assert 'written to a new %%cinder_restore cell' in capsys.readouterr().out

    # a fresh session (as after a kernel restart): the cell restores the same tables
    cnb.setup('memory', state_dir=str(session / 'fresh'))
    assert nb.volumes_df().empty
    monkeypatch.setenv('CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD', 'Pw-in-memory-42')
    result = shell.run_cell(cell)
    result.raise_error()
    assert 'Restored 1 backends, 2 volumes, 1 snapshots, 1 connections' in capsys.readouterr().out
    after = [nb.volumes_df(), nb.snapshots_df(), nb.connections_df()]
    for old, new in zip(before, after):
        pd.testing.assert_frame_equal(old, new)


def test_restore_cell_can_start_its_own_session(session, shell):
    _make_state(session)
    cell = nb.checkpoint_cell().replace('%%cinder_restore', '%%cinder_restore --persistence memory '
                                        f'--state-dir {session / "other"}', 1)
    before = nb.volumes_df()
    cnb.setup('memory', state_dir=str(session / 'x'))
    os.environ['CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD'] = 'p'
    try:
        shell.run_cell(cell).raise_error()
    finally:
        del os.environ['CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD']
    from cinder_nb import runtime
    assert runtime.get().state_dir == str(session / 'other')
    pd.testing.assert_frame_equal(before, nb.volumes_df())


def test_restore_without_the_secret_names_it(session, shell):
    _make_state(session)
    cell = nb.checkpoint_cell()
    cnb.setup('memory', state_dir=str(session / 'fresh'))
    result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, cnb.MissingSecret)
    assert 'CINDER_NB_SECRET_EMBEDDED_CHAP_PASSWORD' in result.error_in_exec.message
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
    cell = nb.checkpoint_cell()
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
