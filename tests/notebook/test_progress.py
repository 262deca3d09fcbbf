"""The notebook's progress bars: copy_to shows bytes and can be cancelled; the text bar in a terminal."""
from __future__ import annotations

import threading

import pytest

import cinder_nb as cnb
from cinder_nb.errors import Cancelled
from cinder_nb.notebook.progress import ByteProgress, copy_to


@pytest.fixture
def two(session):
    return (cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode='file'),
            cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode='file'))


def test_copy_to_shows_a_byte_bar(two, capsys):
    a, b = two
    src = a.create_volume(1, name='src')
    copy = copy_to(src, b, chunk_mib=64)
    assert copy.status == 'available' and copy.backend_name == 'b'
    err = capsys.readouterr().err
    assert 'copy src -> b' in err and '1.00G/1.00G' in err and '100%' in err


def test_copy_to_cancel_event(two):
    a, b = two
    src = a.create_volume(1, name='src')
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match='cancelled after'):
        copy_to(src, b, cancel=cancel, progress=False, name='stopped')
    [stopped] = b.volumes
    assert stopped.status == 'error' and src.connections == [] and stopped.connections == []


def test_byte_progress_counts_deltas(capsys):
    cb = ByteProgress('x')
    cb(10, 100)
    cb(60, 100)
    assert cb.bar.n == 60 and cb.done == 60
    cb.close()
    assert '60.0/100' in capsys.readouterr().err
