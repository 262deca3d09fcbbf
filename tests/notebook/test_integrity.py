"""Stamped-block integrity checks: PASS through real operations, FAIL (with where and what) on real damage."""
from __future__ import annotations

import pandas as pd
import pytest

import cinder_nb as cnb
from cinder_nb.errors import InvalidArgument
from cinder_nb.notebook import integrity
from cinder_nb.notebook.integrity import COLUMNS, Integrity, sector, stamp, verify_lifecycle
from tests.helpers import read_at, write_at


def test_stamp_spreads_blocks_over_the_whole_volume_and_each_sector_names_itself(lab):
    vol = lab.create_volume(1)
    p = stamp(vol, generation=7, blocks=16, block_size=8192, progress=False)
    assert len(p.offsets) == 16 and p.offsets[0] == 0 and p.offsets[-1] == (1 << 30) - 8192
    assert all(o % 8192 == 0 for o in p.offsets) and list(p.offsets) == sorted(set(p.offsets))
    conn = vol.attach()
    try:
        mid = p.offsets[5] + 512 * 3
        raw = read_at(conn.path, mid, 512)
        assert raw == sector(vol.id, 7, mid)
        assert integrity.describe(raw, mid) == f'stamp of volume {vol.id} generation 7'
        assert read_at(conn.path, p.offsets[5] + 8192, 512) == bytes(512)      # only the blocks are written
    finally:
        vol.detach()
    assert vol.connections == []


def test_verify_finds_the_first_damaged_byte_and_says_what_is_there(lab):
    vol = lab.create_volume(1, name='v')
    checks = Integrity(blocks=32, block_size=16384, progress=False)
    p1 = checks.stamp(vol)
    assert checks.verify(vol, p1, 'intact')
    conn = vol.attach()
    bad_at = p1.offsets[9] + 1000
    # the byte flipped, not overwritten with a constant: the stamp's fill there depends on the
    # random volume id and is 0xff for 1 id in 256, where writing 0xff damaged nothing
    write_at(conn.path, bad_at, bytes([read_at(conn.path, bad_at, 1)[0] ^ 0xff]))
    moved_from, moved_to = p1.offsets[20], p1.offsets[21]
    write_at(conn.path, moved_to, read_at(conn.path, moved_from, 512))    # a misplaced sector
    vol.detach()
    assert not checks.verify(vol, p1, 'damaged')
    p2 = checks.stamp(vol)                                                  # generation 2 everywhere
    assert p2.generation == 2
    assert not checks.verify(vol, p1, 'old generation expected')
    df = checks.df
    assert list(df.columns) == list(COLUMNS) and str(df['result'].dtype) == 'category'
    assert list(df['result']) == ['PASS', 'FAIL', 'FAIL']
    damaged = df.iloc[1]
    assert damaged['mismatched_blocks'] == 2 and damaged['first_mismatch_offset'] == bad_at
    assert damaged['found'] == f'corrupted stamp of volume {vol.id} generation 1'
    old = df.iloc[2]
    assert old['mismatched_blocks'] == 32 and old['first_mismatch_offset'] == p1.offsets[0] + 8 + 36   # the generation field
    assert old['found'] == f'stamp of volume {vol.id} generation 2'
    # the misplaced sector is named as such once the damaged block is repaired
    stamp_again = Integrity(blocks=32, block_size=16384, progress=False)
    conn = vol.attach()
    write_at(conn.path, moved_to, read_at(conn.path, moved_from, 512))
    vol.detach()
    stamp_again.verify(vol, p2, 'misplaced')
    assert stamp_again.df['found'][0] == f'stamp of volume {vol.id} generation 2 written for offset {moved_from}'
    assert not checks.passed


def test_lifecycle_passes_on_the_embedded_backend(lab, session):
    other = cnb.embedded(str(session / 'other'), name='other',
                         local_file_attach_mode=lab.config['local_file_attach_mode'])
    vol = lab.create_volume(1, name='golden')
    df = verify_lifecycle(vol, other, progress=False)
    assert list(df['step']) == [
        'after detach/attach', 'source after snapshot', 'volume from snapshot holds the snapshot (generation 1)',
        'clone holds the current data (generation 2)', 'after revert to snapshot (generation 1)',
        'copy_to other (generation 1)', 'after extend 1 -> 2 GiB', 'extended space reads zeros']
    assert (df['result'] == 'PASS').all(), df[['step', 'detail']].to_string()
    assert (df['blocks'] == 64).all() and df['first_mismatch_offset'].isna().all()
    assert df.iloc[5]['backend'] == 'other'
    # cleanup removed what the checks made; the source stays, extended and reverted
    assert [v.id for v in lab.volumes] == [vol.id] and other.volumes == [] and lab.snapshots == []
    assert vol.size == 2 and vol.status == 'available' and vol.connections == []


def test_lifecycle_catches_a_driver_that_loses_clone_data(session):
    lossy = cnb.Backend('lossy', volume_driver='tests.notebook.lossy_driver.LossyCloneDriver',
                        local_file_path=str(session / 'lossy'), local_file_attach_mode='file')
    vol = lossy.create_volume(1)
    df = verify_lifecycle(vol, progress=False).set_index('step')
    clone = df.loc['clone holds the current data (generation 2)']
    assert clone['result'] == 'FAIL' and clone['found'] == 'zeros' and clone['first_mismatch_offset'] == 0
    assert clone['mismatched_blocks'] == 64
    assert (df.drop(index='clone holds the current data (generation 2)')['result'] == 'PASS').all()


def test_lifecycle_skips_revert_where_the_driver_has_none(session):
    plain = cnb.Backend('norevert', volume_driver='tests.notebook.lossy_driver.NoRevertDriver',
                        local_file_path=str(session / 'norevert'), local_file_attach_mode='file')
    vol = plain.create_volume(1)
    df = verify_lifecycle(vol, progress=False, cleanup=False)
    row = df[df['step'] == 'revert to snapshot'].iloc[0]
    assert row['result'] == 'SKIP' and 'has no revert_to_snapshot' in row['detail']
    # without the revert, the copy and the extended volume hold generation 2
    assert list(df[df['step'].str.startswith(('copy_to', 'after extend'))]['generation']) == [2, 2]
    assert (df['result'] != 'FAIL').all()
    assert len(plain.volumes) == 4 and len(plain.snapshots) == 1          # cleanup=False kept them


def test_bad_arguments(filelab):
    vol = filelab.create_volume(1)
    for kwargs in (dict(generation=-1), dict(blocks=0), dict(block_size=1000), dict(generation=True)):
        with pytest.raises(InvalidArgument):
            stamp(vol, progress=False, **kwargs)
    with pytest.raises(InvalidArgument, match='Pattern'):
        integrity.check(vol, 'pattern')
    with pytest.raises(InvalidArgument, match='Volume'):
        stamp('vol')
    assert vol.connections == []


def test_checks_frame_is_typed_even_when_empty():
    df = Integrity().df
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)
    assert isinstance(df['result'].dtype, pd.CategoricalDtype)
