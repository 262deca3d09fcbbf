"""The delete lock, before/after, side by side: this checkout against `git archive REV cinder_nb`.

Runs, in alternating processes (old, new, then new, old, ... for --rounds rounds), in the
same venv:

* a lock probe: ``with _cinder.lock(striped_lock_name('volume-delete', id))`` for --n-lock
  fresh ids (default set-up: the file:// lock service in the state dir);
* ``op_floor.py`` (its ``delete_lock`` part: the delete lock plus the driver's lock-file hook);
* ``overhead.py --n`` (delete_snapshot, delete_volume and the raw driver calls, memory store).

Prints a table of the medians over rounds of each process's median, and new / old.

Usage: python bench/lock_ab.py [--rev 780811d] [--rounds 3] [--n 300] [--n-floor 2000] [--n-lock 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import BENCH_DIR, ab_rounds, clock, median, quiet_warnings, run_json  # noqa: E402


def lock_probe(n: int) -> float:
    """Median seconds of one acquire+release of a delete lock (a fresh id each time)."""
    import cinder_nb as cnb
    from cinder_nb import _cinder
    cnb.setup('memory', state_dir=tempfile.mkdtemp(prefix='lock-ab-'))
    names = [_cinder.striped_lock_name('volume-delete', str(uuid.uuid4())) for _ in range(n)]
    times = []
    for name in names:
        s = clock()
        with _cinder.lock(name):
            pass
        times.append(clock() - s)
    return median(times[len(times) // 10:])      # the first tenth opens the files


def one(env: dict, args: argparse.Namespace) -> dict[str, float]:
    lock = run_json(env, os.path.abspath(__file__), '--child-lock', str(args.n_lock))
    floor = run_json(env, os.path.join(BENCH_DIR, 'op_floor.py'), '--n', str(args.n_floor))
    mem = next(r for r in floor['rows'] if r['persistence'] == 'memory')
    over = run_json(env, os.path.join(BENCH_DIR, 'overhead.py'), '--n', str(args.n))['ops']
    return {'lock acquire+release': lock['median_s'],
            'op_floor delete_lock (+ driver hook)': mem['median_s']['delete_lock'],
            'delete_snapshot': over['delete_snapshot']['lib_median_s'],
            'delete_volume': over['delete_volume']['lib_median_s'],
            'raw driver delete_snapshot': over['delete_snapshot']['raw_median_s'],
            'raw driver delete_volume': over['delete_volume']['raw_median_s']}


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rev', default='780811d')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--n', type=int, default=300)
    parser.add_argument('--n-floor', type=int, default=2000)
    parser.add_argument('--n-lock', type=int, default=20000)
    parser.add_argument('--child-lock', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_lock:
        with open(args.out, 'w') as f:
            json.dump({'median_s': lock_probe(args.child_lock)}, f)
        return
    ab_rounds(args.rev, args.rounds, lambda env: one(env, args))


if __name__ == '__main__':
    main()
