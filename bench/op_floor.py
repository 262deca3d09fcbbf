"""The floor of issue 14's per-operation target: what a create or delete that keeps its
guarantees must cost at least, next to the raw driver call, measured in one process.

A create that keeps cinder_nb's guarantees runs: the capacity check (Cinder's CapacityFilter on
the pool, by the driver's last report and the GiB allocated now), a compare-and-swap insert of
the 'creating' record, the build of the new volume's Cinder object (no library calls a driver
without one; cinderlib builds it too), the driver call, and a compare-and-swap write of the
outcome. A snapshot or clone inserts its record in the same compare-and-swap that bumps its
parent's version (so a delete of the parent meanwhile sees the change), and builds only its
own new object (a library that keeps a live object per resource has the parent's). A delete: the move to 'deleting' (with the look-up of
snapshots and connections), the driver call under the resource's delete lock (a clone or a
volume from a snapshot holds it too, so a delete never removes a source under a copy), the
removal of the record (and the driver's lock-file hook). Each part is timed
alone here (median of --n runs, parts alternated), on the memory store and on SQLite, and the
floor ratio is (raw + the parts) / raw: no implementation that does those parts can do better.

Usage: python op_floor.py [--n 2000] [--out f.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, emit, md_table, median, quiet_warnings  # noqa: E402


def measure(persistence: str, n: int, work: str) -> dict:
    import cinder_nb as cnb
    from cinder_nb import _cinder, _runtime
    from overhead import RawSide
    config = 'memory' if persistence == 'memory' else f'sqlite:///{work}/{persistence}.db'
    cnb.setup(config, state_dir=os.path.join(work, f'state-{persistence}'))
    lab = cnb.embedded(os.path.join(work, f'lib-{persistence}'), local_file_attach_mode='file')
    raw = RawSide(os.path.join(work, f'raw-{persistence}')) if persistence == 'memory' else measure.raw
    measure.raw = raw
    vol = lab.create_volume(1)
    rt = _runtime.get()
    parts: dict[str, list[float]] = {k: [] for k in ('raw_create', 'raw_delete', 'capacity_check', 'cas_write',
                                                    'cas_insert_delete', 'cas_insert_child', 'children_lookup',
                                                    'delete_lock', 'new_volume_ovo', 'new_snapshot_ovo')}
    Snapshot = _runtime.class_of('snapshot')
    vol_ovo = _cinder.volume_ovo(vol.record)

    def insert_child(txn, child) -> None:        # as Volume.create_snapshot's compare-and-swap
        txn.read(vol)
        txn.bump(vol)
        txn.insert(child, child.record)
    for _ in range(n):
        t, rec = raw.create()
        parts['raw_create'].append(t)
        t, _ = raw.delete_volume(rec)
        parts['raw_delete'].append(t)
        s = clock()
        lab._check_capacity(vol.pool_name, 1, 'floor')
        parts['capacity_check'].append(clock() - s)
        s = clock()
        vol._set(error=None)                       # one compare-and-swap write of a stored record
        parts['cas_write'].append(clock() - s)
        other = cnb.Volume({**vol.record, 'id': str(uuid.uuid4())})
        s = clock()
        rt.transact(lambda txn, o=other: txn.insert(o, o.record), other, 'floor')   # a stored insert
        rt.forget(other)                                                            # and its removal
        parts['cas_insert_delete'].append(clock() - s)
        child = Snapshot._new(vol)
        s = clock()
        rt.transact(lambda txn, c=child: insert_child(txn, c), vol, 'floor')
        parts['cas_insert_child'].append(clock() - s)
        rt.forget(child)
        rec = {**vol.record, 'id': str(uuid.uuid4()), 'status': 'creating'}
        s = clock()
        _cinder.volume_ovo(rec)
        parts['new_volume_ovo'].append(clock() - s)
        s = clock()
        _cinder.snapshot_ovo(child.record, vol_ovo)
        parts['new_snapshot_ovo'].append(clock() - s)
        s = clock()
        rt.persistence.list('snapshot', volume_id=vol.id)
        rt.persistence.list('connection', volume_id=vol.id)
        parts['children_lookup'].append(clock() - s)
        s = clock()
        with vol._delete_lock():                            # one of a fixed set of names
            pass
        _cinder.remove_resource_locks('volume', str(uuid.uuid4()), lab.driver)   # the driver's hook
        parts['delete_lock'].append(clock() - s)
    med = {k: median(v) for k, v in parts.items()}
    create_floor = med['raw_create'] + med['capacity_check'] + med['cas_insert_delete'] / 2 + med['cas_write']
    delete_floor = (med['raw_delete'] + med['children_lookup'] + med['cas_write'] + med['cas_insert_delete'] / 2
                    + med['delete_lock'])
    _cinder.release_driver(lab.driver)
    return {'persistence': persistence, 'n': n, 'median_s': med,
            'create_floor_s': create_floor, 'create_floor_ratio': create_floor / med['raw_create'],
            'delete_floor_s': delete_floor, 'delete_floor_ratio': delete_floor / med['raw_delete']}


def table_md(rows: list[dict]) -> str:
    """The parts of each store's row (ms) and its create and delete floors / raw."""
    out = []
    for r in rows:
        m = {k: v * 1e3 for k, v in r['median_s'].items()}
        out.append([r['persistence'], m['raw_create'], m['capacity_check'], m['cas_write'], m['cas_insert_delete'],
                    m.get('cas_insert_child', ''), m.get('new_volume_ovo', ''), m.get('new_snapshot_ovo', ''),
                    m['children_lookup'], m['delete_lock'], r['create_floor_ratio'], m['raw_delete'],
                    r['delete_floor_ratio']])
    return md_table(['store', 'raw create ms', 'capacity check ms', 'CAS write ms', 'CAS insert+delete ms',
                     'CAS insert with parent bump ms', 'new volume OVO ms', 'new snapshot OVO ms',
                     'children look-up ms', 'delete lock ms', 'create floor / raw', 'raw delete ms',
                     'delete floor / raw'], out)


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=2000)
    parser.add_argument('--out')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='op-floor-')
    rows = [measure(p, args.n, work) for p in ('memory', 'sqlite')]
    print(table_md(rows), file=sys.stderr)
    emit({'rows': rows}, args.out)


if __name__ == '__main__':
    main()
