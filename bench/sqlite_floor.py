"""What the SQLite store adds to dumps+load, against SQLite's own floor (issue 14's 'dumps+load,
10k volumes, SQLite < 0.3 s').

In one process, alternated, median of --repeats, on the records of a generated state
(state_scale.py gen): the store's adopt_many (what load(save=True) writes) and list_versioned
(what dumps() reads) next to the bare minimum with the same rows in the same schema: records
already encoded by orjson, one executemany inside BEGIN IMMEDIATE ... COMMIT, and one SELECT
whose rows orjson.loads decodes. Python's garbage collector is off while timing (a full
collection over the records alive costs about 0.15 s at 10k and lands in either part). Add the memory store's dumps+load (state_scale.py measure
--persistence memory) to get the floor of the SQLite store's dumps+load.

    python bench/sqlite_floor.py --n 10000 [--repeats 5]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, md_table, median, quiet_warnings  # noqa: E402

_INSERT = ('INSERT INTO cinder_nb_resources (kind, id, data, backend, volume_id, pool_name, size_gb, version, seq) '
           'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=10000)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    import orjson

    from cinder_nb.persistence.sql import SQLPersistence
    work = tempfile.mkdtemp(prefix='cnb-bench-sqlite-floor-')
    try:
        state = os.path.join(work, 'state.json')
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'state_scale.py'), 'gen',
                        '--n', str(args.n), '--work-dir', work, '--out', state], check=True, capture_output=True)
        with open(state) as f:
            records = json.load(f)['volumes']
        t: dict[str, list[float]] = {k: [] for k in ('write_floor', 'write', 'read_floor', 'read')}
        for i in range(args.repeats):
            bare = SQLPersistence(f"sqlite:///{os.path.join(work, f'bare-{i}.db')}")
            store = SQLPersistence(f"sqlite:///{os.path.join(work, f'store-{i}.db')}")
            try:
                rows = [('volume', r['id'], orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode(), r.get('backend'),
                         r.get('volume_id'), r.get('pool_name'), r.get('size'), n + 1, n + 1)
                        for n, r in enumerate(records)]
                fresh = json.loads(json.dumps(records))     # adopt_many takes records over for good
                for part in ((('bare', 'store') if i % 2 == 0 else ('store', 'bare'))):
                    gc.collect()    # a full collection over the records alive lands in either part
                    gc.disable()    # otherwise (0.15 s at 10k): timed without it on both sides
                    if part == 'bare':
                        with bare._sqlite() as raw:
                            t0 = clock()
                            raw.execute('BEGIN IMMEDIATE')
                            raw.executemany(_INSERT, rows)
                            raw.execute('COMMIT')
                            t['write_floor'].append(clock() - t0)
                            t0 = clock()
                            [orjson.loads(d) for d, _ in raw.execute(
                                "SELECT data, version FROM cinder_nb_resources WHERE kind = 'volume' ORDER BY seq")]
                            t['read_floor'].append(clock() - t0)
                    else:
                        t0 = clock()
                        store.adopt_many(('volume', r, n + 1) for n, r in enumerate(fresh))
                        t['write'].append(clock() - t0)
                        t0 = clock()
                        store.list_versioned('volume')
                        t['read'].append(clock() - t0)
                    gc.enable()
            finally:
                bare.close()
                store.close()
        m = {k: median(v) for k, v in t.items()}
        print(f'## SQLite store against its floor, {args.n:,} volumes (load average {os.getloadavg()[0]:.1f}; '
              f'median of {args.repeats}, alternated, seconds)\n')
        print(md_table(['step', 'floor s', 'cinder_nb s', 'cinder_nb / floor'], [
            ['write: executemany + COMMIT / adopt_many', m['write_floor'], m['write'], m['write'] / m['write_floor']],
            ['read: SELECT + orjson.loads / list_versioned', m['read_floor'], m['read'], m['read'] / m['read_floor']],
            ['both', m['write_floor'] + m['read_floor'], m['write'] + m['read'],
             (m['write'] + m['read']) / (m['write_floor'] + m['read_floor'])],
        ]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
