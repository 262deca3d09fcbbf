"""volumes_df() at 1k, 10k and 100k volumes, next to the previous way of building its rows
(each object's public_record(), a redacted deep copy) in the same process.

The states are generated as in bench/state_scale.py (one real volume replicated with fresh
ids) and loaded with save=True into a memory store.

    python bench/frames_scale.py [--sizes 1000,10000,100000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, md_table, median, quiet_warnings  # noqa: E402


def measure(n: int, repeats: int, work: str) -> list:
    state = os.path.join(work, f'state-{n}.json')
    gen_dir = os.path.join(work, f'gen-{n}')
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'state_scale.py'), 'gen',
                    '--n', str(n), '--work-dir', gen_dir, '--out', state], check=True, capture_output=True)
    import cinder_nb as cnb
    from cinder_nb import _runtime, serialization
    from cinder_nb.notebook import frames
    cnb.setup('memory', state_dir=os.path.join(work, f'st-{n}'))
    lab = cnb.embedded(os.path.join(gen_dir, 'vols'), name='lab', local_file_attach_mode='file')
    with open(state) as f:
        cnb.load(f.read(), save=True)

    def previous():    # rows from every object's public_record(), as before
        objs = _runtime.get().find('volume', backend='lab')
        rows = [{k: o.public_record().get(k) for k in frames.VOLUME_COLUMNS} for o in objs]
        return frames.pd.DataFrame(rows, columns=list(frames.VOLUME_COLUMNS))

    def rows_stored():   # a dict per row from the stored records, then typed columns (before 14)
        found = _runtime.get().find_with_records('volume', backend='lab')
        rows = [{k: (r if r is not None else o.public_record()).get(k) for k in frames.VOLUME_COLUMNS}
                for o, r in found]
        df = frames.pd.DataFrame(rows, columns=list(frames.VOLUME_COLUMNS))
        for col, dtype in frames.VOLUME_COLUMNS.items():
            if dtype == frames.TIMESTAMP:
                df[col] = frames.pd.to_datetime(df[col], utc=True, format='ISO8601').astype(dtype)
            elif dtype == 'bool':
                df[col] = df[col].fillna(False).astype(bool)
            else:
                df[col] = df[col].astype(dtype)
        return df.sort_values(['created_at', 'id'], kind='stable').reset_index(drop=True)

    def floor():         # the bare minimum: parse the stored records of the memory store
        store = _runtime.get().persistence
        return [json.loads(r.text) for r in store._rows('volume', 'lab', None)]

    t_old, t_rows, t_df, t_floor = [], [], [], []
    for i in range(repeats):
        if n <= 10000 or i == 0:     # the public_record() way takes minutes at 100k: once
            t0 = clock(); previous(); t_old.append(clock() - t0)
        t0 = clock(); rows_stored(); t_rows.append(clock() - t0)
        t0 = clock(); df = frames.volumes_df(lab); t_df.append(clock() - t0)
        with serialization.gc_paused():
            t0 = clock(); floor(); t_floor.append(clock() - t0)
    assert len(df) == n
    lab.shutdown()
    return [f'{n:,}', median(t_old), median(t_rows), median(t_df), median(t_floor),
            median(t_rows) / median(t_df)]


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='1000,10000,100000')
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='cnb-bench-frames-')
    rows = [measure(int(n), args.repeats, work) for n in args.sizes.split(',')]
    print(f'## volumes_df (load average {os.getloadavg()[0]:.1f}; median of {args.repeats}, seconds)\n')
    print(md_table(['volumes', 'rows via public_record() (before 03:00)', 'a dict per row from the stored '
                    'records (before)', 'volumes_df() now (column-wise)', 'floor: json.loads of the stored '
                    'records', 'before / now'], rows))
    subprocess.run(['rm', '-rf', work])


if __name__ == '__main__':
    main()
