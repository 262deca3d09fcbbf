"""Bulk throughput: Backend.create_volumes / create_snapshots / delete_snapshots / delete_volumes
with 1, 4 and 16 workers, on the embedded backend (memory and SQLite stores), on the embedded
backend with a simulated 20 ms wait in every driver call, and on Ceph RBD (Cinder's RBDDriver
against a single-node cluster started here with tests/ceph/micro-ceph.sh; --ceph, needs root).

Each round runs the four phases over N items for every worker count, the order of the worker
counts rotated every round, so machine noise hits them alike; the table gives the median
operations per second over the rounds and the speedup over 1 worker measured in the same run.
On a shared 2-core machine only the ratios mean something.

    python bench/bulk.py [--n 32] [--rounds 3] [--workers 1,4,16] [--ceph] [--ceph-n 32]
                         [--only embedded,sqlite,waiting,rbd] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS_DIR, machine_info, md_table, median, quiet_warnings  # noqa: E402

PHASES = ('create_volumes', 'create_snapshots', 'delete_snapshots', 'delete_volumes')


def run_phases(backend, n: int, workers: int) -> dict[str, float]:
    """Seconds of each bulk phase over n items; every item must succeed."""
    out = {}
    t0 = time.perf_counter()
    vols = backend.create_volumes(n, 1, name=f'b{workers}', workers=workers).raise_on_failure().succeeded
    out['create_volumes'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    snaps = backend.create_snapshots(vols, workers=workers).raise_on_failure().succeeded
    out['create_snapshots'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    backend.delete_snapshots(snaps, workers=workers).raise_on_failure()
    out['delete_snapshots'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    backend.delete_volumes(vols, workers=workers).raise_on_failure()
    out['delete_volumes'] = time.perf_counter() - t0
    return out


def measure(label: str, make_backend, n: int, rounds: int, workers_list: list[int]) -> dict:
    backend = make_backend()
    run_phases(backend, min(n, 8), max(workers_list))          # warm-up (imports, first connections)
    times: dict[int, dict[str, list[float]]] = {w: {p: [] for p in PHASES} for w in workers_list}
    for r in range(rounds):
        order = workers_list[r % len(workers_list):] + workers_list[:r % len(workers_list)]
        for w in order:
            for phase, s in run_phases(backend, n, w).items():
                times[w][phase].append(s)
        print(f'[bulk] {label}: round {r + 1}/{rounds} done', file=sys.stderr)
    return {'label': label, 'n': n, 'rounds': rounds, 'seconds': times}


def table(res: dict) -> str:
    workers = sorted(res['seconds'], key=int)
    n = res['n']
    base = {p: n / median(res['seconds'][workers[0]][p]) for p in PHASES}
    rows = []
    for p in PHASES + ('all four',):
        row = [p]
        for w in workers:
            if p == 'all four':
                secs = [sum(x) for x in zip(*(res['seconds'][w][q] for q in PHASES))]
                ops = 4 * n / median(secs)
                b = 4 * n / median([sum(x) for x in zip(*(res['seconds'][workers[0]][q] for q in PHASES))])
            else:
                ops, b = n / median(res['seconds'][w][p]), base[p]
            row.append(f'{ops:.1f} ({ops / b:.2f}×)')
        rows.append(row)
    head = ['operation (ops/s, speedup vs 1 worker)'] + [f'{w} worker{"s" if int(w) > 1 else ""}' for w in workers]
    return (f"### {res['label']}: {n} items per phase, median of {res['rounds']} rounds\n\n"
            + md_table(head, rows))


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=32)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--workers', default='1,4,16')
    parser.add_argument('--only', default='embedded,sqlite,waiting,rbd')
    parser.add_argument('--ceph', action='store_true', help='include Ceph RBD (starts a cluster; root)')
    parser.add_argument('--ceph-n', type=int, default=32)
    parser.add_argument('--ceph-rounds', type=int, default=2)
    parser.add_argument('--ceph-dir', default=os.path.join(tempfile.gettempdir(), 'cinder_nb-ceph-bulk'))
    parser.add_argument('--json', default=os.path.join(RESULTS_DIR, 'bulk.json'))
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(',')]
    only = set(args.only.split(','))
    import cinder_nb as cnb
    work = tempfile.mkdtemp(prefix='cnb-bench-bulk-')
    results = []
    ceph_started = False
    try:
        def embedded(store: str):
            def make():
                config = 'memory' if store == 'memory' else {'storage': 'sqlite',
                                                             'path': os.path.join(work, f'{uuid.uuid4().hex}.db')}
                cnb.setup(config, state_dir=os.path.join(work, 'state'))
                return cnb.embedded(os.path.join(work, f'vols-{uuid.uuid4().hex[:6]}'), name='lab',
                                    local_file_attach_mode='file')
            return make

        def waiting():
            cnb.setup('memory', state_dir=os.path.join(work, 'state'))
            return cnb.Backend('wait', volume_driver='_slow_driver.WaitingFileDriver',
                               local_file_path=os.path.join(work, 'vols-wait'), local_file_attach_mode='file')

        if 'embedded' in only:
            results.append(measure('embedded, memory store', embedded('memory'), args.n, args.rounds, workers))
        if 'sqlite' in only:
            results.append(measure('embedded, SQLite store', embedded('sqlite'), args.n, args.rounds, workers))
        if 'waiting' in only:
            from _slow_driver import WAIT_S
            results.append(measure(f'embedded + {WAIT_S * 1000:.0f} ms simulated wait per driver call, memory store',
                                   waiting, args.n, args.rounds, workers))
        if args.ceph and 'rbd' in only:
            from ceph import micro_ceph, start_cluster
            cluster = start_cluster(args.ceph_dir)
            ceph_started = True
            env = cluster['env']

            def rbd():
                cnb.setup('memory', state_dir=os.path.join(work, 'state'))
                return cnb.Backend('ceph', volume_driver='cinder.volume.drivers.rbd.RBDDriver',
                                   rbd_pool=env['CINDER_NB_CEPH_POOL'], rbd_user=env['CINDER_NB_CEPH_USER'],
                                   rbd_ceph_conf=env['CINDER_NB_CEPH_CONF'],
                                   rbd_keyring_conf=env['CINDER_NB_CEPH_KEYRING'])
            from cinder_nb._cinder import rbd_fixes as _cinder_rbd
            kept = _cinder_rbd.RADOS_MAX_IDLE
            for label, max_idle in (('a new RADOS connection per driver call (Cinder as shipped)', 0),
                                    (f'idle RADOS connections reused (cinder_nb, up to {kept} kept)', kept)):
                _cinder_rbd.RADOS_MAX_IDLE = max_idle
                results.append(measure(f'Ceph RBD, {label}; micro-ceph: 1 mon, 1 memstore OSD, '
                                       'paxos_propose_interval 1 s; memory store', rbd, args.ceph_n,
                                       args.ceph_rounds, workers))
            _cinder_rbd.RADOS_MAX_IDLE = kept
    finally:
        if ceph_started:
            micro_ceph(args.ceph_dir, 'stop')
        shutil.rmtree(work, ignore_errors=True)
    info = machine_info(work)
    load = os.getloadavg()
    print(f"## Bulk throughput ({info['nproc']} cores, load average {load[0]:.1f} at the end; "
          'ratios measured side by side in one run)\n')
    for res in results:
        print(table(res) + '\n')
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump({'machine': info, 'loadavg': load, 'results': results}, f, indent=1)


if __name__ == '__main__':
    main()
