"""dumps+load at scale, this tree against an older revision, side by side: fresh processes
alternate old and new (old, new, new, old, ...) on one generated state, and the table gives
each side's medians and the ratio new/old. The older revision is `git archive REV cinder_nb`
extracted to a temporary directory and put first on each old process's PYTHONPATH.

    python bench/state_ab.py --rev 780811d --n 100000 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, extract_tree, md_table, median  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _measure(tree: str, state: str, work: str) -> dict:
    """state_scale.py measure in a fresh process importing the cinder_nb of tree."""
    env = dict(os.environ, PYTHONPATH=tree, PYTHONWARNINGS='ignore')
    out = subprocess.run([sys.executable, os.path.join(HERE, 'state_scale.py'), 'measure',
                          '--state', state, '--work-dir', work], check=True, capture_output=True, text=True, env=env)
    start = out.stdout.index('{')
    return json.loads(out.stdout[start:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rev', required=True, help='the older revision (git rev of this repository)')
    parser.add_argument('--n', type=int, default=100000)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='cnb-bench-ab-')
    old = extract_tree(args.rev, os.path.join(work, 'old'))
    state = os.path.join(work, 'state.json')
    subprocess.run([sys.executable, os.path.join(HERE, 'state_scale.py'), 'gen', '--n', str(args.n),
                    '--work-dir', work, '--out', state], check=True, capture_output=True)
    runs: dict[str, list[dict]] = {'old': [], 'new': []}
    for i in range(args.repeats):
        for side in (('old', 'new') if i % 2 == 0 else ('new', 'old')):
            runs[side].append(_measure(old if side == 'old' else REPO, state, work))
    rows = []
    for side, rs in runs.items():
        rows.append({'side': f'{side} ({args.rev})' if side == 'old' else 'new (this tree)', 'n': args.n,
                     'runs': len(rs), 'load_s': median(r['load_s'] for r in rs),
                     'dumps_s': median(r['dumps_s'] for r in rs),
                     'total_s': median(r['load_s'] + r['dumps_s'] for r in rs),
                     'maxrss_mib': median(r['maxrss_mib'] for r in rs)})
    rows.append({'side': 'ratio new/old', 'n': args.n, 'runs': '',
                 **{k: rows[1][k] / rows[0][k] for k in ('load_s', 'dumps_s', 'total_s', 'maxrss_mib')}})
    heads = list(rows[0])
    print(md_table(heads, [[r[h] for h in heads] for r in rows]))
    print('\nper run (load+dumps s):', {s: [round(r['load_s'] + r['dumps_s'], 3) for r in rs] for s, rs in runs.items()})


if __name__ == '__main__':
    main()
