"""copy_to reports progress through a plain callback; the callback (or Ctrl-C) can cancel it."""
from __future__ import annotations

import pytest

import cinder_nb as cnb
from cinder_nb.errors import InvalidArgument
from tests.helpers import read_at, write_at


@pytest.fixture
def two(session, attach_mode):
    a = cnb.embedded(str(session / 'a'), name='a', local_file_attach_mode=attach_mode)
    b = cnb.embedded(str(session / 'b'), name='b', local_file_attach_mode=attach_mode)
    return a, b


def test_progress_sees_every_chunk_up_to_the_size(two):
    a, b = two
    src = a.create_volume(1)
    conn = src.attach()
    write_at(conn.path, 300 << 20, b'moved')
    src.detach()
    calls = []
    copy = src.copy_to(b, chunk_mib=64, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(n * (64 << 20), 1 << 30) for n in range(1, 17)]
    conn = copy.attach()
    try:
        assert read_at(conn.path, 300 << 20, 5) == b'moved'
    finally:
        copy.detach()


@pytest.mark.parametrize('stop', [RuntimeError('stop'), KeyboardInterrupt()], ids=['exception', 'ctrl-c'])
def test_a_callback_that_raises_cancels_and_marks_the_copy_error(two, stop):
    a, b = two
    src = a.create_volume(1)

    def progress(done, total):
        if done >= 256 << 20:
            raise stop
    with pytest.raises(type(stop)):
        src.copy_to(b, name='half', chunk_mib=64, progress=progress)
    half = [v for v in b.volumes if v.name == 'half']
    assert len(half) == 1 and half[0].status == 'error' and 'copy from volume' in half[0].error
    assert src.status == 'available' and src.connections == [] and half[0].connections == []


def test_progress_must_be_callable(two):
    a, b = two
    src = a.create_volume(1)
    with pytest.raises(InvalidArgument, match='progress'):
        src.copy_to(b, progress='yes')
    assert b.volumes == []
