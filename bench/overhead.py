"""Workload 1: library overhead per operation, side by side with raw driver calls.

One process runs two sides, whose volume and snapshot files share one directory:

* the library side: ``cinder_nb`` (or, in the cinderlib venv, ``cinderlib``) on the
  embedded LocalFileDriver: ``create_volume``, ``create_snapshot``, ``clone``,
  snapshot ``delete``, volume ``delete``;
* the raw side: a LocalFileDriver instantiated here with a Cinder Configuration,
  called directly (``create_volume(ovo)``, ...) with OVOs built by
  ``cinder_nb._cinder.volume_ovo``/``snapshot_ovo``. Its time includes building
  the OVO (a caller cannot call a driver without one); the OVO-free driver time
  is recorded too.

Before the warm-up, every striped lock name (cinder_nb's volume and snapshot delete locks, the
driver's file locks) is taken once, on both sides: tooz never removes a lock file, so creating
them is a one-time cost of a state dir (timed and reported as ``lock_files_first_use_s``), and
left in the phases it made the medians depend on N (the first use of each of 256 names per
prefix creates its file: with N=300, 6 in 10 snapshot deletes created one).

Phases run N operations each (create N volumes, snapshot each, clone each, delete
the snapshots, delete clones and volumes), so the state grows to 3N objects.
Within a phase the two sides alternate item by item (ABAB, with the order
flipped on every item) and medians are reported.

Usage: python overhead.py --lib nb|cinderlib --n 300 [--persistence memory|sqlite] [--out f.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import clock, emit, median, quiet_warnings  # noqa: E402

OPS = ('create', 'snapshot', 'clone', 'delete_snapshot', 'delete_volume')


class RawSide:
    """LocalFileDriver called directly, no Backend/Volume in between."""

    def __init__(self, path: str) -> None:
        from cinder.volume import configuration
        from oslo_config import cfg

        from cinder_nb.drivers import localfile
        group = 'rawbench'
        cfg.CONF.register_group(cfg.OptGroup(group))
        cfg.CONF.register_opts(localfile.local_file_opts, group=group)
        cfg.CONF.set_override('local_file_path', path, group=group)
        cfg.CONF.set_override('local_file_attach_mode', 'file', group=group)
        config = configuration.Configuration([], config_group=group)
        self.driver = localfile.LocalFileDriver(configuration=config, host='bench@rawbench')
        self.driver.do_setup(None)
        self.driver.check_for_setup_error()
        self.call_times: dict[str, list[float]] = {op: [] for op in OPS}

    @staticmethod
    def _vrec(size: int = 1) -> dict:
        return {'id': str(uuid.uuid4()), 'backend': 'rawbench', 'size': size, 'status': 'available'}

    def _run(self, op: str, build, call):
        """Time build()+call(obj) in total; remember call(obj) alone."""
        start = clock()
        obj = build()
        mid = clock()
        result = call(obj)
        end = clock()
        self.call_times[op].append(end - mid)
        return end - start, result

    # each returns (seconds, handle)
    def create(self):
        from cinder_nb import _cinder
        rec = self._vrec()
        t, _ = self._run('create', lambda: _cinder.volume_ovo(rec), self.driver.create_volume)
        return t, rec

    def snapshot(self, vrec):
        from cinder_nb import _cinder
        srec = {'id': str(uuid.uuid4()), 'backend': 'rawbench', 'volume_id': vrec['id'],
                'volume_size': vrec['size'], 'status': 'available'}
        t, _ = self._run('snapshot', lambda: _cinder.snapshot_ovo(srec, _cinder.volume_ovo(vrec)),
                         self.driver.create_snapshot)
        return t, (srec, vrec)

    def clone(self, vrec):
        from cinder_nb import _cinder
        new = self._vrec(vrec['size'])
        t, _ = self._run('clone', lambda: (_cinder.volume_ovo(new), _cinder.volume_ovo(vrec)),
                         lambda pair: self.driver.create_cloned_volume(*pair))
        return t, new

    def delete_snapshot(self, handle):
        from cinder_nb import _cinder
        srec, vrec = handle
        t, _ = self._run('delete_snapshot', lambda: _cinder.snapshot_ovo(srec, _cinder.volume_ovo(vrec)),
                         self.driver.delete_snapshot)
        return t, None

    def delete_volume(self, vrec):
        from cinder_nb import _cinder
        t, _ = self._run('delete_volume', lambda: _cinder.volume_ovo(vrec), self.driver.delete_volume)
        return t, None


class LibSide:
    """The library under test: Backend.create_volume, Volume.create_snapshot, ..."""

    def __init__(self, lab) -> None:
        self.lab = lab

    @staticmethod
    def _t(fn):
        start = clock()
        result = fn()
        return clock() - start, result

    def create(self):
        return self._t(lambda: self.lab.create_volume(1))

    def snapshot(self, vol):
        return self._t(vol.create_snapshot)

    def clone(self, vol):
        return self._t(vol.clone)

    def delete_snapshot(self, snap):
        return self._t(snap.delete)

    def delete_volume(self, vol):
        return self._t(vol.delete)


def make_lib(lib: str, work: str, persistence: str):
    if lib == 'nb':
        import cinder_nb as cnb
        config = 'memory' if persistence == 'memory' else f"sqlite:///{work}/state.db"
        cnb.setup(config, state_dir=os.path.join(work, 'state'))
        lab = cnb.embedded(os.path.join(work, 'lib'), local_file_attach_mode='file')
    else:
        import cinderlib as cl
        if persistence != 'memory':
            raise SystemExit('the cinderlib side runs with its default memory persistence only')
        cl.setup(file_locks_path=os.path.join(work, 'locks'), disable_logs=True)
        lab = cl.Backend('lab', volume_driver='cinder_nb.drivers.localfile.LocalFileDriver',
                         local_file_path=os.path.join(work, 'lib'), local_file_attach_mode='file')
    return LibSide(lab)


def warm_lock_files() -> float:
    """Take every striped lock name once (creating the files a fresh state dir lacks); seconds."""
    from cinder_nb import _cinder
    from cinder_nb._cinder.startup import LOCK_STRIPES
    names: list[str] = []
    for prefix in ('volume-delete', 'snapshot-delete', 'localfile'):
        mine = {_cinder.striped_lock_name(prefix, f'warm-{i}') for i in range(50 * LOCK_STRIPES)}
        assert len(mine) == LOCK_STRIPES, (prefix, len(mine))     # every stripe, whatever its format
        names += sorted(mine)
    start = clock()
    for name in names:
        with _cinder.lock(name):
            pass
    return clock() - start


def run(lib: str, n: int, persistence: str, work: str, warmup: int = 10) -> dict:
    """All phases, sides interleaved; returns medians per operation (seconds)."""
    side_a = make_lib(lib, work, persistence)
    # the raw driver keeps its files in the library's own directory: creating a file costs 8 us
    # or 160-300 us in a new directory of this machine's ext4, depending on the directory, so
    # sides in two directories of one process differed by up to 4x in the same driver call
    side_b = RawSide(os.path.join(work, 'lib'))
    sides = {'lib': side_a, 'raw': side_b}
    times: dict[str, dict[str, list[float]]] = {op: {'lib': [], 'raw': []} for op in OPS}

    def cycle(count: int, record: bool) -> None:
        handles = {name: {'vols': [], 'snaps': [], 'clones': []} for name in sides}

        def phase(op: str, sources_key: str | None, dest_key: str | None):
            for i in range(count):
                order = ('lib', 'raw') if i % 2 == 0 else ('raw', 'lib')
                for name in order:
                    h = handles[name]
                    if sources_key is None:
                        t, out = getattr(sides[name], op)()
                    else:
                        t, out = getattr(sides[name], op)(h[sources_key][i])
                    if record:
                        times[op][name].append(t)
                    if dest_key is not None:
                        h[dest_key].append(out)

        phase('create', None, 'vols')
        phase('snapshot', 'vols', 'snaps')
        phase('clone', 'vols', 'clones')
        phase('delete_snapshot', 'snaps', None)
        phase('delete_volume', 'clones', None)
        phase('delete_volume', 'vols', None)

    lock_files_s = warm_lock_files()
    cycle(warmup, record=False)
    for op in OPS:
        side_b.call_times[op].clear()
    cycle(n, record=True)
    result = {'lib': lib, 'n': n, 'persistence': persistence, 'lock_files_first_use_s': lock_files_s, 'ops': {}}
    for op in OPS:
        lib_t, raw_t = times[op]['lib'], times[op]['raw']
        result['ops'][op] = {'lib_median_s': median(lib_t), 'raw_median_s': median(raw_t),
                             'raw_call_median_s': median(side_b.call_times[op]),
                             'samples': len(lib_t)}
    return result


def main() -> None:
    quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lib', choices=('nb', 'cinderlib'), default='nb')
    parser.add_argument('--n', type=int, default=300)
    parser.add_argument('--persistence', choices=('memory', 'sqlite'), default='memory')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='overhead-', dir=args.work_dir)
    emit(run(args.lib, args.n, args.persistence, work), args.out)


if __name__ == '__main__':
    main()
