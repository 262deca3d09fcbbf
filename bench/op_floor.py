"""The floor of issue 14's per-operation target: what a create or delete that keeps its
guarantees must cost at least, next to the raw driver call, measured in one process.

A create that keeps cinder_nb's guarantees runs: the capacity check (Cinder's CapacityFilter on
the pool, by the driver's last report and the GiB allocated now), a compare-and-swap insert of
the 'creating' record, the driver call with its OVO (what the raw side pays too), and a
compare-and-swap write of the outcome. A delete: the move to 'deleting' (with the look-up of
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
from _common import clock, emit, median, quiet_warnings  # noqa: E402


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
                                                    'cas_insert_delete', 'children_lookup', 'delete_lock')}
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


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=2000)
    parser.add_argument('--out')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='op-floor-')
    rows = [measure(p, args.n, work) for p in ('memory', 'sqlite')]
    print('| store | raw create ms | capacity check ms | CAS write ms | CAS insert+delete ms | children look-up ms '
          '| delete lock ms | create floor / raw | raw delete ms | delete floor / raw |', file=sys.stderr)
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|', file=sys.stderr)
    for r in rows:
        m = {k: v * 1e3 for k, v in r['median_s'].items()}
        print(f"| {r['persistence']} | {m['raw_create']:.3f} | {m['capacity_check']:.3f} | {m['cas_write']:.3f} | "
              f"{m['cas_insert_delete']:.3f} | {m['children_lookup']:.3f} | {m['delete_lock']:.3f} | "
              f"{r['create_floor_ratio']:.2f} | "
              f"{m['raw_delete']:.3f} | {r['delete_floor_ratio']:.2f} |", file=sys.stderr)
    emit({'rows': rows}, args.out)


if __name__ == '__main__':
    main()
