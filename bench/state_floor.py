"""The floor under dumps+load and volumes_df: what the bare minimum takes on this machine,
next to cinder_nb's own calls in the same process (alternated, median of --repeats).

The bare minimum of ``load(text, save=True)`` + ``dumps()`` with the memory store is: parse the
text, encode each record into the store, decode each record back and encode the document;
of ``volumes_df()``: decode each stored record and build the typed columns. Everything else
(schema and type checks, live objects, redaction, versions) is what cinder_nb adds.

The RSS floor (peak resident memory, each row in one fresh process, cumulative): the
interpreter with cinder_nb and Cinder imported and a backend started (as state_scale.py's
measure has before its load); + the document text read and parsed (json.loads, the parser
load() uses: orjson would turn integers beyond 64 bits into floats) with the parsed records
kept, one copy; + one more copy of each record (the memory store's own, as copy_record makes
it: the store never shares a dict with a live object); + dumps()'s output (orjson's bytes and
the str decoded from them).

    python bench/state_floor.py --n 100000 [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, emit, maxrss_mib, md_table, median, quiet_warnings  # noqa: E402


#: the RSS floor's rows, cumulative (see the module docstring)
RSS_STEPS = ('imported', 'parsed', 'store_copy', 'dumps_output')
RSS_LABELS = {'imported': 'interpreter + cinder_nb + Cinder, a backend started',
              'parsed': '+ the text read and parsed, the records kept (one copy)',
              'store_copy': "+ the store's own copy of each record (copy_record)",
              'dumps_output': "+ dumps()'s output (orjson bytes and its str)"}


def rss_floor(state: str, work: str) -> dict:
    """Peak RSS (MiB) after each step of RSS_STEPS, in this (fresh) process."""
    import orjson

    import cinder_nb as cnb
    from cinder_nb.persistence.base import copy_record
    from cinder_nb.serialization import gc_paused
    out = {}
    cnb.setup('memory', state_dir=os.path.join(work, 'st-rss'))
    lab = cnb.embedded(os.path.join(work, 'vols-rss'), name='lab', local_file_attach_mode='file')
    out['imported'] = maxrss_mib()
    with gc_paused():
        with open(state) as f:
            text = f.read()
        doc = json.loads(text)
        out['parsed'] = maxrss_mib()
        copies = [copy_record(r) for r in doc['volumes']]
        out['store_copy'] = maxrss_mib()
        orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()
        out['dumps_output'] = maxrss_mib()
        del copies, doc, text
    lab.shutdown()
    return out


def main() -> None:
    quiet_warnings()
    if len(sys.argv) == 4 and sys.argv[1] == '--rss-floor':     # the child of measure_rss_floor
        print(json.dumps(rss_floor(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=100000)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--json', action='store_true', help='print the medians as JSON (for run_all.py)')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='cnb-bench-floor-')
    state = os.path.join(work, 'state.json')
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'state_scale.py'), 'gen',
                    '--n', str(args.n), '--work-dir', work, '--out', state], check=True, capture_output=True)
    rss = json.loads(subprocess.run([sys.executable, os.path.abspath(__file__), '--rss-floor', state, work],
                                    check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    import orjson

    import cinder_nb as cnb
    from cinder_nb import serialization
    from cinder_nb.notebook import volumes_df
    with open(state) as f:
        text = f.read()
    cnb.setup('memory', state_dir=os.path.join(work, 'st'))
    lab = cnb.embedded(os.path.join(work, 'vols'), name='lab', local_file_attach_mode='file')
    encoder = json.JSONEncoder(sort_keys=True, default=str)
    t: dict[str, list[float]] = {k: [] for k in ('parse', 'store', 'decode', 'encode', 'load', 'dumps',
                                                 'df_floor', 'df')}
    for _ in range(args.repeats):
        with serialization.gc_paused():
            t0 = clock(); doc = json.loads(text); t['parse'].append(clock() - t0)
            t0 = clock(); rows = [encoder.encode(r) for r in doc['volumes']]; t['store'].append(clock() - t0)
            t0 = clock(); recs = [json.loads(r) for r in rows]; t['decode'].append(clock() - t0)
            t0 = clock(); orjson.dumps(dict(doc, volumes=recs), option=orjson.OPT_SORT_KEYS)
            t['encode'].append(clock() - t0)
            t0 = clock()
            recs = [json.loads(r) for r in rows]
            cols = {c: [r.get(c) for r in recs] for c in ('id', 'name', 'size', 'status', 'created_at')}
            import pandas as pd
            pd.DataFrame({'id': pd.array(cols['id'], dtype='string'), 'size': cols['size'],
                          'created_at': pd.to_datetime(cols['created_at'], utc=True, format='ISO8601')})
            t['df_floor'].append(clock() - t0)
            del doc, rows, recs, cols
        t0 = clock(); cnb.load(text, save=True); t['load'].append(clock() - t0)
        t0 = clock(); cnb.dumps(); t['dumps'].append(clock() - t0)
        t0 = clock(); volumes_df(lab); t['df'].append(clock() - t0)
    m = {k: median(v) for k, v in t.items()}
    floor = m['parse'] + m['store'] + m['decode'] + m['encode']
    lab.shutdown()
    subprocess.run(['rm', '-rf', work])
    if args.json:
        emit({'n': args.n, 'repeats': args.repeats, 'median_s': m, 'floor_s': floor,
              'maxrss_mib': maxrss_mib(), 'rss_floor_mib': rss}, None)
        return
    print(f'## Floor of dumps+load and volumes_df, {args.n:,} volumes (load average '
          f'{os.getloadavg()[0]:.1f}; median of {args.repeats}, seconds; peak RSS {maxrss_mib():.0f} MiB)\n')
    print(md_table(['step', 'bare minimum s', 'cinder_nb s', 'cinder_nb / floor'], [
        ['parse the text (json.loads)', m['parse'], '', ''],
        ['encode each record for the store (json)', m['store'], '', ''],
        ['decode each stored record (json.loads)', m['decode'], '', ''],
        ['encode the document (orjson)', m['encode'], '', ''],
        ['dumps + load', floor, m['load'] + m['dumps'], (m['load'] + m['dumps']) / floor],
        ['volumes_df (decode + 3 typed columns)', m['df_floor'], m['df'], m['df'] / m['df_floor']],
    ]))
    print(f'\n## RSS floor of dumps+load, {args.n:,} volumes (peak RSS, one fresh process, cumulative)\n')
    print(rss_md(rss))


def rss_md(rss: dict) -> str:
    """The RSS floor as a table (rows cumulative)."""
    return md_table(['what the process holds', 'peak RSS MiB'], [[RSS_LABELS[k], rss[k]] for k in RSS_STEPS])


if __name__ == '__main__':
    main()
