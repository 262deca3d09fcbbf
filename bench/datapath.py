"""Workload 4: data path — snapshot and clone cost follows the data, not the volume size.

For each volume size (default 1, 10 and 100 GiB) a sparse volume is created through
cinder_nb and 1 GiB of data is written into it (64 extents of 16 MiB spread evenly
over the volume; in the 1 GiB volume they are contiguous, i.e. the volume is full).
After one untimed warm-up clone, ``create_snapshot()`` and ``clone()`` are timed, with the bytes this process
wrote (/proc/self/io write_bytes) and the space the result occupies (st_blocks*512).
As the physical reference, the same volume file is copied with
``cp --sparse=always`` and ``cp --reflink=auto`` (each followed by fsync of the copy,
as the driver fsyncs its copies); their writes are read from RUSAGE_CHILDREN
ru_oublock (which Linux derives from the child's write_bytes).

Usage: python datapath.py [--sizes 1,10,100] [--data-gib 1] [--repeats 3] --work-dir DIR [--out f.json]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import GiB, MiB, clock, emit, fs_type, median, quiet_warnings, write_bytes  # noqa: E402

EXTENTS = 64


def fill(path: str, size_gib: int, data_gib: int) -> int:
    """Write data_gib GiB in EXTENTS equal extents spread over the file; returns bytes written."""
    extent = data_gib * GiB // EXTENTS
    stride = size_gib * GiB // EXTENTS
    chunk = os.urandom(min(extent, 16 * MiB))
    fd = os.open(path, os.O_WRONLY)
    try:
        for k in range(EXTENTS):
            off = k * stride
            done = 0
            while done < extent:
                done += os.pwrite(fd, chunk[:extent - done], off + done)
        os.fsync(fd)
    finally:
        os.close(fd)
    return EXTENTS * extent


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def _children_written() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cp_copy(src: str, dst: str, flag: str) -> dict:
    os.sync()
    before = _children_written()
    t0 = clock()
    subprocess.run(['cp', flag, src, dst], check=True)
    _fsync_path(dst)
    elapsed = clock() - t0
    return {'s': elapsed, 'written': _children_written() - before, 'allocated': allocated(dst)}


def lib_op(fn, path_of) -> tuple[dict, object]:
    os.sync()
    before = write_bytes()
    t0 = clock()
    obj = fn()
    elapsed = clock() - t0
    return {'s': elapsed, 'written': write_bytes() - before, 'allocated': allocated(path_of(obj))}, obj


def run(sizes: list[int], data_gib: int, repeats: int, work: str, cp_sizes: set[int]) -> dict:
    import cinder_nb as cnb
    cnb.setup('memory', state_dir=os.path.join(work, 'state'))
    lab = cnb.embedded(os.path.join(work, 'vols'), local_file_attach_mode='file')
    driver = lab.driver
    copy_dir = os.path.join(work, 'copies')
    os.makedirs(copy_dir, exist_ok=True)
    rows = []
    for size in sizes:
        vol = lab.create_volume(size, name=f'data-{size}g')
        src = driver._volume_path(vol.ovo())
        data = fill(src, size, data_gib)
        row = {'volume_gib': size, 'data_bytes': data, 'source_allocated': allocated(src),
               'source_apparent': os.stat(src).st_size}
        # The first copy after writing the source is several times slower than the
        # following ones on ext4 (seen with every copy method); warm up once, untimed.
        vol.clone().delete()
        samples: dict[str, list[dict]] = {'snapshot': [], 'clone': []}
        if size in cp_sizes:
            samples.update({'cp_sparse': [], 'cp_reflink': []})
        for _ in range(repeats):
            m, snap = lib_op(vol.create_snapshot, lambda s: driver._snapshot_path(s.ovo()))
            samples['snapshot'].append(m)
            snap.delete()
            m, clone = lib_op(vol.clone, lambda c: driver._volume_path(c.ovo()))
            samples['clone'].append(m)
            clone.delete()
            for key, flag in (('cp_sparse', '--sparse=always'), ('cp_reflink', '--reflink=auto')):
                if key in samples:
                    dst = os.path.join(copy_dir, key)
                    samples[key].append(cp_copy(src, dst, flag))
                    os.unlink(dst)
        for key, ms in samples.items():
            row[key] = {'s': median(m['s'] for m in ms), 'written': median(m['written'] for m in ms),
                        'allocated': median(m['allocated'] for m in ms)}
        vol.delete()
        rows.append(row)
    return {'rows': rows, 'data_gib': data_gib, 'repeats': repeats, 'filesystem': fs_type(work),
            'extents': EXTENTS}


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='1,10,100')
    parser.add_argument('--cp-sizes', default='10', help='volume sizes also copied with cp')
    parser.add_argument('--data-gib', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='datapath-', dir=args.work_dir)
    sizes = [int(s) for s in args.sizes.split(',')]
    cp_sizes = {int(s) for s in args.cp_sizes.split(',') if s}
    emit(run(sizes, args.data_gib, args.repeats, work, cp_sizes), args.out)


if __name__ == '__main__':
    main()
