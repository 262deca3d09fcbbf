"""Volume OVO build before/after in one process: _cinder/ovo.py of an old checkout
(``git archive REV cinder_nb | tar -x -C DIR``) loaded beside this checkout's, the two
alternated in 9 rounds (order flipped per round) of 300 builds each; prints the medians
and the median, min and max of the per-round new/old ratios.

Usage: python bench/ovo_ab.py DIR
"""
import sys
import os
import tempfile
import time
import statistics
import importlib.util
import cinder_nb as cnb
from cinder_nb._cinder import ovo as new
spec = importlib.util.spec_from_file_location('cinder_nb._cinder.ovo_old', os.path.join(sys.argv[1], 'cinder_nb', '_cinder', 'ovo.py'))
old = importlib.util.module_from_spec(spec); old.__package__ = 'cinder_nb._cinder'; spec.loader.exec_module(old)
w=tempfile.mkdtemp(prefix='h14ab'); cnb.setup('memory', state_dir=w+'/s'); lab=cnb.embedded(w+'/lib', local_file_attach_mode='file')
v=lab.create_volume(1); s=v.create_snapshot()
vr, sr = v.record, s.record
cases = {'volume_ovo (no snapshot)': lambda m: m.volume_ovo(vr), 'volume_ovo (1 snapshot)': lambda m: m.volume_ovo(vr, snapshots=[sr])}
for name, f in cases.items():
    rounds = []
    for r in range(9):
        t = {}
        for m, label in ((old, 'old'), (new, 'new')) if r % 2 == 0 else ((new, 'new'), (old, 'old')):
            xs = []
            for _ in range(300):
                a = time.perf_counter(); f(m); xs.append(time.perf_counter() - a)
            t[label] = statistics.median(xs)
        rounds.append(t)
    o = statistics.median(x['old'] for x in rounds) * 1e6; n = statistics.median(x['new'] for x in rounds) * 1e6
    ratios = sorted(x['new'] / x['old'] for x in rounds)
    print(f"{name}: old {o:.1f} us, new {n:.1f} us, new/old median of 9 rounds {statistics.median(ratios):.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})")
