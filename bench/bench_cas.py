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
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = ('reset_status', 'extend', 'snapshot create+delete', 'connect+disconnect', 'volume create+delete')


def measure(store: str, ops: int, directory: str) -> dict:
    import cinder_nb as cnb
    cfg = 'memory' if store == 'memory' else {'storage': 'sqlite', 'path': os.path.join(directory, 's.db')}
    cnb.setup(cfg, state_dir=os.path.join(directory, 'st'))
    lab = cnb.embedded(os.path.join(directory, 'vols'), name='lab', local_file_attach_mode='file')
    vols = [lab.create_volume(1) for _ in range(20)]          # a few neighbours in the store
    vol = vols[0]
    times: dict[str, list[float]] = {op: [] for op in OPS}

    def timed(op, fn):
        start = time.perf_counter()
        fn()
        times[op].append(time.perf_counter() - start)

    for i in range(ops):
        timed('reset_status', lambda: vol.reset_status('available'))
        timed('extend', lambda: vol.extend(vol.size + 1))
        timed('snapshot create+delete', lambda: vol.create_snapshot().delete())
        timed('connect+disconnect', lambda: vol.connect({'host': 'h'}).disconnect())
        timed('volume create+delete', lambda: lab.create_volume(1).delete())
    return {op: statistics.median(t) * 1e6 for op, t in times.items()}


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
    parser.add_argument('--measure')
    parser.add_argument('--dir')
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.ops, args.dir)))
        return
    old = tempfile.mkdtemp(prefix='cnb-bench-before-')
    try:
        archive = subprocess.run(['git', 'archive', args.before, 'cinder_nb'], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        with tarfile.open(fileobj=__import__('io').BytesIO(archive)) as tar:
            tar.extractall(old)
        print(f'Median time per operation, µs ({args.ops} of each; embedded backend, file attach mode)\n')
        print(f'| store | operation | before ({args.before}) | after (this checkout) | after/before |')
        print('|---|---|---:|---:|---:|')
        for store in ('memory', 'sqlite'):
            before = run_tree(old, store, args.ops)
            after = run_tree(None, store, args.ops)
            for op in OPS:
                print(f'| {store} | {op} | {before[op]:.0f} | {after[op]:.0f} | {after[op] / before[op]:.2f} |')
    finally:
        shutil.rmtree(old, ignore_errors=True)


if __name__ == '__main__':
    main()
