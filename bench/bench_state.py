"""Time cinder_nb.dumps() and load() of 10,000 volumes with 20,000 snapshots.

The records are made through the public API on the embedded backend (10,000 real
sparse files and 20,000 snapshot copies), then dumped and loaded into fresh
sessions on each persistence back-end. No DataFrames are involved.

    python bench/bench_state.py [--volumes 10000] [--snapshots-per-volume 2] [--postgresql URL|auto]

Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import cinder_nb as cnb
from cinder_nb import _runtime


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def libraries_side_by_side(text: str, repeats: int = 3) -> None:
    """The JSON and schema libraries on this state's document, alternating in one run."""
    import copy

    import fastjsonschema
    import jsonschema
    import orjson

    from cinder_nb import serialization
    doc = json.loads(text)
    schema = copy.deepcopy(serialization.json_schema())
    schema['$schema'] = 'http://json-schema.org/draft-07/schema#'
    compile_s, fast = timed(lambda: fastjsonschema.compile(schema))
    reference = jsonschema.validators.validator_for(serialization.json_schema())(serialization.json_schema())
    pairs = [
        ('encode the state (sorted keys)', 'json.dumps', lambda: json.dumps(doc, sort_keys=True),
         'orjson.dumps', lambda: orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()),
        ('parse the text', 'json.loads', lambda: json.loads(text), 'orjson.loads', lambda: orjson.loads(text)),
        ('schema check', 'jsonschema', lambda: next(reference.iter_errors(doc), None),
         'fastjsonschema (compiled)', lambda: fast(doc)),
    ]
    print('| step | stdlib / reference | s | fast library | s | speedup |\n|---|---|---:|---|---:|---:|')
    for step, a_name, a, b_name, b in pairs:
        ta, tb = [], []
        for _ in range(repeats if step != 'schema check' else 1):
            ta.append(timed(a)[0])
            tb.append(timed(b)[0])
        ma, mb = sorted(ta)[len(ta) // 2], sorted(tb)[len(tb) // 2]
        print(f'| {step} | {a_name} | {ma:.3f} | {b_name} | {mb:.3f} | {ma / mb:.1f}× |')
    print(f'\n(fastjsonschema compiles the schema once per process: {compile_s:.3f} s.)\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--volumes', type=int, default=10_000)
    parser.add_argument('--snapshots-per-volume', type=int, default=2)
    parser.add_argument('--libraries-only', metavar='STATE_JSON',
                        help='only compare the JSON/schema libraries on an existing state document')
    parser.add_argument('--postgresql', help="a postgresql:// URL of an empty database to include, or "
                                             "'auto' to start a throw-away server (tests/pg/server.py)")
    args = parser.parse_args()
    if args.libraries_only:
        with open(args.libraries_only) as f:
            text = f.read()
        print(f'## Libraries on {args.libraries_only} ({len(json.loads(text)["volumes"]):,} volumes, '
              f'{len(text) / 1e6:.1f} MB)\n')
        libraries_side_by_side(text)
        return
    if args.postgresql == 'auto':
        import sys
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from tests.pg.server import PostgresServer
        args.postgresql = PostgresServer.get().create_database()
    work = tempfile.mkdtemp(prefix='cnb-bench-state-')
    try:
        vols_dir = os.path.join(work, 'vols')
        _runtime.setup('memory', state_dir=os.path.join(work, 'st'))
        lab = cnb.embedded(vols_dir, name='lab', local_file_attach_mode='file')
        start = time.perf_counter()
        for i in range(args.volumes):
            vol = lab.create_volume(1, name=f'v{i}', metadata={'i': str(i)})
            for _ in range(args.snapshots_per_volume):
                vol.create_snapshot()
        create_s = time.perf_counter() - start
        n_snaps = args.volumes * args.snapshots_per_volume
        print(f'## State of {args.volumes:,} volumes and {n_snaps:,} snapshots\n')
        print('| step | seconds | per record (µs) |\n|---|---:|---:|')
        print(f'| create through the API (embedded backend, memory store) | {create_s:.2f} | '
              f'{create_s / (args.volumes + n_snaps) * 1e6:.0f} |')
        dump_s, text = timed(cnb.dumps)
        print(f'| dumps() from memory store | {dump_s:.2f} | {dump_s / (args.volumes + n_snaps) * 1e6:.1f} |')
        print(f'\nJSON size: {len(text) / 1e6:.1f} MB\n')
        libraries_side_by_side(text)

        stores = [('memory', lambda: 'memory'),
                  ('sqlite', lambda: {'path': os.path.join(work, f'bench-{time.monotonic_ns()}.db')})]
        if args.postgresql:
            stores.append(('postgresql', lambda: args.postgresql))
        print('| store | load(save=False) s | load(save=True) s | dumps() after load s |')
        print('|---|---:|---:|---:|')
        for name, config in stores:
            row = [name]
            for save in (False, True):
                _runtime.setup(config(), state_dir=os.path.join(work, 'st'))
                if save and name == 'postgresql':
                    _runtime.get().persistence.replace_all({})
                seconds, out = timed(lambda: cnb.load(text, save=save))
                assert len(out['volumes']) == args.volumes and len(out['snapshots']) == n_snaps
                row.append(f'{seconds:.2f}')
            dump2_s, text2 = timed(cnb.dumps)
            a, b = json.loads(text), json.loads(text2)
            a.pop('written_at'), b.pop('written_at')
            assert a == b, 'round trip changed the state'
            row.append(f'{dump2_s:.2f}')
            print('| ' + ' | '.join(row) + ' |')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
