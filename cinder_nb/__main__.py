"""``python -m cinder_nb``: a guided tour of every operation on the embedded backend."""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import cinder_nb as cnb


def _step(title: str) -> float:
    print(f'\n== {title}')
    return time.perf_counter()


def _path(conn: cnb.Connection) -> str:
    assert conn.path, 'a local attach has a path'
    return conn.path


def _done(t0: float, text: str = '') -> None:
    print(f'   ok ({(time.perf_counter() - t0) * 1000:.0f} ms) {text}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m cinder_nb', description=__doc__)
    parser.add_argument('--dir', help='state and volume directory (default: a new temp dir, removed at the end)')
    parser.add_argument('--keep', action='store_true', help='keep the volumes (and the temp dir) at the end')
    args = parser.parse_args(argv)
    if args.dir:
        return _tour(args.dir, args.keep)
    workdir = tempfile.mkdtemp(prefix='cinder_nb-tour-')
    try:
        return _tour(workdir, args.keep)
    finally:
        if args.keep:
            print(f'Kept {workdir}')
        else:
            _detach_all()      # a tour that failed midway may hold a loop device on a volume file
            shutil.rmtree(workdir, ignore_errors=True)


def _detach_all() -> None:
    for backend in cnb.Backend.backends.values():
        for vol in backend.volumes:
            for conn in vol.connections:
                if conn.attached:
                    conn.detach(force=True)


def _tour(workdir: str, keep: bool) -> int:
    t = _step(f'setup: SQLite state in {workdir}')
    cnb.setup(state_dir=workdir)
    lab = cnb.embedded(os.path.join(workdir, 'volumes'))
    pool = lab.stats(refresh=True)['pools'][0]
    _done(t, f"backend {lab.id}: {pool['free_capacity_gb']} GiB free, attach mode {pool['attach_mode']}")

    t = _step('create a 1 GiB volume, attach it, write data')
    vol = lab.create_volume(1, name='data')
    conn = vol.attach()
    fd = os.open(_path(conn), os.O_WRONLY)
    os.pwrite(fd, b'first version', 0)
    os.fsync(fd)
    os.close(fd)
    path = conn.path
    vol.detach()
    _done(t, f'{vol.id} via {path}')

    t = _step('snapshot, overwrite, create a volume from the snapshot')
    snap = vol.create_snapshot(name='before')
    conn = vol.attach()
    fd = os.open(_path(conn), os.O_WRONLY)
    os.pwrite(fd, b'SECOND version', 0)
    os.fsync(fd)
    os.close(fd)
    vol.detach()
    restored = snap.create_volume(name='restored')
    conn = restored.attach()
    with open(_path(conn), 'rb') as f:
        data = f.read(13)
    restored.detach()
    _done(t, f'restored volume reads {data!r}')
    assert data == b'first version'

    t = _step('clone and extend')
    clone = vol.clone(name='copy')
    vol.extend(2)
    _done(t, f'clone {clone.id}; {vol.name} is now {vol.size} GiB')

    t = _step('connect with a remote-style connector')
    c = vol.connect({'host': 'compute-1', 'initiator': 'iqn.2026-11.example:compute-1'})
    info = c.connection_info
    c.disconnect()
    _done(t, f"protocol {info['driver_volume_type']}, device {info['data']['device_path']}")

    print('\n== volumes')
    for v in lab.volumes:
        print(f'   {v.id}  {v.name:10} {v.size} GiB  {v.status}')
    if not keep:
        t = _step('clean up')
        snap.delete()
        for v in lab.volumes:
            v.delete()
        _done(t)
    print('\nState as JSON (secrets redacted):', len(cnb.dumps()), 'bytes. Tour finished.')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
