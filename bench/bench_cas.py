"""Per-operation cost of the state writes (compare-and-swap since issue 10), before and after.

    .venv/bin/python bench/bench_cas.py [--before REV] [--ops 200]

Runs the same operations through the public API on the embedded backend (file attach
mode, 1 GiB sparse volumes) on the memory store and on a SQLite file, once with this
checkout and once with ``git archive REV`` of cinder_nb (default: 35c80f7, before
compare-and-swap), each in its own subprocess, and prints a Markdown table of the
median time per operation. ``reset_status`` is a pure record write (no driver call).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import extract_tree  # noqa: E402

OPS = ('reset_status', 'extend', 'snapshot create+delete', 'connect+disconnect', 'volume create+delete')


def measure(store: str, ops: int, directory: str) -> dict:
    import cinder_nb as cnb
    cfg = 'memory' if store == 'memory' else {'storage': 'sqlite', 'path': os.path.join(directory, 's.db')}
    cnb.setup(cfg, state_dir=os.path.join(directory, 'st'))
    lab = cnb.embedded(os.path.join(directory, 'vols'), name='lab', local_file_attach_mode='file')
    vols = [lab.create_volume(1) for _ in range(20)]          # a few neighbours in the store
    vol = vols[0]
    times: dict[str, list[float]] = {op: [] for op in OPS}
    txns = {'write': 0, 'read': 0}
    counts: dict[str, list[int]] = {op: [] for op in OPS}
    if store == 'sqlite':           # count SQLite transactions: writes commit, reads roll back
        import sqlalchemy as sa
        sa.event.listen(sa.engine.Engine, 'commit', lambda conn: txns.__setitem__('write', txns['write'] + 1))
        sa.event.listen(sa.engine.Engine, 'rollback', lambda conn: txns.__setitem__('read', txns['read'] + 1))

    def timed(op, fn):
        before = dict(txns)
        start = time.perf_counter()
        fn()
        times[op].append(time.perf_counter() - start)
        counts[op].append((txns['write'] - before['write'], txns['read'] - before['read']))

    for _ in range(ops):
        timed('reset_status', lambda: vol.reset_status('available'))
        timed('extend', lambda: vol.extend(vol.size + 1))
        timed('snapshot create+delete', lambda: vol.create_snapshot().delete())
        timed('connect+disconnect', lambda: vol.connect({'host': 'h'}).disconnect())
        timed('volume create+delete', lambda: lab.create_volume(1).delete())
    return {op: [statistics.median(t) * 1e6, *statistics.median_low(counts[op])] for op, t in times.items()}


def _best(old: dict | None, new: dict) -> dict:
    return new if old is None else {op: min(old[op], new[op]) for op in new}


def run_tree(pythonpath: str | None, store: str, ops: int) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    with tempfile.TemporaryDirectory(prefix='cnb-bench-cas-') as d:
        proc = subprocess.run([sys.executable, __file__, '--measure', store, '--ops', str(ops), '--dir', d],
                              env=env, capture_output=True, text=True, cwd=d)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--before', default='35c80f7', help='git revision to compare with')
    parser.add_argument('--ops', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--measure')
    parser.add_argument('--dir')
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.ops, args.dir)))
        return
    old = tempfile.mkdtemp(prefix='cnb-bench-before-')
    try:
        extract_tree(args.before, old)
        print(f'Median time per operation, µs ({args.ops} of each; embedded backend, file attach mode;\n'
              f'best of {args.rounds} alternating runs per tree), and SQLite transactions per operation '
              '(writes/reads)\n')
        print(f'| store | operation | before ({args.before}) | after (this checkout) | after/before '
              '| SQLite txns before | after |')
        print('|---|---|---:|---:|---:|---:|---:|')
        for store in ('memory', 'sqlite'):
            before, after = None, None
            for _ in range(args.rounds):    # alternate, keep the best median: the machine is shared
                before = _best(before, run_tree(old, store, args.ops))
                after = _best(after, run_tree(None, store, args.ops))
            for op in OPS:
                b, a = before[op], after[op]
                txns = f'| {b[1]}/{b[2]} | {a[1]}/{a[2]} |' if store == 'sqlite' else '| | |'
                print(f'| {store} | {op} | {b[0]:.0f} | {a[0]:.0f} | {a[0] / b[0]:.2f} {txns}')
    finally:
        shutil.rmtree(old, ignore_errors=True)


if __name__ == '__main__':
    main()
