"""Volume OVO build before/after in one process: _cinder/ovo.py of an older revision
(``git archive REV cinder_nb``) loaded beside this checkout's, the two alternated in 9 rounds
(order flipped per round) of 300 builds each; prints the medians and the median, min and max
of the per-round new/old ratios.

Usage: python bench/ovo_ab.py --rev 780811d
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, extract_tree, median  # noqa: E402

ROUNDS, BUILDS = 9, 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rev', required=True, help='the older revision (git rev of this repository)')
    args = parser.parse_args()
    import cinder_nb as cnb
    from cinder_nb._cinder import ovo as new
    tree = extract_tree(args.rev, tempfile.mkdtemp(prefix='ovo-ab-old-'))
    spec = importlib.util.spec_from_file_location('cinder_nb._cinder.ovo_old',
                                                  os.path.join(tree, 'cinder_nb', '_cinder', 'ovo.py'))
    old = importlib.util.module_from_spec(spec)
    old.__package__ = 'cinder_nb._cinder'        # its relative imports resolve to this checkout's package
    spec.loader.exec_module(old)
    work = tempfile.mkdtemp(prefix='ovo-ab-')
    cnb.setup('memory', state_dir=os.path.join(work, 's'))
    lab = cnb.embedded(os.path.join(work, 'lib'), local_file_attach_mode='file')
    vol = lab.create_volume(1)
    snap = vol.create_snapshot()
    vrec, srec = vol.record, snap.record
    cases = {'volume_ovo (no snapshot)': lambda m: m.volume_ovo(vrec),
             'volume_ovo (1 snapshot)': lambda m: m.volume_ovo(vrec, snapshots=[srec])}
    for name, build in cases.items():
        rounds = []
        for r in range(ROUNDS):
            medians = {}
            for mod, label in ((old, 'old'), (new, 'new')) if r % 2 == 0 else ((new, 'new'), (old, 'old')):
                times = []
                for _ in range(BUILDS):
                    start = clock()
                    build(mod)
                    times.append(clock() - start)
                medians[label] = median(times)
            rounds.append(medians)
        o, n = (median(x[side] for x in rounds) * 1e6 for side in ('old', 'new'))
        ratios = sorted(x['new'] / x['old'] for x in rounds)
        print(f'{name}: old {o:.1f} us, new {n:.1f} us, new/old median of {ROUNDS} rounds '
              f'{median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})')


if __name__ == '__main__':
    main()
