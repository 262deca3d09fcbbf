"""Per-create cost against the number of volumes already on the backend (0 / 1k / 10k).

A create runs Cinder's capacity check first (the pool's stats and the GiB already
allocated on it). This workload shows whether that check, and so every create,
grows with the volumes already there. For each size N one process:

* starts the embedded backend (memory or SQLite state) and gives it N existing
  volumes: their records come from ``cinder_nb.load(doc, save=True)`` of a document
  that replicates one real volume's record, and each gets its (sparse) volume file,
  as the driver would have made it;
* then times ``create_volume(1)`` against a raw LocalFileDriver's
  ``create_volume(ovo)`` in its own, empty directory (ABAB, order flipped each item),
  the ``check_capacity(1)`` call alone, and ``Volume.delete()`` of the new volumes
  against the raw driver's delete; and ``stats(refresh=True)`` (a new driver report, which
  the checks ask for once every ``Backend.stats_max_age``).

Usage: python create_at_scale.py --existing 0,1000,10000 --n 30 [--persistence memory|sqlite] [--work-dir D]
(the parent runs one child process per size: ``--one N``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import GiB, clock, emit, md_table, median, quiet_warnings  # noqa: E402


def _populate(lab, n: int) -> None:
    """n volume records (loaded and saved) with their sparse files, without n creates."""
    import cinder_nb as cnb
    if not n:
        return
    vol = lab.create_volume(1, name='template')
    doc = json.loads(cnb.dumps())
    template = json.dumps(next(v for v in doc['volumes'] if v['id'] == vol.id))
    vol.delete()
    doc['volumes'] = [json.loads(template.replace(vol.id, str(uuid.uuid4())).replace('"template"', f'"v{i}"'))
                      for i in range(n)]
    doc['snapshots'], doc['connections'] = [], []
    cnb.load(doc, save=True)
    folder = os.path.join(lab.driver.root, 'volumes')
    for rec in doc['volumes']:
        with open(os.path.join(folder, f"volume-{rec['id']}"), 'wb') as f:
            f.truncate(rec['size'] * GiB)


def one(existing: int, n: int, persistence: str, work: str) -> dict:
    import cinder_nb as cnb
    from overhead import RawSide
    config = 'memory' if persistence == 'memory' else f'sqlite:///{work}/state.db'
    cnb.setup(config, state_dir=os.path.join(work, 'state'))
    # 10k volumes of 1 GiB: more than this machine's disk times Cinder's default ratio of 20
    lab = cnb.embedded(os.path.join(work, 'lib'), name='lab', local_file_attach_mode='file',
                       max_over_subscription_ratio='1000')
    t0 = clock()
    _populate(lab, existing)
    populate_s = clock() - t0
    assert len(lab.volumes) == existing
    refresh = []
    for _ in range(3):      # a driver report (the embedded driver stat()s each volume file) + the store's sum
        t = clock()
        lab.stats(refresh=True)
        refresh.append(clock() - t)
    raw = RawSide(os.path.join(work, 'raw'))
    for _ in range(3):      # warm-up: first calls import and build caches on both sides
        lab.create_volume(1).delete()
        raw.delete_volume(raw.create()[1])
    times: dict[str, list[float]] = {k: [] for k in ('create', 'raw_create', 'check', 'delete', 'raw_delete')}
    made, raw_made = [], []
    for i in range(n):
        for side in (('lib', 'raw') if i % 2 == 0 else ('raw', 'lib')):
            if side == 'lib':
                t = clock()
                made.append(lab.create_volume(1))
                times['create'].append(clock() - t)
                t = clock()
                lab.check_capacity(1)
                times['check'].append(clock() - t)
            else:
                dt, rec = raw.create()
                times['raw_create'].append(dt)
                raw_made.append(rec)
    for i in range(n):
        for side in (('lib', 'raw') if i % 2 == 0 else ('raw', 'lib')):
            if side == 'lib':
                t = clock()
                made[i].delete()
                times['delete'].append(clock() - t)
            else:
                times['raw_delete'].append(raw.delete_volume(raw_made[i])[0])
    out = {k + '_s': median(v) for k, v in times.items()}
    out.update(existing=existing, n=n, persistence=persistence, populate_s=populate_s, refresh_s=median(refresh),
               volumes_after=len(lab.volumes))
    return out


def table(rows: list[dict]) -> str:
    headers = ['existing volumes', 'state', 'create ms', 'raw create ms', 'create / raw', 'check_capacity ms',
               'delete ms', 'raw delete ms', 'delete / raw', 'stats(refresh=True) ms']
    return md_table(headers, [[f"{r['existing']:,}", r['persistence'], r['create_s'] * 1e3, r['raw_create_s'] * 1e3,
                               r['create_s'] / r['raw_create_s'], r['check_s'] * 1e3, r['delete_s'] * 1e3,
                               r['raw_delete_s'] * 1e3, r['delete_s'] / r['raw_delete_s'],
                               r['refresh_s'] * 1e3 if 'refresh_s' in r else ''] for r in rows])


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--existing', default='0,1000,10000')
    parser.add_argument('--n', type=int, default=30)
    parser.add_argument('--persistence', default='memory', help='memory, sqlite, or both: memory,sqlite')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--one', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--json', action='store_true', help='print the rows as JSON instead of a table')
    args = parser.parse_args()
    if args.one is not None:
        work = tempfile.mkdtemp(prefix='create-scale-', dir=args.work_dir)
        try:
            emit(one(args.one, args.n, args.persistence, work), None)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    rows = []
    for persistence in args.persistence.split(','):
        for existing in (int(x) for x in args.existing.split(',')):
            cmd = [sys.executable, os.path.abspath(__file__), '--one', str(existing), '--n', str(args.n),
                   '--persistence', persistence] + (['--work-dir', args.work_dir] if args.work_dir else [])
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            rows.append(json.loads(out.stdout))
            print(f'[bench] create_at_scale: {persistence} {existing} done', file=sys.stderr, flush=True)
    if args.json:
        emit({'rows': rows}, None)
    else:
        print(table(rows))


if __name__ == '__main__':
    main()
