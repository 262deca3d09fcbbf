"""dumps+load at scale, this tree against an older revision, side by side: fresh processes
alternate old and new (old, new, new, old, ...) on one generated state, and the table gives
each side's medians and the ratio new/old. The older revision is `git archive REV cinder_nb`
extracted to a temporary directory and imported in place of the installed cinder_nb.

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
from _common import md_table, median  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: run state_scale.py with cinder_nb imported from the tree given first
_SIDE = '''
import importlib.util, runpy, sys
root = sys.argv[1]
spec = importlib.util.spec_from_file_location('cinder_nb', root + '/cinder_nb/__init__.py',
                                              submodule_search_locations=[root + '/cinder_nb'])
mod = importlib.util.module_from_spec(spec)
sys.modules['cinder_nb'] = mod
spec.loader.exec_module(mod)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _measure(tree: str, state: str, work: str) -> dict:
    out = subprocess.run([sys.executable, '-c', _SIDE, tree, os.path.join(HERE, 'state_scale.py'), 'measure',
                          '--state', state, '--work-dir', work], check=True, capture_output=True, text=True)
    start = out.stdout.index('{')
    return json.loads(out.stdout[start:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rev', required=True, help='the older revision (git rev of this repository)')
    parser.add_argument('--n', type=int, default=100000)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='cnb-bench-ab-')
    old = os.path.join(work, 'old')
    os.makedirs(old)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', args.rev, 'cinder_nb'], check=True, capture_output=True)
    subprocess.run(['tar', '-x', '-C', old], input=archive.stdout, check=True)
    state = os.path.join(work, 'state.json')
    subprocess.run([sys.executable, os.path.join(HERE, 'state_scale.py'), 'gen', '--n', str(args.n),
                    '--work-dir', work, '--out', state], check=True, capture_output=True)
    runs: dict[str, list[dict]] = {'old': [], 'new': []}
    for i in range(args.repeats):
        for side in (('old', 'new') if i % 2 == 0 else ('new', 'old')):
            runs[side].append(_measure(old if side == 'old' else ROOT, state, work))
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
